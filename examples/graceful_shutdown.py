"""What uvicorn does on SIGTERM, on a real server: it stops accepting, lets the requests in
flight finish, their background tasks included, then runs the lifespan's shutdown. Unless its
grace period runs out first: then the unfinished work is cancelled.

Modules 1 and 3 include parts of this file. Run it with `pytest examples/graceful_shutdown.py`:
each test starts the app below under uvicorn, as a deployment would.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, status
from fastapi.testclient import TestClient

# --8<-- [start:app]
RECEIPT_SECONDS = float(os.environ.get("RECEIPT_SECONDS", "2"))
"""How long sending a receipt takes, after the order's response has gone."""


async def send_receipt(order_id: int) -> None:
    await asyncio.sleep(RECEIPT_SECONDS)  # stands for a call to a mail service
    print(f"receipt sent for order {order_id}", flush=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    print("lifespan shutdown ran", flush=True)


app = FastAPI(lifespan=lifespan)


@app.post("/orders", status_code=status.HTTP_201_CREATED)
async def place_order(background_tasks: BackgroundTasks) -> dict[str, int]:
    background_tasks.add_task(send_receipt, 42)
    return {"order_id": 42}


# --8<-- [end:app]


# --8<-- [start:fire-and-forget]
running: set[asyncio.Task[None]] = set()  # a reference, or the task may be garbage-collected


@app.post("/orders/fire-and-forget", status_code=status.HTTP_201_CREATED)
async def place_order_and_forget() -> dict[str, int]:
    task = asyncio.create_task(send_receipt(43))  # belongs to no request: uvicorn never waits
    running.add(task)
    task.add_done_callback(running.discard)
    return {"order_id": 43}


# --8<-- [end:fire-and-forget]


@dataclass
class Server:
    url: str
    lines: list[str] = field(default_factory=list)
    """What the server printed after it started: filled in once it has stopped."""


@contextmanager
def serving(*options: str) -> Iterator[Server]:
    """This file's app under uvicorn on a free port. Leaving the block sends SIGTERM, as a
    deployment does, and waits for the server to exit; a server left behind is killed."""
    command = [sys.executable, "-m", "uvicorn", "graceful_shutdown:app", "--port", "0", *options]
    process = subprocess.Popen(
        command,
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in process.stdout:  # uvicorn names its port once it listens
            if match := re.search(r"Uvicorn running on (http://\S+)", line):
                break
        else:
            raise RuntimeError(f"uvicorn did not start: exit status {process.wait()}")
        server = Server(match[1])
        yield server
        process.send_signal(signal.SIGTERM)
        server.lines = process.communicate(timeout=30)[0].splitlines()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# --8<-- [start:tests]
def test_sigterm_waits_for_background_work_then_runs_the_lifespan_shutdown() -> None:
    with serving() as server:
        began = time.monotonic()
        response = httpx.post(f"{server.url}/orders")
        answered = time.monotonic() - began
    # Leaving the block sent SIGTERM at once, while the receipt was still being sent.
    assert response.status_code == 201
    assert answered < RECEIPT_SECONDS  # the response did not wait for the background work
    receipt = server.lines.index("receipt sent for order 42")  # the server waited for it...
    assert server.lines.index("lifespan shutdown ran") > receipt  # ...then shut the app down


def test_work_still_running_when_the_grace_period_ends_is_cancelled() -> None:
    with serving("--timeout-graceful-shutdown", "1") as server:  # shorter than RECEIPT_SECONDS
        assert httpx.post(f"{server.url}/orders").status_code == 201

    assert "receipt sent for order 42" not in server.lines  # lost
    assert any("timeout graceful shutdown exceeded" in line for line in server.lines)
    assert "lifespan shutdown ran" in server.lines


# --8<-- [end:tests]


# --8<-- [start:test-fire-and-forget]
def test_a_task_of_no_request_is_dropped_at_shutdown() -> None:
    with serving() as server:
        assert httpx.post(f"{server.url}/orders/fire-and-forget").status_code == 201

    assert "receipt sent for order 43" not in server.lines  # cancelled when the loop closed
    assert "lifespan shutdown ran" in server.lines


# --8<-- [end:test-fire-and-forget]


# --8<-- [start:testclient]
def test_testclient_returns_only_after_the_background_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(globals(), "RECEIPT_SECONDS", 0.1)  # send_receipt reads it when it runs
    response = TestClient(app).post("/orders")
    assert response.status_code == 201
    assert "receipt sent for order 42" in capsys.readouterr().out  # already: it waited


# --8<-- [end:testclient]
