"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret.

Signing the timestamp with the body means a captured webhook cannot be sent again later with a
fresh timestamp: the receiver refuses old timestamps, and a new one breaks the signature.
"""

import hashlib
import hmac

SCHEME = "sha256="
MAX_AGE_SECONDS = 300
"""How old a received webhook may be: older, it may be a replay."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature header's value: `sha256=<hex digest>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def matches(secret: str, timestamp: str, body: bytes, received: str) -> bool:
    """Whether `received` is the signature of `timestamp` and `body`, compared in constant time:
    how long the comparison takes says nothing of how much of a forgery was right."""
    return hmac.compare_digest(signature(secret, timestamp, body), received)
