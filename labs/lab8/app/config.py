"""Settings read from the environment: graders point the app at their own collector and upstream."""

from functools import lru_cache

from pydantic import PositiveFloat
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    otel_exporter_otlp_endpoint: str | None = None
    """OTEL_EXPORTER_OTLP_ENDPOINT: the OTLP/HTTP collector spans go to; none, none are sent."""

    service_name: str = "lab8"
    """SERVICE_NAME: the spans' `service.name`, which tells this service's spans from others'."""

    inventory_url: str = "http://127.0.0.1:9"
    """INVENTORY_URL: the inventory service, which answers GET /inventory/{item_id}."""

    slow_seconds: PositiveFloat = 1.0
    """SLOW_SECONDS: how long GET /slow takes."""


@lru_cache
def get_settings() -> Settings:
    return Settings()
