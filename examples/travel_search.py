"""A travel search that asks three suppliers at once: flights, hotels and car hire.

`GET /search` wants whatever the suppliers have, and shows the rest as unavailable: that is
`asyncio.gather(..., return_exceptions=True)`. `GET /packages` prices a holiday that needs all
three, so one failure makes the others pointless: that is `asyncio.TaskGroup`, which cancels them.
The other two endpoints are the contrasts: one supplier after another, and a plain `gather` that
leaves the others running after the first failure.

Module 6's lesson (sections "gather", "TaskGroup") includes parts of this file. The tests run the
suppliers on a real uvicorn server (examples/travel_upstreams.py) and count what it saw. Run them
with `pytest examples/travel_search.py`.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from travel_upstreams import Supplier, running

logger = logging.getLogger(__name__)
KINDS = ("flights", "hotels", "cars")


class Offer(BaseModel):
    name: str
    price: int


class SearchResults(BaseModel):
    flights: list[Offer]
    hotels: list[Offer]
    cars: list[Offer]
    unavailable: list[str]  # suppliers that failed: their lists are empty, not "no offers"


class Package(BaseModel):
    flight: Offer
    hotel: Offer
    car: Offer
    total: int


async def offers(client: httpx.AsyncClient, kind: str, city: str) -> list[Offer]:
    """One supplier's offers. Raises httpx.HTTPError when the supplier fails."""
    response = await client.get(f"/{kind}", params={"city": city})
    response.raise_for_status()
    return [Offer.model_validate(offer) for offer in response.json()["offers"]]


# --8<-- [start:one_by_one]
async def search_one_by_one(client: httpx.AsyncClient, city: str) -> SearchResults:
    """Each call starts when the previous one has answered: the total is the sum."""
    flights = await offers(client, "flights", city)
    hotels = await offers(client, "hotels", city)
    cars = await offers(client, "cars", city)
    return SearchResults(flights=flights, hotels=hotels, cars=cars, unavailable=[])


# --8<-- [end:one_by_one]


# --8<-- [start:gather]
async def search(client: httpx.AsyncClient, city: str) -> SearchResults:
    """All three at once: the total is the slowest. A failed supplier leaves its list empty."""
    results = await asyncio.gather(
        *(offers(client, kind, city) for kind in KINDS),
        return_exceptions=True,  # a failure comes back as a result, in its place
    )
    found: dict[str, list[Offer]] = {}
    unavailable = []
    for kind, result in zip(KINDS, results, strict=True):
        if isinstance(result, Exception):
            logger.warning("%s supplier failed: %r", kind, result)
            found[kind] = []
            unavailable.append(kind)
        elif isinstance(result, BaseException):
            raise result  # a cancellation, or Ctrl-C: never turn those into "no offers"
        else:
            found[kind] = result
    return SearchResults(**found, unavailable=unavailable)


# --8<-- [end:gather]


def cheapest(flights: list[Offer], hotels: list[Offer], cars: list[Offer]) -> Package:
    def lowest(choices: list[Offer]) -> Offer:
        return min(choices, key=lambda offer: offer.price)

    flight, hotel, car = lowest(flights), lowest(hotels), lowest(cars)
    return Package(
        flight=flight, hotel=hotel, car=car, total=flight.price + hotel.price + car.price
    )


# --8<-- [start:taskgroup]
class PackageUnavailable(Exception):
    def __init__(self, failed: list[str]) -> None:
        super().__init__(", ".join(failed))
        self.failed = failed


async def package(client: httpx.AsyncClient, city: str) -> Package:
    """Needs all three suppliers: the first failure cancels the calls still waiting."""
    try:
        async with asyncio.TaskGroup() as group:
            flights = group.create_task(offers(client, "flights", city))
            hotels = group.create_task(offers(client, "hotels", city))
            cars = group.create_task(offers(client, "cars", city))
    except* httpx.HTTPError as failures:  # every failure, grouped; the cancelled are not in it
        for failure in failures.exceptions:
            logger.warning("package for %s: %r", city, failure)
        failed = [str(failure.request.url) for failure in failures.exceptions]
        raise PackageUnavailable(failed) from failures
    return cheapest(flights.result(), hotels.result(), cars.result())


# --8<-- [end:taskgroup]


# --8<-- [start:gather_leaks]
async def package_with_gather(client: httpx.AsyncClient, city: str) -> Package:
    """The mistake: gather raises the first failure, and the other calls carry on unwatched."""
    flights, hotels, cars = await asyncio.gather(*(offers(client, kind, city) for kind in KINDS))
    return cheapest(flights, hotels, cars)


# --8<-- [end:gather_leaks]


def make_app(suppliers_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
        timeout = httpx.Timeout(2.0, connect=0.5)
        async with httpx.AsyncClient(base_url=suppliers_url, timeout=timeout) as suppliers:
            yield {"suppliers": suppliers}

    app = FastAPI(lifespan=lifespan)

    def suppliers(request: Request) -> httpx.AsyncClient:
        return request.state.suppliers

    Suppliers = Annotated[httpx.AsyncClient, Depends(suppliers)]

    @app.get("/search")
    async def search_endpoint(city: str, client: Suppliers) -> SearchResults:
        return await search(client, city)

    @app.get("/search/one-by-one")
    async def one_by_one_endpoint(city: str, client: Suppliers) -> SearchResults:
        return await search_one_by_one(client, city)

    @app.get("/packages")
    async def package_endpoint(city: str, client: Suppliers) -> Package:
        try:
            return await package(client, city)
        except PackageUnavailable:
            raise HTTPException(502, "A supplier is not answering: no package price.") from None

    @app.get("/packages/gather")
    async def package_gather_endpoint(city: str, client: Suppliers) -> Package:
        try:
            return await package_with_gather(client, city)
        except httpx.HTTPError:
            raise HTTPException(502, "A supplier is not answering: no package price.") from None

    return app


def offers_of(*prices: int) -> dict:
    return {"offers": [{"name": f"offer {price}", "price": price} for price in prices]}


@pytest.fixture
def supplier() -> Supplier:
    """Three suppliers that each answer after 0.2 s."""
    supplier = Supplier()
    supplier.route("/flights", delay=0.2, body=offers_of(320, 280))
    supplier.route("/hotels", delay=0.2, body=offers_of(90, 150))
    supplier.route("/cars", delay=0.2, body=offers_of(45))
    return supplier


@asynccontextmanager
async def travel_app(supplier: Supplier) -> AsyncIterator[httpx.AsyncClient]:
    """The travel app in process, in front of the supplier on a real server."""
    with running(supplier) as url:
        app = make_app(url)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://travel") as client:
                yield client


async def timed(call: Callable) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call()
    return response, time.monotonic() - started


# --8<-- [start:gather_tests]
@pytest.mark.asyncio
async def test_together_the_search_takes_the_slowest_call_not_the_sum(supplier) -> None:
    async with travel_app(supplier) as travel:
        together, together_took = await timed(lambda: travel.get("/search?city=Lisbon"))
        one_by_one, one_by_one_took = await timed(lambda: travel.get("/search/one-by-one?city=L"))
    assert together.json() == one_by_one.json()
    assert one_by_one_took >= 0.6 and together_took < 0.45  # three calls of 0.2 s each
    first_three = sorted(supplier.calls[:3], key=lambda call: call.started)
    assert first_three[-1].started < first_three[0].ended  # all three started before one ended


@pytest.mark.asyncio
async def test_a_failed_supplier_leaves_a_gap_not_an_error(supplier, caplog) -> None:
    supplier.route("/hotels", statuses=[503])
    async with travel_app(supplier) as travel:
        response = await travel.get("/search?city=Lisbon")
    assert response.status_code == 200
    assert response.json()["unavailable"] == ["hotels"] and response.json()["hotels"] == []
    assert [offer["price"] for offer in response.json()["flights"]] == [320, 280]
    assert "hotels supplier failed: HTTPStatusError" in caplog.text


# --8<-- [end:gather_tests]


# --8<-- [start:taskgroup_tests]
@pytest.mark.asyncio
async def test_a_package_needs_all_three_suppliers(supplier) -> None:
    async with travel_app(supplier) as travel:
        response = await travel.get("/packages?city=Lisbon")
    assert response.json()["total"] == 280 + 90 + 45


@pytest.mark.asyncio
async def test_one_failure_cancels_the_others_and_they_hang_up(supplier) -> None:
    supplier.route("/flights", delay=0.05, statuses=[503])
    supplier.route("/hotels", delay=5)
    supplier.route("/cars", delay=5)
    async with travel_app(supplier) as travel:
        response, took = await timed(lambda: travel.get("/packages?city=Lisbon"))
    assert response.status_code == 502 and took < 2.5  # not the 5 s the others would take
    for path in ("/hotels", "/cars"):  # the supplier sees the connection close, mid-wait
        supplier.wait_until(lambda path=path: supplier.calls_to(path)[0].outcome == "hung up")


@pytest.mark.asyncio
async def test_plain_gather_answers_502_but_leaves_the_others_running(supplier) -> None:
    supplier.route("/flights", delay=0.05, statuses=[503])
    supplier.route("/hotels", delay=0.5)
    supplier.route("/cars", delay=0.5)
    async with travel_app(supplier) as travel:
        response = await travel.get("/packages/gather?city=Lisbon")
        assert response.status_code == 502
        for path in ("/hotels", "/cars"):  # nobody waits for these answers, yet they come
            supplier.wait_until(lambda path=path: supplier.calls_to(path)[0].outcome == "answered")


# --8<-- [end:taskgroup_tests]
