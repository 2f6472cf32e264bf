"""Capstone — the IT help desk's assistant, production-ready: streamed chat, answers from the
help desk's documents, an agent that searches them, API keys with scopes and rate limits, request
ids and JSON access logs, probes for the orchestrator; served by gunicorn (gunicorn.conf.py).

The ASGI target is `app.main:app`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import database, errors, middleware
from app.config import get_settings
from app.logs import configure_logging
from app.routers import admin, agent, chat, rag
from app.services.conversations import Conversations
from app.services.rate_limit import RateLimiter
from app.services.usage import UsageLedger


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Before the yield: start-up, before the first request. After it: shutdown, after the last.
    What it yields is the state every request reads its dependencies from (dependencies.py)."""
    settings = get_settings()
    database.create_tables(settings.database_path)
    ledger = UsageLedger()
    # TODO 1: create, once for the process, the model client and the knowledge store, and put
    # them in the state below as "client" and "knowledge" (dependencies.py then reads them there):
    # - `anthropic.AsyncAnthropic` with the settings' key and base URL, and its own retries off
    #   (`max_retries=0`: services/model.py decides what is tried again), closed when the app
    #   stops (`async with`);
    # - `Knowledge(settings.chroma_path)`, built in a worker thread (`asyncio.to_thread`): it
    #   loads the embedding model, which would stall the event loop.
    # TODO 5c: start `ledger.run()` as a task here (it adds up the usage the routes record), and
    # cancel it when the app stops.
    yield {
        "conversations": Conversations(),
        "ledger": ledger,
        "rate_limiter": RateLimiter(settings.rate_limit_per_minute),
    }


def create_app() -> FastAPI:
    configure_logging()
    settings = get_settings()  # a missing ANTHROPIC_API_KEY or ADMIN_API_KEY stops the app here
    app = FastAPI(title="Capstone — The help desk's assistant", lifespan=lifespan)
    errors.install(app)
    middleware.install(app, settings)
    for router in (chat.router, rag.router, agent.router, admin.router):
        app.include_router(router)
    return app


app = create_app()
