"""Rate limits per authenticated key: counted after the key is checked, never by what a header says.

The service is examples/api_keys.py's, and the counter is Module 2's fixed window
(examples/rate_limit_windows.py). Limited in a middleware by the raw header, as in Module 2, a
client escapes the limit with a new made-up key per request. Limited by a dependency that runs
after authentication, each real key has its own budget and made-up keys count against none.
Module 5's lesson (section "Rate limits by identity") includes parts of this file. Run it with
`pytest examples/identity_rate_limit.py`.
"""

import math
import secrets
from typing import Annotated

import api_keys
import pytest
from api_keys import ApiKey, KeyStore, authenticated_key, keys_router, readings_router
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from rate_limit_windows import FakeClock, FixedWindowLimiter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send


# --8<-- [start:by_header]
class LimitByHeader:
    """The mistake, kept for contrast: Module 2's limiter, keyed by the X-Metrics-Key header as
    sent, or by the address when there is none, before anything has checked the key."""

    def __init__(self, app: ASGIApp, limiter: FixedWindowLimiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            claimed = Headers(scope=scope).get("X-Metrics-Key")
            client = f"key:{claimed}" if claimed else f"ip:{scope['client'][0]}"
            if self.limiter.hit(client) is not None:
                await JSONResponse({"detail": "Too many requests"}, 429)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --8<-- [end:by_header]


# --8<-- [start:per_key]
class PerKeyLimit:
    """A dependency: at most `limiter.limit` requests per key and window. It depends on the
    authenticated key, so a missing or made-up key is refused (401) before anything is counted."""

    def __init__(self, limiter: FixedWindowLimiter) -> None:
        self.limiter = limiter

    def __call__(self, key: Annotated[ApiKey, Depends(authenticated_key)]) -> ApiKey:
        wait = self.limiter.hit(key.key_id)  # the key's id: known only once the key is checked
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "Too many requests for this key",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return key


def create_app(operator_key: str, limit: PerKeyLimit) -> FastAPI:
    """examples/api_keys.py's service, with a limit on every key's readings."""
    app = FastAPI(title="Metrics")
    app.state.keys, app.state.readings, app.state.operator_key = KeyStore(), [], operator_key
    app.include_router(keys_router)
    app.include_router(readings_router, dependencies=[Depends(limit)])
    return app


# --8<-- [end:per_key]

OPERATOR_KEY = "mtr_" + secrets.token_urlsafe(32)
CO2 = {"sensor": "co2", "value": 612.0}


def limiter() -> FixedWindowLimiter:
    """Three requests a minute, on a clock that stands still: no test straddles two windows."""
    return FixedWindowLimiter(limit=3, window=60, clock=FakeClock(10.0))


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(OPERATOR_KEY, PerKeyLimit(limiter())))


def new_device(client: TestClient, owner: str) -> dict[str, str]:
    body = {"owner": owner, "scopes": ["readings:write"]}
    issued = client.post("/keys", json=body, headers={"X-Metrics-Key": OPERATOR_KEY}).json()
    return {"X-Metrics-Key": issued["key"]}


def made_up_key() -> dict[str, str]:
    return {"X-Metrics-Key": "mtr_" + secrets.token_urlsafe(32)}


# --8<-- [start:header_tests]
def test_a_limit_keyed_by_the_raw_header_never_stops_a_key_guesser() -> None:
    client = TestClient(LimitByHeader(api_keys.create_app(OPERATOR_KEY), limiter()))
    without_key = [client.post("/readings", json=CO2).status_code for _ in range(4)]
    assert without_key == [401, 401, 401, 429]  # by address: stopped after three
    guesses = [client.post("/readings", json=CO2, headers=made_up_key()) for _ in range(20)]
    assert {guess.status_code for guess in guesses} == {401}  # twenty guesses, and never a 429


# --8<-- [end:header_tests]


# --8<-- [start:per_key_tests]
def test_each_key_has_its_own_budget(client: TestClient) -> None:
    sensor, other = new_device(client, "sensor-hall-3"), new_device(client, "sensor-roof")
    sent = [client.post("/readings", json=CO2, headers=sensor) for _ in range(4)]
    assert [response.status_code for response in sent] == [201, 201, 201, 429]
    assert sent[-1].headers["Retry-After"] == "50"  # the window ends at 60 s; the clock says 10
    assert client.post("/readings", json=CO2, headers=other).status_code == 201


def test_made_up_keys_are_refused_and_count_against_no_real_key(client: TestClient) -> None:
    sensor = new_device(client, "sensor-hall-3")
    guesses = [client.post("/readings", json=CO2, headers=made_up_key()) for _ in range(20)]
    assert {guess.status_code for guess in guesses} == {401}
    sent = [client.post("/readings", json=CO2, headers=sensor).status_code for _ in range(3)]
    assert sent == [201, 201, 201]  # the real key still has its whole budget


# --8<-- [end:per_key_tests]


def test_only_real_keys_take_memory_in_the_limiter() -> None:
    limit = PerKeyLimit(limiter())
    client = TestClient(create_app(OPERATOR_KEY, limit))
    sensor = new_device(client, "sensor-hall-3")
    for _ in range(5):
        client.post("/readings", json=CO2, headers=made_up_key())
    client.post("/readings", json=CO2, headers=sensor)
    [key_id] = limit.limiter.counts
    assert client.app.state.keys.find(sensor["X-Metrics-Key"]).key_id == key_id
