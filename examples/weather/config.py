"""One Settings object: environment variables first, then the .env file beside this package."""

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# --8<-- [start:settings]
# Built from this file's location, not the working directory: found wherever the server starts.
ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEATHER_", env_file=ENV_FILE)

    api_key: SecretStr
    """WEATHER_API_KEY, required: without it the app refuses to start."""

    base_url: str = "https://api.weather.example"
    """WEATHER_BASE_URL: where the upstream weather API lives."""

    umbrella_from_mm: float = 0.5
    """WEATHER_UMBRELLA_FROM_MM: the hourly rain, in millimetres, that calls for an umbrella."""


@lru_cache
def get_settings() -> Settings:
    """Read the environment and the file once; every later call returns the same object."""
    return Settings()


# --8<-- [end:settings]
