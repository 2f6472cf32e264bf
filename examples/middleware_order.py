"""Which middleware runs first? The one added last: proof in one test.

Module 2's lesson (section "The ordering trap") includes this file. Run it with
`pytest examples/middleware_order.py`.
"""

from fastapi import FastAPI
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
