"""Items."""

import sqlite3

from app.models.items import Item, ItemCreate


def listing(db: sqlite3.Connection) -> list[Item]:
    rows = db.execute("SELECT id, name, created_by FROM items ORDER BY id").fetchall()
    return [Item(**row) for row in rows]


def create(db: sqlite3.Connection, new: ItemCreate, created_by: str) -> Item:
    cursor = db.execute(
        "INSERT INTO items (name, created_by) VALUES (?, ?)", (new.name, created_by)
    )
    return Item(id=cursor.lastrowid, name=new.name, created_by=created_by)
