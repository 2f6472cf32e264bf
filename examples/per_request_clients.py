"""Where an HTTP client is created decides what every request pays for it.

Building an `httpx.AsyncClient` (or an `anthropic.AsyncAnthropic`, which builds one) loads a
bundle of CA certificates: milliseconds of CPU. Three places to do it: once, in the lifespan; per
request, in a plain `def` dependency, which FastAPI runs in its thread pool; per request, in an
`async def` dependency, on the event loop itself. benchmarks/per_request_clients.py measures the
three on a real server.

Module 1's lesson (section "Why per-request clients are a performance bug") includes this file.
Run its tests with `pytest examples/per_request_clients.py`.
"""

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient


class Client(httpx.AsyncClient):
    """An httpx.AsyncClient that counts how many were built."""

    built = 0

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        Client.built += 1


# --8<-- [start:variants]
async def shared(request: Request) -> httpx.AsyncClient:
    """The one client the lifespan built, for every request."""
    return request.state.http


def per_request_in_a_thread() -> httpx.AsyncClient:
    """A new client per request, built in a plain `def`: on a worker thread."""
    return Client()


async def per_request_on_the_loop() -> httpx.AsyncClient:
    """A new client per request, built in an `async def`: on the event loop, which waits."""
    return Client()


# --8<-- [end:variants]
VARIANTS: dict[str, Callable[..., Any]] = {
    "shared": shared,
    "thread": per_request_in_a_thread,
    "loop": per_request_on_the_loop,
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with Client() as http:
        yield {"http": http}


def make_app(variant: str) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    ClientDep = Annotated[httpx.AsyncClient, Depends(VARIANTS[variant])]

    @app.get("/client")
    async def which_client(client: ClientDep) -> dict[str, int]:
        return {"id": id(client)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve() -> FastAPI:
    """For `uvicorn per_request_clients:serve --factory`, the variant in CLIENT_VARIANT."""
    return make_app(os.environ["CLIENT_VARIANT"])


def test_the_shared_client_is_built_once() -> None:
    Client.built = 0
    with TestClient(make_app("shared")) as client:
        ids = {client.get("/client").json()["id"] for _ in range(5)}
    assert Client.built == 1 and len(ids) == 1


def test_per_request_dependencies_build_a_client_for_every_request() -> None:
    for variant in ("thread", "loop"):
        Client.built = 0
        with TestClient(make_app(variant)) as client:
            for _ in range(5):
                client.get("/client")
        assert Client.built == 1 + 5, variant  # the lifespan's, and one per request
