"""Exchange rates for a travel site: one shared client, or a client per request.

The shared `httpx.AsyncClient` is created in the lifespan with `httpx.Limits`, and keeps its
connections to the rates service open between requests. The per-request client opens a new TCP
connection for every request and closes it at the end. The tests count the connections that the
rates service saw; benchmarks/resilience.py measures what the difference costs.

Module 6's lesson (section "One shared client") includes parts of this file. Run its tests with
`pytest examples/shared_client.py`.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from travel_upstreams import Supplier, running

# --8<-- [start:limits]
RATES_TIMEOUT = httpx.Timeout(2.0, connect=0.5, pool=1.0)
RATES_LIMITS = httpx.Limits(
    max_connections=10,  # at most 10 calls in flight; the 11th waits for a free connection
    max_keepalive_connections=10,  # idle ones kept open: as many, or a burst churns connections
    keepalive_expiry=30,  # seconds an idle connection is kept: under the upstream's own idle limit
)
# --8<-- [end:limits]


def make_app(rates_url: str) -> FastAPI:
    # --8<-- [start:shared]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
        async with httpx.AsyncClient(
            base_url=rates_url, timeout=RATES_TIMEOUT, limits=RATES_LIMITS
        ) as rates:
            yield {"rates": rates}  # closed, with its connections, when the app stops

    app = FastAPI(lifespan=lifespan)

    @app.get("/rates/{currency}")
    async def rate(currency: str, request: Request) -> dict:
        response = await request.state.rates.get(f"/rates/{currency}")
        response.raise_for_status()
        return response.json()

    # --8<-- [end:shared]

    # --8<-- [start:per_request]
    @app.get("/rates-per-request/{currency}")  # the mistake, kept for contrast
    async def rate_per_request(currency: str) -> dict:
        async with httpx.AsyncClient(base_url=rates_url, timeout=RATES_TIMEOUT) as rates:
            response = await rates.get(f"/rates/{currency}")  # a new connection, every time
        response.raise_for_status()
        return response.json()

    # --8<-- [end:per_request]
    return app


@asynccontextmanager
async def rates_app(supplier: Supplier) -> AsyncIterator[httpx.AsyncClient]:
    with running(supplier) as url:
        async with LifespanManager(make_app(url)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://travel") as client:
                yield client


@pytest.fixture
def supplier() -> Supplier:
    supplier = Supplier()
    supplier.route("/rates/EUR", delay=0.05, body={"currency": "EUR", "per_usd": 0.92})
    return supplier


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_the_shared_client_reuses_one_connection(supplier) -> None:
    async with rates_app(supplier) as travel:
        for _ in range(10):
            assert (await travel.get("/rates/EUR")).json()["per_usd"] == 0.92
    assert len(supplier.calls) == 10 and supplier.connections == 1


@pytest.mark.asyncio
async def test_a_client_per_request_opens_a_connection_per_request(supplier) -> None:
    async with rates_app(supplier) as travel:
        for _ in range(10):
            assert (await travel.get("/rates-per-request/EUR")).status_code == 200
    assert len(supplier.calls) == 10 and supplier.connections == 10


@pytest.mark.asyncio
async def test_the_limits_cap_connections_under_a_burst(supplier) -> None:
    async with rates_app(supplier) as travel:
        burst = await asyncio.gather(*(travel.get("/rates/EUR") for _ in range(30)))
    assert all(response.status_code == 200 for response in burst)
    assert supplier.peak <= 10 and supplier.connections <= 10  # 30 calls, on 10 connections


@pytest.mark.asyncio
async def test_fewer_keepalive_than_connections_churns_them_under_a_burst(supplier) -> None:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=5)
    with running(supplier) as url:
        async with httpx.AsyncClient(base_url=url, limits=limits) as rates:
            await asyncio.gather(*(rates.get("/rates/EUR") for _ in range(30)))
    assert supplier.peak <= 10 and supplier.connections > 10  # closed once idle, then reopened


# --8<-- [end:tests]
