"""A dependency with `yield`: set up before the endpoint, clean up after the response, even
when the endpoint raised; or, with `scope="function"`, before the response goes out.

Module 1's lesson (section "Dependencies") includes this file. Run it with
`pytest examples/yield_dependencies.py`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

events: list[str] = []  # what happened, in order, for the tests to read


# --8<-- [start:pool]
class Pool:
    """Stands for a database connection pool: created once, lent out per request."""

    def __init__(self, size: int) -> None:
        self.free = [f"connection-{n}" for n in range(size)]

    def take(self) -> str:
        return self.free.pop()

    def give_back(self, connection: str) -> None:
        self.free.append(connection)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Pool]]:
    yield {"pool": Pool(size=2)}


async def get_connection(request: Request) -> AsyncIterator[str]:
    """One connection per request, always given back: the `finally` runs even if the endpoint
    raised, and only after the response has been sent."""
    pool: Pool = request.state.pool
    connection = pool.take()
    events.append("connection taken")
    try:
        yield connection
    finally:
        pool.give_back(connection)
        events.append("connection given back")


ConnectionDep = Annotated[str, Depends(get_connection)]
app = FastAPI(lifespan=lifespan)


@app.get("/orders")
async def orders(connection: ConnectionDep) -> dict[str, str]:
    events.append("endpoint ran")
    return {"read with": connection}


@app.get("/orders/broken")
async def broken(connection: ConnectionDep) -> None:
    events.append("endpoint ran")
    raise RuntimeError("the query failed")


@app.get("/orders/quick")
async def quick(
    connection: Annotated[str, Depends(get_connection, scope="function")],
) -> dict[str, str]:
    events.append("endpoint ran")
    return {"read with": connection}


# --8<-- [end:pool]


class RecordResponseSent:
    """Notes when the last part of the response body has been handed to the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_and_record(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                events.append("response sent")

        await self.app(scope, receive, send_and_record)


app.add_middleware(RecordResponseSent)


# --8<-- [start:tests]
def test_cleanup_runs_after_the_response_is_sent() -> None:
    with TestClient(app) as client:
        events.clear()
        assert client.get("/orders").status_code == 200
        assert events == [
            "connection taken", "endpoint ran", "response sent", "connection given back"
        ]  # fmt: skip


def test_cleanup_runs_when_the_endpoint_raises() -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        events.clear()
        assert client.get("/orders/broken").status_code == 500
        assert events == ["connection taken", "endpoint ran", "connection given back"]
        assert len(client.app_state["pool"].free) == 2  # nothing leaked from the pool


def test_scope_function_cleans_up_before_the_response() -> None:
    with TestClient(app) as client:
        events.clear()
        assert client.get("/orders/quick").status_code == 200
        assert events == [
            "connection taken", "endpoint ran", "connection given back", "response sent"
        ]  # fmt: skip


# --8<-- [end:tests]
