"""The request being served, for whatever code runs on its behalf.

A ContextVar follows the work, not the thread: each asyncio task starts with a copy of the context
it was created in, `asyncio.to_thread` runs its function in a copy of the caller's, and
Starlette runs background tasks inside the request's. So a value set by the middleware is there
in services, in threads and in background tasks, and never in another request's code.
"""

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
