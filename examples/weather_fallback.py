"""A weather forecast for a trip's destination, from a second provider when the first fails.

Each provider has its own client, with a timeout for each phase of a call (`httpx.Timeout`), and
each call has a deadline for the whole of it (`asyncio.timeout`): a provider that trickles its
answer cannot hold the request past its budget. When the primary fails (no answer in time, a
refused connection, a 5xx or a 429), the secondary is asked. When the primary says that the place
does not exist, that is an answer, not a failure: the secondary would say the same.

Module 6's lesson (sections "Timeouts" and "Fallbacks") includes parts of this file. Run its
tests with `pytest examples/weather_fallback.py`.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from travel_upstreams import Supplier, running

logger = logging.getLogger(__name__)

# --8<-- [start:timeouts]
FORECAST_TIMEOUT = httpx.Timeout(
    connect=0.5,  # to open the TCP connection (and TLS): a host that is up accepts in milliseconds
    read=1.0,  # for each wait on the next bytes of the answer, not for the whole answer
    write=1.0,  # for each wait to send the next bytes of the request
    pool=0.5,  # for a free connection from the client's pool, when all are busy
)
# --8<-- [end:timeouts]


class Forecast(BaseModel):
    city: str
    summary: str
    high_c: float


class SourcedForecast(Forecast):
    source: Literal["primary", "secondary"]  # clients and dashboards can see a degraded answer


class ProviderFailed(Exception):
    """The provider did not give a usable answer; another one might."""


class UnknownPlace(LookupError):
    """The provider answered: there is no such place."""


# --8<-- [start:ask]
async def ask(provider: httpx.AsyncClient, city: str, budget: float) -> Forecast:
    """One provider's forecast, within `budget` seconds for the whole call."""
    try:
        async with asyncio.timeout(budget):  # a deadline over connect, send and every read
            response = await provider.get("/forecast", params={"city": city})
    except TimeoutError as error:
        raise ProviderFailed(f"no complete answer within {budget} s") from error
    except httpx.TransportError as error:  # httpx's own timeouts are TransportErrors too
        raise ProviderFailed(repr(error)) from error
    if response.status_code == 404:
        raise UnknownPlace(city)
    if not response.is_success:
        raise ProviderFailed(f"answered {response.status_code}")
    return Forecast.model_validate(response.json())


# --8<-- [end:ask]


# --8<-- [start:fallback]
async def forecast(
    primary: httpx.AsyncClient, secondary: httpx.AsyncClient, city: str, budget: float
) -> SourcedForecast:
    """The primary's forecast; the secondary's if the primary fails. Budget: each provider's."""
    try:
        found = await ask(primary, city, budget)
        return SourcedForecast(**found.model_dump(), source="primary")
    except ProviderFailed as failure:
        logger.warning("primary weather provider failed, asking the secondary: %s", failure)
    found = await ask(secondary, city, budget)  # UnknownPlace or ProviderFailed go to the caller
    return SourcedForecast(**found.model_dump(), source="secondary")


# --8<-- [end:fallback]


def make_app(primary_url: str, secondary_url: str, budget: float = 2.0) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
        async with (
            httpx.AsyncClient(base_url=primary_url, timeout=FORECAST_TIMEOUT) as primary,
            httpx.AsyncClient(base_url=secondary_url, timeout=FORECAST_TIMEOUT) as secondary,
        ):
            yield {"primary": primary, "secondary": secondary}

    app = FastAPI(lifespan=lifespan)

    @app.get("/forecast/{city}")
    async def city_forecast(city: str, request: Request) -> SourcedForecast:
        state = request.state
        try:
            return await forecast(state.primary, state.secondary, city, budget)
        except UnknownPlace:
            raise HTTPException(404, f"No forecast for a place called {city!r}.") from None
        except ProviderFailed:
            raise HTTPException(502, "No weather provider is answering. Try again later.") from None

    return app


LISBON = {"city": "Lisbon", "summary": "sunny", "high_c": 24.0}


@asynccontextmanager
async def weather_app(
    primary: Supplier, secondary: Supplier, budget: float = 0.3
) -> AsyncIterator[httpx.AsyncClient]:
    with running(primary) as primary_url, running(secondary) as secondary_url:
        async with LifespanManager(make_app(primary_url, secondary_url, budget)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://travel") as client:
                yield client


@pytest.fixture
def providers() -> tuple[Supplier, Supplier]:
    primary, secondary = Supplier(), Supplier()
    primary.route("/forecast", body=LISBON)
    secondary.route("/forecast", body={**LISBON, "summary": "clear"})
    return primary, secondary


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_the_primary_answers_when_it_can(providers) -> None:
    primary, secondary = providers
    async with weather_app(primary, secondary) as travel:
        response = await travel.get("/forecast/Lisbon")
    assert response.json()["source"] == "primary" and secondary.calls == []


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_failing_primary_falls_back_to_the_secondary(providers, status) -> None:
    primary, secondary = providers
    primary.route("/forecast", statuses=[status])
    async with weather_app(primary, secondary) as travel:
        response = await travel.get("/forecast/Lisbon")
    assert response.json() == {**LISBON, "summary": "clear", "source": "secondary"}


@pytest.mark.asyncio
async def test_a_silent_primary_costs_its_budget_not_its_silence(providers) -> None:
    primary, secondary = providers
    primary.route("/forecast", delay=30)
    async with weather_app(primary, secondary, budget=0.3) as travel:
        started = time.monotonic()
        response = await travel.get("/forecast/Lisbon")
        took = time.monotonic() - started
    assert response.json()["source"] == "secondary" and took < 5  # 0.3 s, far from 30
    primary.wait_until(lambda: primary.calls[0].outcome == "hung up")


@pytest.mark.asyncio
async def test_an_unknown_place_is_an_answer_not_a_failure(providers) -> None:
    primary, secondary = providers
    primary.route("/forecast", statuses=[404])
    async with weather_app(primary, secondary) as travel:
        response = await travel.get("/forecast/Atlantis")
    assert response.status_code == 404 and secondary.calls == []


@pytest.mark.asyncio
async def test_when_both_fail_the_client_gets_a_502(providers) -> None:
    primary, secondary = providers
    primary.route("/forecast", statuses=[503])
    secondary.route("/forecast", delay=30)
    async with weather_app(primary, secondary) as travel:
        response = await travel.get("/forecast/Lisbon")
    assert response.status_code == 502 and len(primary.calls) == len(secondary.calls) == 1


# --8<-- [end:tests]
