"""Idempotency keys: the first request with a key runs; any request with the same key and body
gets its response again, byte for byte; the same key with another body is refused.

The key is claimed with one atomic `SET key pending NX PX ttl`: of two requests that arrive
together, exactly one claims it, where a check followed by a set would let both through.
Duplicates that arrive while the first is still running wait for its response.
"""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio

from app.errors import IdempotencyKeyInFlight, IdempotencyKeyReused

POLL_SECONDS = 0.05
WAIT_LIMIT_SECONDS = 10.0
"""How long a duplicate waits for the first request's response before it gives up (409)."""


@dataclass(frozen=True)
class Stored:
    status: int
    body: str
    replayed: bool
    """Whether this is a stored response sent again, not the first."""


def fingerprint(body: dict) -> str:
    """The request's body, whatever its spacing or key order."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def once(
    client: redis.asyncio.Redis,
    key: str,
    body: dict,
    ttl_seconds: float,
    run: Callable[[], Awaitable[tuple[int, str]]],
) -> Stored:
    """`run()` (its status and JSON body) if `key` is new; else the response it gave."""
    name, digest, ttl = f"idempotency:{key}", fingerprint(body), int(ttl_seconds * 1000)
    pending = json.dumps({"fingerprint": digest})
    if await client.set(name, pending, nx=True, px=ttl):  # PX: TTLs may be fractional
        try:
            status, response = await run()
        except BaseException:
            await client.delete(name)  # nothing happened: the client may try again
            raise
        done = {"fingerprint": digest, "status": status, "body": response}
        await client.set(name, json.dumps(done), px=ttl)
        return Stored(status, response, replayed=False)
    for _ in range(int(WAIT_LIMIT_SECONDS / POLL_SECONDS)):
        raw = await client.get(name)
        if raw is None:  # expired, or the first request failed: a fresh start
            return await once(client, key, body, ttl_seconds, run)
        record = json.loads(raw)
        if record["fingerprint"] != digest:
            raise IdempotencyKeyReused()
        if "status" in record:
            return Stored(record["status"], record["body"], replayed=True)
        await asyncio.sleep(POLL_SECONDS)
    raise IdempotencyKeyInFlight()
