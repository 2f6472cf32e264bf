"""Lab 9 — AI APIs: the IT help desk's assistant, streamed, grounded in documents, accounted for."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
from fastapi import FastAPI

from app import errors
from app.config import get_settings
from app.routers import admin, chat, rag
from app.services.conversations import Conversations
from app.services.knowledge import Knowledge
from app.services.usage import UsageLedger


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings = get_settings()
    knowledge = await asyncio.to_thread(Knowledge, settings.chroma_path)
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
        yield {
            "client": client,
            "knowledge": knowledge,
            "conversations": Conversations(),
            "ledger": ledger,
        }
        adding_up.cancel()


app = FastAPI(title="Lab 9 — The help desk's assistant", lifespan=lifespan)
errors.install(app)
app.include_router(chat.router)
app.include_router(rag.router)
app.include_router(admin.router)
