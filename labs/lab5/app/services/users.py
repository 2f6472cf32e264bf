"""Registering users and checking their passwords."""

import sqlite3
from datetime import UTC, datetime

from app.errors import UsernameTaken
from app.models.users import UserCreate, UserPublic


def register(db: sqlite3.Connection, new: UserCreate) -> UserPublic:
    # TODO (task 3): store a hash of the password, never the password.
    password_hash = new.password
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
        return None
    return UserPublic(username=username) if password == row["password_hash"] else None


def find(db: sqlite3.Connection, username: str) -> UserPublic | None:
    row = db.execute("SELECT username FROM users WHERE username = ?", (username,)).fetchone()
    return UserPublic(username=row["username"]) if row else None
