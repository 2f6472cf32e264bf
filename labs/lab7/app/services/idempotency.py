"""Idempotency keys: the first request with a key runs; any request with the same key and body
gets its response again, byte for byte; the same key with another body is refused."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio


@dataclass(frozen=True)
class Stored:
    status: int
    body: str
    replayed: bool
    """Whether this is a stored response sent again, not the first."""


async def once(
    client: redis.asyncio.Redis,
    key: str,
    body: dict,
    ttl_seconds: float,
    run: Callable[[], Awaitable[tuple[int, str]]],
) -> Stored:
    """`run()` (its status and JSON body) if `key` is new; else the response it gave."""
    # TODO 4: claim `key` in Redis in one atomic step, for `ttl_seconds` (fractional: PX); run
    # once, and store the response with a fingerprint of `body`. A repeat with the same body gets
    # the stored response (replayed); with another body, errors.IdempotencyKeyReused. A repeat
    # that arrives while the first is still running waits for its response.
    status, response = await run()
    return Stored(status, response, replayed=False)
