"""Lab 4 — Validation and errors: a users-and-orders API that trusts nothing it receives."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app import errors
from app.config import get_settings
from app.routers import debug, orders, users
from app.store import Store


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    app.state.store = Store()
    # TODO (task 4): a call to the avatar service must not wait forever.
    async with httpx.AsyncClient(
        base_url=settings.avatar_service_url, timeout=None
    ) as avatar_client:
        app.state.avatar_client = avatar_client
        yield


app = FastAPI(title="Lab 4 — Validation and errors", lifespan=lifespan)
errors.install(app)
app.include_router(users.router)
app.include_router(orders.router)
app.include_router(debug.router)
