"""Capstone — the IT help desk's assistant, production-ready: streamed chat, answers from the
help desk's documents, an agent that searches them, API keys with scopes and rate limits, request
ids and JSON access logs, probes for the orchestrator; served by gunicorn (gunicorn.conf.py).

The ASGI target is `app.main:app`.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
from fastapi import FastAPI

from app import database, errors, middleware
from app.config import get_settings
from app.logs import configure_logging
from app.routers import admin, agent, chat, rag
from app.services.conversations import Conversations
from app.services.knowledge import Knowledge
from app.services.rate_limit import RateLimiter
from app.services.usage import UsageLedger

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Before the yield: start-up, before the first request. After it: shutdown, after the last.
    What it yields is the state every request reads its dependencies from (dependencies.py)."""
    settings = get_settings()
    database.create_tables(settings.database_path)
    knowledge = await asyncio.to_thread(Knowledge, settings.chroma_path)  # loads the embeddings
    ledger = UsageLedger()
    # One client for the process: its connections are kept and reused by every request. Its own
    # retries are off: services/model.py decides what is tried again, and when.
    async with anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=0,
        timeout=60.0,
    ) as client:
        adding_up = asyncio.create_task(ledger.run())
        logger.info("startup complete", extra={"fields": {"pid": os.getpid()}})
        yield {
            "client": client,
            "knowledge": knowledge,
            "conversations": Conversations(),
            "ledger": ledger,
            "rate_limiter": RateLimiter(settings.rate_limit_per_minute),
        }
        adding_up.cancel()
    # Every request in flight has finished, and the client is closed.
    logger.info("shutdown complete", extra={"fields": {"pid": os.getpid()}})


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
