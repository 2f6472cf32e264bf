"""Lab 10 — Deployment: the inventory service, as it runs in production under gunicorn."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.draining import Draining
from app.routers import inventory, probes


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Draining]]:
    draining = Draining()
    draining.watch()
    yield {"draining": draining}
    # TODO 2: every request in flight has finished: say so, with a line of your own containing
    # "shutdown complete" (with the worker's pid, say).


def create_app() -> FastAPI:
    # TODO 4a: the docs (/docs, /redoc) and the schema (/openapi.json) in development only: the
    # settings (app.config.get_settings()) say which environment this is.
    app = FastAPI(title="Lab 10 — Inventory", lifespan=lifespan)
    # TODO 4c: gzip responses over 1 KB, and only those.
    # TODO 4d: answer 400 to a Host that is not in the settings' allowed_hosts.
    # TODO 4b: the security headers (app/security.py) on every response.
    app.include_router(inventory.router)
    app.include_router(probes.router)
    return app


app = create_app()
