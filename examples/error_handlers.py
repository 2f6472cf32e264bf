"""Exception handlers: a domain error becomes a 4xx with a code, anything else a generic 500.

Module 2's lesson (section "Exception handlers") includes parts of this file. Run it with
`pytest examples/error_handlers.py`.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


# --8<-- [start:handlers]
class ItemNotFound(LookupError):
    """A domain error: raised by the code that knows the rules, mapped to HTTP in one place."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"no item {item_id}")
        self.item_id = item_id


app = FastAPI()


@app.exception_handler(ItemNotFound)
async def item_not_found(request: Request, exc: ItemNotFound) -> JSONResponse:
    """The client's mistake: say what is wrong, with a code that programs can branch on."""
    return JSONResponse(
        {"detail": f"No item with id {exc.item_id}", "code": "item_not_found"}, status_code=404
    )


@app.exception_handler(Exception)
async def unhandled(request: Request, exc: Exception) -> JSONResponse:
    """Our mistake: every detail to the logs, nothing but an apology to the client."""
    logger.error("unhandled %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


# --8<-- [end:handlers]


class Tagged:
    """A middleware that tags every response that passes back out through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Tagged"] = "yes"
            await send(message)

        await self.app(scope, receive, send_tagged)


app.add_middleware(Tagged)


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    if item_id != 1:
        raise ItemNotFound(item_id)
    return {"id": 1}


@app.get("/boom")
async def boom() -> dict[str, int]:
    raise RuntimeError("connection to db-primary.internal:5432 refused")


# --8<-- [start:tests]
client = TestClient(app, raise_server_exceptions=False)  # a 500 as a client sees it


def test_a_domain_error_is_a_404_with_a_code() -> None:
    response = client.get("/items/7")
    assert response.status_code == 404
    assert response.json() == {"detail": "No item with id 7", "code": "item_not_found"}


def test_invalid_input_is_a_422_from_fastapi() -> None:
    response = client.get("/items/seven")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_anything_else_is_a_generic_500() -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}


def test_the_500_handler_runs_outside_every_middleware() -> None:
    assert client.get("/items/7").headers["X-Tagged"] == "yes"
    assert "X-Tagged" not in client.get("/boom").headers


# --8<-- [end:tests]
