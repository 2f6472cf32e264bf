"""Lab 7 — Work that must not be lost: jobs on a real queue, payments safe to repeat, webhooks."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from fastapi import FastAPI

from app import errors
from app.config import get_settings
from app.routers import jobs, payments, webhooks


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, redis.asyncio.Redis]]:
    client = redis.asyncio.Redis.from_url(get_settings().redis_url)
    yield {"redis": client}
    await client.aclose()


app = FastAPI(title="Lab 7 — Reports and payments", lifespan=lifespan)
errors.install(app)
app.include_router(jobs.router)
app.include_router(payments.router)
app.include_router(webhooks.router)
