"""The weather service's tests: a fake upstream API, dependency overrides, settings and async.

Module 1's lesson includes parts of this file. Run it with `pytest examples/weather`.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from pydantic import ValidationError

from weather.config import Settings, get_settings
from weather.dependencies import get_http_client
from weather.main import create_app

# --8<-- [start:fake]
upstream = FastAPI()  # a fake of the upstream weather API, served in-process
FORECASTS = {
    "Paris": [{"temp_c": 11.0, "rain_mm": 0.0}, {"temp_c": 16.5, "rain_mm": 1.2}],
    "Cairo": [{"temp_c": 24.0, "rain_mm": 0.0}, {"temp_c": 33.0, "rain_mm": 0.0}],
}


@upstream.get("/forecast")
async def upstream_forecast(city: str, authorization: Annotated[str, Header()]) -> dict:
    if authorization != "Bearer test-key":
        raise HTTPException(401, "bad key")
    if city not in FORECASTS:
        raise HTTPException(404, "unknown city")
    return {"city": city, "hourly": FORECASTS[city]}


def fake_upstream_client() -> httpx.AsyncClient:
    """An HTTP client whose requests reach the fake above, never the network."""
    transport = httpx.ASGITransport(app=upstream)
    headers = {"Authorization": "Bearer test-key"}
    return httpx.AsyncClient(transport=transport, base_url="http://upstream", headers=headers)


# --8<-- [end:fake]


# --8<-- [start:overrides]
TEST_SETTINGS = Settings(api_key="test-key", _env_file=None)  # no developer's .env in tests


@pytest.fixture
def app() -> Iterator[FastAPI]:
    """The app, its HTTP client swapped for the fake one; the override ends with the test."""
    app = create_app(TEST_SETTINGS)
    fake = fake_upstream_client()
    app.dependency_overrides[get_http_client] = lambda: fake  # the key: the original function
    yield app
    app.dependency_overrides.clear()


def test_a_forecast_is_summarised(app: FastAPI) -> None:
    with TestClient(app) as client:  # `with` runs the lifespan, as a server would
        response = client.get("/forecasts/Paris")
    assert response.status_code == 200
    assert response.json() == {"city": "Paris", "high_c": 16.5, "low_c": 11.0, "umbrella": True}


def test_an_unknown_city_is_a_404(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/forecasts/Atlantis")
    assert response.status_code == 404
    assert response.json() == {"detail": "No forecast for Atlantis"}


# --8<-- [end:overrides]


def test_shutdown_closes_the_client() -> None:
    with TestClient(create_app(TEST_SETTINGS)) as client:
        http = client.app_state["http"]  # the lifespan's state, as TestClient keeps it
        assert not http.is_closed
    assert http.is_closed


# --8<-- [start:settings]
@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No WEATHER_API_KEY, no .env file, and no settings cached by an earlier test."""
    monkeypatch.delenv("WEATHER_API_KEY", raising=False)
    monkeypatch.setitem(Settings.model_config, "env_file", None)  # a developer's .env stays out
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_an_override_of_get_settings_does_not_reach_the_lifespan(environment) -> None:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: TEST_SETTINGS  # endpoints only
    with pytest.raises(ValidationError, match="api_key"), TestClient(app):
        pass  # the lifespan called get_settings() itself, and found no key


def test_the_environment_is_read_again_after_cache_clear(environment) -> None:
    environment.setenv("WEATHER_API_KEY", "key-from-the-environment")
    get_settings.cache_clear()  # or an earlier test's settings would be returned
    with TestClient(create_app()) as client:
        settings = client.app_state["settings"]
    assert settings.api_key.get_secret_value() == "key-from-the-environment"


def test_the_factory_takes_settings(environment) -> None:
    with TestClient(create_app(TEST_SETTINGS)) as client:  # no environment needed
        assert client.app_state["settings"] is TEST_SETTINGS


# --8<-- [end:settings]


# --8<-- [start:async]
@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An async client for the app. ASGITransport does not run the lifespan: LifespanManager
    does, and hands its state to every request, as a server would."""
    async with LifespanManager(app) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.asyncio
async def test_two_forecasts_at_once(client: httpx.AsyncClient) -> None:
    paris, cairo = await asyncio.gather(
        client.get("/forecasts/Paris"), client.get("/forecasts/Cairo")
    )
    assert paris.json()["umbrella"] is True
    assert cairo.json() == {"city": "Cairo", "high_c": 33.0, "low_c": 24.0, "umbrella": False}


# --8<-- [end:async]
