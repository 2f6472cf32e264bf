"""An exception nothing handled, turned into a JSON 500 by the innermost middleware: inside the
stack, so that every layer outside sees an ordinary response, and nothing reaches the server.

Module 2's lesson (section "Exception handlers") includes parts of this file. Run it with
`pytest examples/error_boundary.py`.
"""

import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("parcels")


# --8<-- [start:boundary]
class ErrorBoundary:
    """Answers a generic JSON 500 for any exception from the app inside it, and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:  # the client has a status line already: too late for a 500
                raise
            body = {"error": "internal", "message": "Something went wrong on our side."}
            await JSONResponse(body, status_code=500)(scope, receive, send)


# --8<-- [end:boundary]


class Stamp:
    """An outer layer: stamps every response that passes back out through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Stamp"] = "outer layer"
            await send(message)

        await self.app(scope, receive, send_stamped)


app = FastAPI()
app.add_middleware(ErrorBoundary)  # added first: the innermost
app.add_middleware(Stamp)


@app.get("/parcels/{parcel_id}")
async def parcel(parcel_id: int) -> dict[str, int]:
    raise KeyError(f"parcel {parcel_id} in bay 7 of depot eu-west-2b")  # a bug's details


@app.get("/parcels/{parcel_id}/history")
async def history(parcel_id: int) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        yield "collected\n"
        raise ConnectionError("the tracking database went away")

    return StreamingResponse(events(), media_type="text/plain")


# --8<-- [start:tests]
def test_the_500_passes_out_through_every_outer_layer(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(app)  # raises any exception that reaches the server: none does
    response = client.get("/parcels/7")
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "message": "Something went wrong on our side."}
    assert response.headers["X-Stamp"] == "outer layer"
    assert "eu-west-2b" not in response.text  # the details went to the log, not the client
    assert "eu-west-2b" in caplog.text


def test_once_the_response_has_started_the_error_goes_on() -> None:
    client = TestClient(app)
    with pytest.raises(ConnectionError):  # the server would close the connection
        client.get("/parcels/7/history")


# --8<-- [end:tests]
