"""Registering and finding users."""

import asyncio
import hashlib
import os
from datetime import UTC, datetime

from app.errors import EmailTaken, UserNotFound
from app.models.users import UserCreate
from app.store import Store, StoredUser


def hash_password(password: str) -> str:
    """A salted scrypt hash, from the standard library: deliberately slow to compute, so that a
    stolen table of hashes is slow to crack. (Module 5 compares password hashes.)"""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


async def register(store: Store, new: UserCreate) -> StoredUser:
    # The slow hash runs on a worker thread; the check and the insert below run with no await
    # between them, so two requests for one email cannot both get through.
    password_hash = await asyncio.to_thread(hash_password, new.password)
    key = new.email.casefold()
    if key in store.user_ids_by_email:
        raise EmailTaken()
    user = StoredUser(
        id=store.next_user_id(),
        email=new.email,
        display_name=new.display_name,
        age=new.age,
        password_hash=password_hash,
        created_at=datetime.now(UTC),
    )
    store.users[user.id] = user
    store.user_ids_by_email[key] = user.id
    return user


def find(store: Store, user_id: int) -> StoredUser:
    try:
        return store.users[user_id]
    except KeyError:
        raise UserNotFound(user_id) from None
