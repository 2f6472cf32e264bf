"""Lab 10 — Deployment: the inventory service, as it runs in production under gunicorn."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware

from app.config import get_settings
from app.draining import Draining
from app.routers import inventory, probes
from app.security import SecurityHeaders


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Draining]]:
    draining = Draining()
    draining.watch()
    yield {"draining": draining}
    # Every request in flight has finished: this is where connections and clients are closed.
    print(f"Inventory worker {os.getpid()}: shutdown complete", flush=True)


def create_app() -> FastAPI:
    settings = get_settings()
    docs = settings.environment == "development"  # the API's map is not published in production
    app = FastAPI(
        title="Lab 10 — Inventory",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders)  # outermost: its headers go on every answer, 400s too
    app.include_router(inventory.router)
    app.include_router(probes.router)
    return app


app = create_app()
