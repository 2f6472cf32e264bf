"""Settings read from the environment: the API and the worker read the same ones."""

from functools import lru_cache

from pydantic import NonNegativeInt, PositiveFloat, SecretStr, model_validator
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    redis_url: str = "redis://127.0.0.1:6379/0"
    """REDIS_URL: the broker, the results, the job records and the idempotency keys."""

    job_seconds: PositiveFloat = 2.0
    """JOB_SECONDS: how long a report job's work takes."""

    webhook_secret: SecretStr
    """WEBHOOK_SECRET: signs the webhooks sent, verifies those received. Required."""

    max_retries: NonNegativeInt = 3
    """MAX_RETRIES: retries after the first try, for jobs and for webhook deliveries."""

    retry_base_seconds: PositiveFloat = 1.0
    """RETRY_BASE_SECONDS: the n-th retry waits base · 2^(n−1)."""

    visibility_timeout_seconds: PositiveFloat = 60.0
    """VISIBILITY_TIMEOUT_SECONDS: how long a job taken by a worker that died stays invisible
    before Redis hands it to another worker."""

    idempotency_ttl_seconds: PositiveFloat = 86400.0
    """IDEMPOTENCY_TTL_SECONDS: how long a payment's idempotency key is remembered."""

    payment_seconds: PositiveFloat = 0.2
    """PAYMENT_SECONDS: how long charging a payment takes."""

    def retry_pause(self, retry: int) -> float:
        """Seconds before the `retry`-th retry (1, 2, ...): base · 2^(retry−1)."""
        return self.retry_base_seconds * 2 ** (retry - 1)

    @model_validator(mode="after")
    def visibility_outlasts_a_try(self) -> "Settings":
        longest = self.job_seconds + self.retry_pause(max(self.max_retries, 1))
        if self.visibility_timeout_seconds <= longest:
            raise ValueError(
                f"VISIBILITY_TIMEOUT_SECONDS must exceed JOB_SECONDS plus the longest retry pause "
                f"({longest:g} s): a job still running, or waiting for its retry, would be handed "
                "to a second worker"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
