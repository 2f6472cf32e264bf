"""Three ways to wait inside an endpoint, and what each does to the other requests.

A geocoding service with two clients: a legacy SDK whose calls block (`time.sleep` stands for
its network wait) and an asynchronous one. Each endpoint notes how many lookups are waiting at
once: requests served together overlap, requests served in single file never do.

Module 3's lesson includes parts of this file. Run it with `pytest examples/blocking_calls.py`.
"""

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request

LOOKUP_SECONDS = float(os.environ.get("LOOKUP_SECONDS", "0.3"))
"""How long one lookup waits: short for the tests, longer in benchmarks/blocking_calls.py."""


class Overlap:
    """How many lookups were waiting at the same moment, at most."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # lookups may run on several threads
        self.now = self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.now -= 1


overlap = Overlap()


# --8<-- [start:clients]
def legacy_geocode(address: str) -> tuple[float, float]:
    """The legacy SDK: its call blocks the thread that makes it until the answer arrives."""
    with overlap:
        time.sleep(LOOKUP_SECONDS)
    return (48.8566, 2.3522)


async def geocode(address: str) -> tuple[float, float]:
    """The asynchronous client: while it waits, the event loop runs other requests."""
    with overlap:
        await asyncio.sleep(LOOKUP_SECONDS)
    return (48.8566, 2.3522)


# --8<-- [end:clients]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, ThreadPoolExecutor]]:
    with ThreadPoolExecutor(max_workers=1) as one_thread:  # shut down after the last request
        yield {"one_thread": one_thread}


app = FastAPI(lifespan=lifespan)


# --8<-- [start:blocking]
@app.get("/blocking")
async def blocking(address: str) -> tuple[float, float]:
    return legacy_geocode(address)  # blocks the event loop: every request on it waits


# --8<-- [end:blocking]


# --8<-- [start:awaiting]
@app.get("/awaiting")
async def awaiting(address: str) -> tuple[float, float]:
    return await geocode(address)


# --8<-- [end:awaiting]


# --8<-- [start:offloaded]
@app.get("/offloaded")
async def offloaded(address: str) -> tuple[float, float]:
    return await asyncio.to_thread(legacy_geocode, address)  # the function, then its arguments


@app.get("/plain-def")
def plain_def(address: str) -> tuple[float, float]:
    return legacy_geocode(address)  # FastAPI runs a `def` endpoint in its thread pool


# --8<-- [end:offloaded]


# --8<-- [start:pool]
@app.get("/offloaded-to-one-thread")
async def offloaded_to_one_thread(request: Request, address: str) -> tuple[float, float]:
    loop = asyncio.get_running_loop()  # the loop running this coroutine
    pool = request.state.one_thread  # an executor of our own, from the lifespan
    return await loop.run_in_executor(pool, legacy_geocode, address)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


# --8<-- [end:pool]


async def burst(client: httpx.AsyncClient, path: str, requests: int = 3) -> int:
    """Send `requests` at once; how many lookups overlapped at most."""
    overlap.most = 0
    answers = await asyncio.gather(
        *(client.get(path, params={"address": "Paris"}) for _ in range(requests))
    )
    assert all(answer.status_code == 200 for answer in answers)
    return overlap.most


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_a_blocking_call_serves_requests_in_single_file(client: httpx.AsyncClient) -> None:
    assert await burst(client, "/blocking") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/awaiting", "/offloaded", "/plain-def"])
async def test_awaiting_or_a_thread_serves_them_together(
    client: httpx.AsyncClient, path: str
) -> None:
    assert await burst(client, path) == 3


@pytest.mark.asyncio
async def test_a_pool_of_one_thread_queues_the_calls_not_the_loop(
    client: httpx.AsyncClient,
) -> None:
    overlap.most = 0
    queued = asyncio.gather(*(client.get("/offloaded-to-one-thread?address=x") for _ in range(3)))
    health = await client.get("/health")  # sent while three lookups wait for one thread
    assert health.status_code == 200 and not queued.done()  # the loop answered meanwhile
    await queued
    assert overlap.most == 1


# --8<-- [end:tests]
