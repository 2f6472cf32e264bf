"""What endpoints declare they need, as Annotated aliases: `forecasts: ForecastsDep`, no more."""

from typing import Annotated

import httpx
from fastapi import Depends, Request

from weather.config import Settings
from weather.services.forecasts import ForecastService


# --8<-- [start:dependencies]
async def get_http_client(request: Request) -> httpx.AsyncClient:
    """The app's one HTTP client, from the lifespan's state: never a new one per request."""
    return request.state.http


async def get_app_settings(request: Request) -> Settings:
    """The settings the app started with (the lifespan put them in its state)."""
    return request.state.settings


HttpDep = Annotated[httpx.AsyncClient, Depends(get_http_client)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_forecasts(http: HttpDep, settings: SettingsDep) -> ForecastService:
    return ForecastService(http, settings.umbrella_from_mm)


ForecastsDep = Annotated[ForecastService, Depends(get_forecasts)]
# --8<-- [end:dependencies]
