"""Registering and finding users."""

import asyncio
import hashlib
import os
from datetime import UTC, datetime

from app.models.users import UserCreate
from app.store import Store, StoredUser


def hash_password(password: str) -> str:
    """A salted scrypt hash, from the standard library: deliberately slow to compute, so that a
    stolen table of hashes is slow to crack. (Module 5 compares password hashes.)"""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


async def register(store: Store, new: UserCreate) -> StoredUser:
    password_hash = await asyncio.to_thread(hash_password, new.password)
    # TODO (task 3): one account per email, whatever its case.
    user = StoredUser(
        id=store.next_user_id(),
        email=new.email,
        display_name=new.display_name,
        age=new.age,
        password_hash=password_hash,
        created_at=datetime.now(UTC),
    )
    store.users[user.id] = user
    store.user_ids_by_email[new.email.casefold()] = user.id
    return user


def find(store: Store, user_id: int) -> StoredUser:
    # TODO (task 3): an unknown id is a domain error, not a KeyError.
    return store.users[user_id]
