"""Retries with exponential backoff, for calls that may fail for a moment.

Only what may succeed if sent again is retried: 502, 503 and 504 (the upstream, or a proxy in
front of it, is overloaded or restarting), 429 (after the pause its Retry-After asks for), and a
connection refused or reset before an answer. Any other answer is returned at once: a 4xx says
the request itself is wrong, and sending it again changes nothing. A timeout is not retried
either: the upstream may still be working on the first attempt, and each retry would add another
PART_TIMEOUT_SECONDS to the wait.
"""

import asyncio
import math
import random
from collections.abc import Awaitable, Callable

import httpx

from app.config import Settings

RETRYABLE_STATUSES = {429, 502, 503, 504}


class RetriesExhausted(Exception):
    """Every attempt failed; `retry_after` is how long a client should wait before asking again."""

    def __init__(self, attempts: int, last_failure: str, retry_after: int) -> None:
        super().__init__(f"{attempts} attempts failed, the last with {last_failure}")
        self.retry_after = retry_after


def backoff(retry: int, base: float) -> float:
    """The pause before retry number `retry` (1, 2, ...): base, 2 × base, 4 × base..., each moved
    by up to 10% at random, so that clients that failed together do not all retry together."""
    return base * 2 ** (retry - 1) * random.uniform(0.9, 1.1)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a 429 asks for (the delay form of Retry-After), if it says."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]], settings: Settings
) -> httpx.Response:
    """`send()` until it gives an answer worth returning, at most MAX_ATTEMPTS times in all."""
    for attempt in range(1, settings.max_attempts + 1):
        asked = None
        try:
            response = await send()
        except httpx.TimeoutException:
            raise
        except httpx.TransportError as error:  # refused, or reset before an answer
            failure = type(error).__name__
        else:
            if response.status_code not in RETRYABLE_STATUSES:
                return response
            failure = f"status {response.status_code}"
            if response.status_code == 429:
                asked = retry_after(response)
        if attempt < settings.max_attempts:
            await asyncio.sleep(
                asked if asked is not None else backoff(attempt, settings.retry_base_seconds)
            )
    wait = math.ceil(backoff(settings.max_attempts, settings.retry_base_seconds))
    raise RetriesExhausted(settings.max_attempts, failure, retry_after=max(wait, 1))
