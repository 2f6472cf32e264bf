"""Lab 1 — Lifespan and dependency injection: one LLM client for the app, from start to stop."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anthropic import AsyncAnthropic
from fastapi import FastAPI

from app.config import get_settings
from app.dependencies import SettingsDep
from app.routers import admin, chat, rag


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Before the yield: startup, before the first request. After it: shutdown, after the last."""
    settings = get_settings()  # fails fast: a missing ANTHROPIC_API_KEY stops the app here
    app.state.llm = AsyncAnthropic(api_key=settings.anthropic_api_key.get_secret_value())
    print("Lab 1 app: startup complete, one LLM client ready", flush=True)
    yield
    await app.state.llm.close()
    print("Lab 1 app: shutdown complete, LLM client closed", flush=True)


app = FastAPI(title="Lab 1 — Lifespan and dependency injection", lifespan=lifespan)
app.include_router(chat.router)
app.include_router(rag.router)
app.include_router(admin.router)


@app.get("/slow")
async def slow(settings: SettingsDep) -> dict[str, str]:
    """Takes SLOW_SECONDS: long enough to still be running when the server is told to stop."""
    await asyncio.sleep(settings.slow_seconds)
    return {"status": "done"}
