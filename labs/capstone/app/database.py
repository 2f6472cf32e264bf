"""The SQLite database of API keys: its table, and a connection per request.

Only hashes of keys are stored: a copy of this file, a backup or a leaked dump gives nobody a key
that works.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


def create_tables(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(SCHEMA)


def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection for one request, committed when it ends well. FastAPI may run the
    dependency and the endpoint on different worker threads: the connection is only ever used
    by one of them at a time."""
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    try:
        yield connection
        connection.commit()
    finally:
        connection.close()
