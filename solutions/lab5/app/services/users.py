"""Registering users and checking their passwords.

Passwords are hashed with argon2 (pwdlib's recommended settings): slow and memory-hard on
purpose, so that a stolen table costs an attacker as much per guess as it costs us per login.
"""

import sqlite3
from datetime import UTC, datetime

from pwdlib import PasswordHash

from app.errors import UsernameTaken
from app.models.users import UserCreate, UserPublic

hasher = PasswordHash.recommended()
DUMMY_HASH = hasher.hash("a password nobody has")
"""Checked against when a username is unknown, so that a wrong username takes as long to refuse
as a wrong password, and timing does not tell which usernames exist."""


def register(db: sqlite3.Connection, new: UserCreate) -> UserPublic:
    password_hash = hasher.hash(new.password)
    try:
        db.execute(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
            (new.username, password_hash, datetime.now(UTC).isoformat()),
        )
    except sqlite3.IntegrityError:
        raise UsernameTaken() from None
    return UserPublic(username=new.username)


def authenticate(db: sqlite3.Connection, username: str, password: str) -> UserPublic | None:
    row = db.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        hasher.verify(password, DUMMY_HASH)
        return None
    return UserPublic(username=username) if hasher.verify(password, row["password_hash"]) else None


def find(db: sqlite3.Connection, username: str) -> UserPublic | None:
    row = db.execute("SELECT username FROM users WHERE username = ?", (username,)).fetchone()
    return UserPublic(username=row["username"]) if row else None
