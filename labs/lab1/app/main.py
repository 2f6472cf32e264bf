"""Lab 1 — Lifespan and dependency injection: one LLM client for the app, from start to stop.

Grade your work with `pytest labs/lab1`. The lab page lists the tasks; each TODO names one.
"""

import asyncio

from fastapi import FastAPI

from app.config import slow_seconds
from app.routers import admin, chat, rag

# TODO (task 2): a lifespan that creates the LLM client at startup and closes it at shutdown,
# printing a line with "startup complete" and one with "shutdown complete".
app = FastAPI(title="Lab 1 — Lifespan and dependency injection")
app.include_router(chat.router)
app.include_router(rag.router)
app.include_router(admin.router)


@app.get("/slow")
async def slow() -> dict[str, str]:
    """Takes SLOW_SECONDS: long enough to still be running when the server is told to stop."""
    await asyncio.sleep(slow_seconds())
    return {"status": "done"}
