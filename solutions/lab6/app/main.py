"""Lab 6 — Calling other services: a service whose every answer depends on others."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app import errors
from app.config import get_settings
from app.routers import dashboard, orders, quotes, reports, summaries

CONNECTIONS = httpx.Limits(max_connections=20, max_keepalive_connections=20)
"""The pool every outbound call shares: at most 20 connections, all kept open between calls (a
lower keep-alive limit would close connections as soon as they are freed, under load)."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    # Task 1: one client for the app's life. Task 3: every attempt of every call is bounded.
    timeout = httpx.Timeout(settings.part_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, limits=CONNECTIONS) as client:
        app.state.client = client
        yield


app = FastAPI(title="Lab 6 — Calling other services", lifespan=lifespan)
errors.install(app)
for router in (dashboard, reports, quotes, summaries, orders):
    app.include_router(router.router)
