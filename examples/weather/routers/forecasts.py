"""Forecast endpoints: HTTP in, a service call, HTTP out."""

from fastapi import APIRouter, HTTPException, status

from weather.dependencies import ForecastsDep
from weather.models.forecasts import Forecast
from weather.services.forecasts import CityNotFound

# --8<-- [start:router]
router = APIRouter(prefix="/forecasts", tags=["forecasts"])


@router.get("/{city}")
async def read_forecast(city: str, forecasts: ForecastsDep) -> Forecast:
    try:
        return await forecasts.summary(city)
    except CityNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No forecast for {city}") from None


# --8<-- [end:router]
