"""Lab 8 — Observability: logs, metrics and traces that explain every request."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app import errors, logs, tracing
from app.config import get_settings
from app.middleware import Observability
from app.routers import items, ops, users

logs.configure()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    provider = tracing.configure(get_settings())
    async with httpx.AsyncClient(timeout=5.0) as client:
        app.state.client = client
        yield
    provider.shutdown()  # exports the spans still waiting in the batch


# FastAPI's own telemetry is off: the middleware makes the server spans (with exception events,
# which FastAPI's lack) and Prometheus, not OpenTelemetry, holds the metrics.
app = FastAPI(
    title="Lab 8 — Observability",
    lifespan=lifespan,
    telemetry={"tracing": False, "metrics": False, "logs": False},
)
errors.install(app)
app.add_middleware(Observability)
app.include_router(items.router)
app.include_router(users.router)
app.include_router(ops.router)
