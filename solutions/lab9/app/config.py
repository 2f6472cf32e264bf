"""Settings read from the environment: graders point the app at their own model API and store."""

from functools import lru_cache

from pydantic import Field, PositiveFloat, SecretStr
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    anthropic_api_key: SecretStr
    """ANTHROPIC_API_KEY: the model API's key. Required."""

    anthropic_base_url: str | None = None
    """ANTHROPIC_BASE_URL: where the model API is; none, Anthropic's own."""

    model: str = "claude-sonnet-4-6"
    """MODEL: the model asked first."""

    fallback_model: str = "claude-haiku-4-5"
    """FALLBACK_MODEL: the model asked when MODEL is overloaded."""

    max_tokens: int = 1024
    """MAX_TOKENS: the longest answer the model may write."""

    retry_base_seconds: PositiveFloat = 0.5
    """RETRY_BASE_SECONDS: how long to wait before asking an overloaded MODEL again."""

    probe_timeout_seconds: PositiveFloat = 2.0
    """PROBE_TIMEOUT_SECONDS: how long /admin/ready waits for the model API."""

    chroma_path: str = "chroma"
    """CHROMA_PATH: the folder ChromaDB keeps the documents in."""

    min_relevance: float = Field(0.4, ge=0, le=1)
    """MIN_RELEVANCE: the cosine similarity a document needs to be used in an answer."""


@lru_cache
def get_settings() -> Settings:
    return Settings()
