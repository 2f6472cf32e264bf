"""Which ways of running a function on a thread carry the caller's context variables along.

`asyncio.to_thread`, AnyIO's `to_thread.run_sync` (and so FastAPI's `def` endpoints and
dependencies) run the function in a copy of the caller's context: a request id set by a
middleware is still there. `loop.run_in_executor` does not: the function sees the variable's
default, unless you hand it a copy yourself.

Module 3's lesson includes this file. Run it with `pytest examples/threads_and_context.py`.
"""

import asyncio
import contextvars

import anyio.to_thread
import pytest

# --8<-- [start:context]
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def log_line() -> str:
    """Stands for blocking code that logs: which request id would its lines carry?"""
    return f"request_id={request_id.get()}"


@pytest.mark.asyncio
async def test_which_thread_helpers_carry_the_context() -> None:
    request_id.set("7f3a91")  # as a middleware would, for this request
    loop = asyncio.get_running_loop()

    assert await asyncio.to_thread(log_line) == "request_id=7f3a91"
    assert await anyio.to_thread.run_sync(log_line) == "request_id=7f3a91"
    assert await loop.run_in_executor(None, log_line) == "request_id=None"  # lost

    context = contextvars.copy_context()  # the fix: run it in a copy of ours
    assert await loop.run_in_executor(None, context.run, log_line) == "request_id=7f3a91"


# --8<-- [end:context]
