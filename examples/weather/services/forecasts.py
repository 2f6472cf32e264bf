"""Forecasts: fetch one from the upstream weather API and summarise it."""

import httpx

from weather.models.forecasts import Forecast, UpstreamForecast


# --8<-- [start:service]
class CityNotFound(LookupError):
    """The upstream API has no forecast for this city."""


class ForecastService:
    def __init__(self, http: httpx.AsyncClient, umbrella_from_mm: float) -> None:
        self.http = http
        self.umbrella_from_mm = umbrella_from_mm

    async def summary(self, city: str) -> Forecast:
        response = await self.http.get("/forecast", params={"city": city})
        if response.status_code == httpx.codes.NOT_FOUND:
            raise CityNotFound(city)
        response.raise_for_status()
        upstream = UpstreamForecast.model_validate_json(response.content)
        temperatures = [hour.temp_c for hour in upstream.hourly]
        return Forecast(
            city=upstream.city,
            high_c=max(temperatures),
            low_c=min(temperatures),
            umbrella=any(hour.rain_mm >= self.umbrella_from_mm for hour in upstream.hourly),
        )


# --8<-- [end:service]
