"""Geocoding a batch of addresses without exceeding the geocoder's own limit.

The geocoding service allows 4 requests in flight per customer and answers 429 beyond that.
`POST /geocode` takes up to 50 addresses and looks them up concurrently, never more than
MAX_IN_FLIGHT at once across all requests: an `asyncio.Semaphore` created in the lifespan.
The tests also show the two ways to get it wrong: no cap at all, and a cap through the connection
pool alone, whose pool timeout then fails the calls that queue.

Module 6's lesson (section "Cap what is in flight") includes parts of this file. Run its tests
with `pytest examples/geocode_batch.py`.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Body, FastAPI, Request
from pydantic import BaseModel
from travel_upstreams import Supplier, running

MAX_IN_FLIGHT = 4  # the geocoder's limit per customer: the whole process shares it


class Point(BaseModel):
    lat: float
    lon: float


async def geocode(client: httpx.AsyncClient, address: str) -> Point:
    response = await client.get("/geocode", params={"address": address})
    response.raise_for_status()
    return Point.model_validate(response.json())


# --8<-- [start:capped]
async def geocode_all(
    client: httpx.AsyncClient, addresses: list[str], in_flight: asyncio.Semaphore
) -> list[Point]:
    """Every address at once, but no more than the semaphore allows calling the geocoder."""

    async def one(address: str) -> Point:
        async with in_flight:  # waits here for a free place; gives it back however the call ends
            return await geocode(client, address)

    return await asyncio.gather(*(one(address) for address in addresses))


# --8<-- [end:capped]


def make_app(geocoder_url: str) -> FastAPI:
    # --8<-- [start:lifespan]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict]:
        timeout = httpx.Timeout(2.0, connect=0.5)
        async with httpx.AsyncClient(base_url=geocoder_url, timeout=timeout) as geocoder:
            # One semaphore for the process: two requests of 50 addresses share the 4 places.
            yield {"geocoder": geocoder, "in_flight": asyncio.Semaphore(MAX_IN_FLIGHT)}

    # --8<-- [end:lifespan]
    app = FastAPI(lifespan=lifespan)

    @app.post("/geocode")
    async def geocode_batch(
        request: Request, addresses: Annotated[list[str], Body(max_length=50)]
    ) -> list[Point]:
        return await geocode_all(request.state.geocoder, addresses, request.state.in_flight)

    return app


@pytest.fixture
def geocoder() -> Supplier:
    """A geocoder that takes 0.1 s per address and answers 429 beyond 4 calls in flight."""
    supplier = Supplier(max_in_flight=MAX_IN_FLIGHT)
    supplier.route("/geocode", delay=0.1, body={"lat": 38.72, "lon": -9.14})
    return supplier


ADDRESSES = [f"{number} Rua Augusta, Lisboa" for number in range(1, 13)]


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_without_a_cap_the_geocoder_answers_429(geocoder) -> None:
    with running(geocoder) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            results = await asyncio.gather(
                *(geocode(client, address) for address in ADDRESSES), return_exceptions=True
            )
    refused = [result for result in results if isinstance(result, httpx.HTTPStatusError)]
    assert refused and all(error.response.status_code == 429 for error in refused)


@pytest.mark.asyncio
async def test_the_semaphore_keeps_every_request_within_the_limit(geocoder) -> None:
    with running(geocoder) as url:
        async with LifespanManager(make_app(url)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://maps") as maps:
                two_batches = await asyncio.gather(  # the cap holds across requests too
                    maps.post("/geocode", json=ADDRESSES), maps.post("/geocode", json=ADDRESSES)
                )
    assert [response.status_code for response in two_batches] == [200, 200]
    assert len(geocoder.calls) == 24 and geocoder.peak == MAX_IN_FLIGHT  # used, never exceeded


@pytest.mark.asyncio
async def test_a_pool_limit_alone_queues_calls_until_the_pool_timeout_fails_them(
    geocoder,
) -> None:
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT)  # also at most 4 in flight...
    timeout = httpx.Timeout(2.0, pool=0.05)  # ...but a queued call fails after 0.05 s
    with running(geocoder) as url:
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
            results = await asyncio.gather(
                *(geocode(client, address) for address in ADDRESSES), return_exceptions=True
            )
            assert any(isinstance(result, httpx.PoolTimeout) for result in results)
            in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)  # the same client, behind a semaphore
            assert len(await geocode_all(client, ADDRESSES, in_flight)) == 12  # none fails


# --8<-- [end:tests]
