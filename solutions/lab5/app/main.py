"""Lab 5 — Authentication and authorisation: API keys with scopes, passwords, access tokens."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import database, errors
from app.config import get_settings
from app.routers import admin, auth, items, me, ws
from app.services.rate_limit import RateLimiter


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()  # a missing or weak secret stops the app here
    database.create_tables(settings.database_path)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    yield


app = FastAPI(title="Lab 5 — Authentication and authorisation", lifespan=lifespan)
errors.install(app)
for router in (admin.router, items.router, auth.router, me.router, ws.router):
    app.include_router(router)
