"""One Settings object for the whole app: environment variables first, then the project's .env.

Every setting is here, with its default; the two secrets have none, so a missing one stops the
app at start-up with pydantic's error naming it, never half-way through a request.
"""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The project's .env (next to the app folder), wherever the server is started from: a bare ".env"
# would be looked up in the working directory, and silently missed when started from elsewhere.
ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE)

    # The model (Lab 9)
    anthropic_api_key: SecretStr
    """ANTHROPIC_API_KEY: the model API's key. Required."""

    anthropic_base_url: str | None = None
    """ANTHROPIC_BASE_URL: where the model API is; none, Anthropic's own."""

    model: str = "claude-sonnet-4-6"
    """MODEL: the model asked first."""

    fallback_model: str = "claude-haiku-4-5"
    """FALLBACK_MODEL: the model asked when MODEL is overloaded."""

    max_tokens: PositiveInt = 1024
    """MAX_TOKENS: the longest answer the model may write."""

    retry_base_seconds: PositiveFloat = 0.5
    """RETRY_BASE_SECONDS: how long to wait before asking an overloaded MODEL again."""

    probe_timeout_seconds: PositiveFloat = 2.0
    """PROBE_TIMEOUT_SECONDS: how long /admin/ready waits for the model API."""

    chroma_path: str = "chroma"
    """CHROMA_PATH: the folder ChromaDB keeps the documents in."""

    min_relevance: float = Field(0.4, ge=0, le=1)
    """MIN_RELEVANCE: the cosine similarity a document needs to be used in an answer."""

    max_agent_steps: PositiveInt = 5
    """MAX_AGENT_STEPS: the most model requests one POST /agent/ask may make."""

    # API keys (Lab 5)
    admin_api_key: SecretStr
    """ADMIN_API_KEY: the key of the admin API, which issues and revokes everyone else's."""

    database_path: Path = Path("capstone.db")
    """DATABASE_PATH: the SQLite file the API keys' hashes are kept in."""

    rate_limit_per_minute: PositiveInt = 60
    """RATE_LIMIT_PER_MINUTE: requests one API key may send in any 60 seconds."""

    # Browsers (Lab 2)
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
    """The settings, read once and shared: a dependency, and overridable in tests."""
    return Settings()
