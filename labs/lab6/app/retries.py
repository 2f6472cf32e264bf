"""Retries with exponential backoff, for calls that may fail for a moment (task 5)."""

from collections.abc import Awaitable, Callable

import httpx

from app.config import Settings

RETRYABLE_STATUSES = {429, 502, 503, 504}


class RetriesExhausted(Exception):
    """Every attempt failed; `retry_after` is how long a client should wait before asking again."""

    def __init__(self, attempts: int, last_failure: str, retry_after: int) -> None:
        super().__init__(f"{attempts} attempts failed, the last with {last_failure}")
        self.retry_after = retry_after


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]], settings: Settings
) -> httpx.Response:
    """`send()` until it gives an answer worth returning, at most MAX_ATTEMPTS times in all."""
    # TODO 5: try again on a RETRYABLE_STATUSES answer or a connection refused or reset
    # (an httpx.TransportError that is not a timeout), at most settings.max_attempts attempts in
    # all. Pause before each retry: RETRY_BASE_SECONDS, then twice as long each time, with a
    # little jitter; after a 429, the seconds its Retry-After asks for. When every attempt has
    # failed, raise RetriesExhausted.
    return await send()
