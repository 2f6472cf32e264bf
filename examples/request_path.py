"""Which responses pass back out through your middleware, and which handlers shape them.

Routing's 404 and 405 are HTTPExceptions, answered by the exception handlers inside the
middleware stack; a handler for the HTTPException class shapes them like every other error. An
exception nobody handled becomes a 500 in Starlette's outermost layer, outside every middleware.

Module 1's lesson (section "A request's path through FastAPI") includes this file. Run it with
`pytest examples/request_path.py`.
"""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


# --8<-- [start:app]
class StampMiddleware:
    """Stamps every response that passes back out through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Stamp"] = "middleware"
            await send(message)

        await self.app(scope, receive, send_stamped)


app = FastAPI()
app.add_middleware(StampMiddleware)


@app.exception_handler(StarletteHTTPException)  # Starlette's class: routing raises that one
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error in one shape: a stable code for programs, a message for people."""
    body = {"code": f"http_{exc.status_code}", "message": exc.detail}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


@app.get("/items")
async def items() -> list[str]:
    return ["kettle"]


@app.get("/crash")
async def crash() -> None:
    raise RuntimeError("a bug")


# --8<-- [end:app]


# --8<-- [start:tests]
client = TestClient(app, raise_server_exceptions=False)  # a 500 as a client would see it


def test_routing_errors_are_http_exceptions_that_handlers_shape() -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"code": "http_404", "message": "Not Found"}
    wrong_method = client.post("/items")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"code": "http_405", "message": "Method Not Allowed"}
    assert wrong_method.headers["Allow"] == "GET"


def test_handled_errors_pass_out_through_the_middleware() -> None:
    assert client.get("/items").headers["X-Stamp"] == "middleware"
    assert client.get("/nowhere").headers["X-Stamp"] == "middleware"


def test_an_unhandled_exception_skips_every_middleware() -> None:
    response = client.get("/crash")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"  # plain text, from ServerErrorMiddleware
    assert "X-Stamp" not in response.headers


# --8<-- [end:tests]
