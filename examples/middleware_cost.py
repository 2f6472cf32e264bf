"""The same small middleware written twice: with BaseHTTPMiddleware, and as pure ASGI.

Module 2's lesson (section "Two ways to write middleware") includes parts of this file, and
benchmarks/middleware_cost.py measures what each costs per request. Run the tests with
`pytest examples/middleware_cost.py`.
"""

from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from starlette.datastructures import MutableHeaders
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp, Message, Receive, Scope, Send


# --8<-- [start:base]
class ServedByBase(BaseHTTPMiddleware):
    """Adds one response header. Starlette builds a Request and a Response around the app."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["X-Served-By"] = "base"
        return response


# --8<-- [end:base]


# --8<-- [start:pure]
class ServedByPure:
    """The same header, added to the ASGI message that starts the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Served-By"] = "pure"
            await send(message)

        await self.app(scope, receive, send_with_header)


# --8<-- [end:pure]


def make_app(middleware: type | None = None, layers: int = 1) -> FastAPI:
    """One endpoint, wrapped in `layers` copies of `middleware` (or none)."""
    app = FastAPI()

    @app.get("/items")
    async def items() -> list[dict[str, int]]:
        return [{"id": 1}, {"id": 2}]

    for _ in range(layers if middleware else 0):
        app.add_middleware(middleware)
    return app


bare = make_app()
with_base = make_app(ServedByBase)
with_pure = make_app(ServedByPure)


def test_both_add_the_header_and_leave_the_body_alone() -> None:
    answers = {}
    for name, app in [("bare", bare), ("base", with_base), ("pure", with_pure)]:
        with TestClient(app) as client:
            answers[name] = client.get("/items")
    assert answers["base"].headers["X-Served-By"] == "base"
    assert answers["pure"].headers["X-Served-By"] == "pure"
    assert "X-Served-By" not in answers["bare"].headers
    assert answers["base"].json() == answers["pure"].json() == answers["bare"].json()


def test_pure_middleware_passes_lifespan_through() -> None:
    """`with TestClient` sends the lifespan messages: a pure middleware must let them by."""
    with TestClient(make_app(ServedByPure, layers=3)) as client:
        assert client.get("/items").headers["X-Served-By"] == "pure"
