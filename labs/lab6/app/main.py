"""Lab 6 — Calling other services: a service whose every answer depends on others."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import errors
from app.routers import dashboard, orders, quotes, reports, summaries


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # TODO 1: create one httpx.AsyncClient here, for the app's whole life, with `httpx.Limits`
    # for its pool, keep it in app.state, and close it after the yield (`async with` does both).
    # TODO 3: give it a timeout: every attempt of every call, PART_TIMEOUT_SECONDS at most.
    yield


app = FastAPI(title="Lab 6 — Calling other services", lifespan=lifespan)
errors.install(app)
for router in (dashboard, reports, quotes, summaries, orders):
    app.include_router(router.router)
