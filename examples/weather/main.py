"""The weather service: `create_app()` builds it; its lifespan owns the one HTTP client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from fastapi import FastAPI

from weather.config import Settings, get_settings
from weather.routers import forecasts, health


# --8<-- [start:app]
class State(TypedDict):
    """What the lifespan hands every request, as `request.state.settings` and `.http`."""

    settings: Settings
    http: httpx.AsyncClient


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app, with the settings given, or else those of the environment, read at startup.
    A server calls it with none: `uvicorn weather.main:create_app --factory`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        config = settings or get_settings()  # no WEATHER_API_KEY: the app stops here
        key = config.api_key.get_secret_value()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=config.base_url, headers=headers) as http:
            yield {"settings": config, "http": http}  # serving: requests find both here
        # The `async with` has closed the client: after the last request, never under one.

    app = FastAPI(title="Weather", lifespan=lifespan)
    app.include_router(forecasts.router)
    app.include_router(health.router)
    return app


# --8<-- [end:app]
