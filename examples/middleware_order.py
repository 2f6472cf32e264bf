"""Which middleware runs first? The one added last: proof in one test.

Module 2's lesson (section "The ordering trap") includes this file. Run it with
`pytest examples/middleware_order.py`.
"""

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

# --8<-- [start:order]
seen: list[str] = []


class Layer:
    """Notes when a request comes in through it, and when the response goes back out."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(f"{self.name} in")
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            seen.append(f"{self.name} out")


app = FastAPI()


@app.get("/")
async def endpoint() -> dict[str, str]:
    seen.append("endpoint")
    return {}


app.add_middleware(Layer, name="A")  # added first
app.add_middleware(Layer, name="B")
app.add_middleware(Layer, name="C")  # added last


def test_the_last_added_is_the_outermost() -> None:
    seen.clear()
    TestClient(app).get("/")
    assert seen == ["C in", "B in", "A in", "endpoint", "A out", "B out", "C out"]


# --8<-- [end:order]


# --8<-- [start:answer]
class Maintenance:
    """Answers 503 itself while `closed` is set: the layers inside never see the request."""

    closed = False

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not Maintenance.closed:
            await self.app(scope, receive, send)
            return
        seen.append("Maintenance answers")
        response = JSONResponse(
            {"detail": "Down for maintenance"}, status_code=503, headers={"Retry-After": "120"}
        )
        await response(scope, receive, send)


gated = FastAPI()
gated.add_api_route("/", endpoint)
gated.add_middleware(Layer, name="inner")
gated.add_middleware(Maintenance)
gated.add_middleware(Layer, name="outer")


def test_a_response_made_by_a_layer_passes_only_through_the_layers_outside() -> None:
    Maintenance.closed = True
    seen.clear()
    try:
        response = TestClient(gated).get("/")
    finally:
        Maintenance.closed = False
    assert (response.status_code, response.headers["Retry-After"]) == (503, "120")
    assert seen == ["outer in", "Maintenance answers", "outer out"]


# --8<-- [end:answer]
