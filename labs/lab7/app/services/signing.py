"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret.

Signing the timestamp with the body means a captured webhook cannot be sent again later with a
fresh timestamp: the receiver refuses old timestamps, and a new one breaks the signature.
"""

SCHEME = "sha256="
MAX_AGE_SECONDS = 300
"""How old a received webhook may be: older, it may be a replay."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature header's value: `sha256=<hex digest>`."""
    # TODO 5a: the HMAC-SHA256, with the secret, of the timestamp, a dot, and the body.
    raise NotImplementedError


def matches(secret: str, timestamp: str, body: bytes, received: str) -> bool:
    """Whether `received` is the signature of `timestamp` and `body`."""
    # TODO 5c: compare with the signature you compute, in constant time.
    raise NotImplementedError
