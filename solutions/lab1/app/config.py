"""One Settings object for the whole app: environment variables first, then the lab's .env file."""

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The lab folder's .env, wherever the server is started from: a bare ".env" would be looked up in
# the working directory, and silently missed when the app is started from anywhere else.
ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE)

    anthropic_api_key: SecretStr
    """ANTHROPIC_API_KEY, required: without it the app refuses to start."""

    slow_seconds: float = 2.0
    """SLOW_SECONDS: how long GET /slow takes."""


@lru_cache
def get_settings() -> Settings:
    """The settings, read once and shared: a dependency, and overridable in tests."""
    return Settings()
