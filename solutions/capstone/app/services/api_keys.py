"""Issuing, finding and revoking API keys.

A key is 32 random bytes from `secrets`, behind a visible prefix that says what it is (so that a
key pasted into a chat or a repository is easy to spot). Only its SHA-256 is stored: a fast hash
is enough for a secret that random, which no one can guess, unlike a password. A key is found by
its hash, so no comparison ever touches the raw key of another.
"""

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from app.errors import ApiKeyNotFound
from app.models.api_keys import ApiKeyCreated, ApiKeyPublic, Scope

PREFIX = "helpdesk_"
SHOWN = len(PREFIX) + 4
"""How much of a key its listing shows."""


@dataclass(frozen=True)
class ApiKey:
    """A key that authenticated a request."""

    key_id: str
    owner: str
    scopes: tuple[str, ...]


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create(db: sqlite3.Connection, owner: str, scopes: list[Scope]) -> ApiKeyCreated:
    key_id, raw_key = secrets.token_hex(8), PREFIX + secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO api_keys (key_id, prefix, key_hash, owner, scopes, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (key_id, raw_key[:SHOWN], digest(raw_key), owner, json.dumps(scopes), _now()),
    )
    return ApiKeyCreated(key_id=key_id, api_key=raw_key, owner=owner, scopes=scopes)


def listing(db: sqlite3.Connection) -> list[ApiKeyPublic]:
    rows = db.execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
    return [
        ApiKeyPublic(
            key_id=row["key_id"],
            prefix=row["prefix"],
            owner=row["owner"],
            scopes=json.loads(row["scopes"]),
            created_at=row["created_at"],
            revoked=row["revoked_at"] is not None,
        )
        for row in rows
    ]


def revoke(db: sqlite3.Connection, key_id: str) -> None:
    found = db.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
    if found is None:
        raise ApiKeyNotFound(key_id)
    db.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
        (_now(), key_id),
    )


def find(db: sqlite3.Connection, raw_key: str) -> ApiKey | None:
    """The live key whose hash matches, or None (unknown, or revoked)."""
    row = db.execute(
        "SELECT key_id, owner, scopes FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        (digest(raw_key),),
    ).fetchone()
    if row is None:
        return None
    return ApiKey(row["key_id"], row["owner"], tuple(json.loads(row["scopes"])))


def _now() -> str:
    return datetime.now(UTC).isoformat()
