"""Settings read from the environment. The two secrets are required: without them, or with a
signing secret too short to resist guessing, the app refuses to start."""

from functools import lru_cache
from pathlib import Path

from pydantic import PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings

MIN_SECRET_LENGTH = 32
"""HS256 signs with the secret: one shorter than the hash (32 bytes) can be guessed offline from
any token the app hands out."""


class Settings(BaseSettings):
    admin_api_key: SecretStr
    """ADMIN_API_KEY: the key of the admin API, which issues and revokes everyone else's."""

    jwt_secret: SecretStr
    """JWT_SECRET: signs the access tokens; at least 32 characters."""

    token_seconds: PositiveInt = 900
    """TOKEN_SECONDS: how long an access token lives."""

    rate_limit_per_minute: PositiveInt = 60
    """RATE_LIMIT_PER_MINUTE: requests one API key may send to /items in any 60 seconds."""

    database_path: Path = Path("lab5.db")
    """DATABASE_PATH: the SQLite database file."""

    @field_validator("jwt_secret")
    @classmethod
    def long_enough(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
        return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
