"""Lab 9 — AI APIs: the IT help desk's assistant, streamed, grounded in documents, accounted for."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
    # TODO 1: create the model client here, once for the process: `anthropic.AsyncAnthropic`
    # with the key and base URL from the settings, and its own retries off (`max_retries=0`:
    # services/model.py decides what is tried again). Close it when the app stops (`async with`),
    # and put it in the state below as "client" (deps.get_client reads it).
    # TODO 5b: start `ledger.run()` as a task here, and cancel it when the app stops.
    yield {"knowledge": knowledge, "conversations": Conversations(), "ledger": ledger}


app = FastAPI(title="Lab 9 — The help desk's assistant", lifespan=lifespan)
errors.install(app)
app.include_router(chat.router)
app.include_router(rag.router)
app.include_router(admin.router)
