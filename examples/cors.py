"""What CORSMiddleware answers, for a listed origin and for any other, and what still runs.

Module 2's lesson (page "CORS") includes parts of this file. Run it with `pytest examples/cors.py`.
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.testclient import TestClient

# --8<-- [start:app]
app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://dashboard.example.com"],  # exact origins: scheme, host and port
    allow_methods=["GET", "POST"],
    allow_headers=["Authorization"],  # request headers a page's script may send
    expose_headers=["X-Total-Count"],  # response headers it may read
)
orders_placed: list[str] = []


@app.get("/orders")
async def orders() -> list[str]:
    return orders_placed


@app.post("/orders")
async def place_order() -> dict[str, int]:
    orders_placed.append("order")
    return {"orders": len(orders_placed)}


# --8<-- [end:app]

client = TestClient(app)
LISTED = {"Origin": "https://dashboard.example.com"}
OTHER = {"Origin": "https://evil.example"}


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


# --8<-- [start:tests]
def test_a_listed_origin_may_read_the_response() -> None:
    response = client.get("/orders", headers=LISTED)
    assert cors_headers(response) == {
        "access-control-allow-origin": "https://dashboard.example.com",
        "access-control-expose-headers": "X-Total-Count",
    }


def test_another_origin_lacks_only_allow_origin() -> None:
    response = client.get("/orders", headers=OTHER)
    assert response.status_code == 200  # answered: the browser is the one that blocks
    assert cors_headers(response) == {"access-control-expose-headers": "X-Total-Count"}
    assert response.headers["Vary"] == "Origin"


def test_a_blocked_simple_request_still_runs_on_the_server() -> None:
    orders_placed.clear()
    client.post("/orders", headers=OTHER)  # a form-like POST: no preflight
    assert orders_placed == ["order"]  # the browser hides the answer; the order is placed


def test_a_preflight_is_refused_before_the_endpoint() -> None:
    orders_placed.clear()
    preflight = {**OTHER, "Access-Control-Request-Method": "POST"}
    response = client.options("/orders", headers=preflight)
    assert (response.status_code, response.text) == (400, "Disallowed CORS origin")
    assert "access-control-allow-origin" not in response.headers
    assert orders_placed == []  # and the browser never sends the real request
    allowed = client.options("/orders", headers={**preflight, **LISTED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://dashboard.example.com"


# --8<-- [end:tests]


# --8<-- [start:wildcard]
def test_a_wildcard_with_credentials_lets_every_origin_in() -> None:
    careless = FastAPI()
    careless.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True)
    logged_in = {**OTHER, "Cookie": "session=a-users-session"}  # the browser sends it along
    response = TestClient(careless).get("/", headers=logged_in)
    assert response.headers["access-control-allow-origin"] == "https://evil.example"
    assert response.headers["access-control-allow-credentials"] == "true"


# --8<-- [end:wildcard]
