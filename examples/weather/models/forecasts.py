"""The shapes of forecasts: the upstream's, checked on arrival, and ours, sent to clients."""

from pydantic import BaseModel


# --8<-- [start:models]
class Hour(BaseModel):
    """One hour of the upstream API's forecast."""

    temp_c: float
    rain_mm: float


class UpstreamForecast(BaseModel):
    """The upstream's answer, validated before any code relies on it."""

    city: str
    hourly: list[Hour]


class Forecast(BaseModel):
    """What `GET /forecasts/{city}` answers: a summary, not the upstream's raw data."""

    city: str
    high_c: float
    low_c: float
    umbrella: bool


# --8<-- [end:models]
