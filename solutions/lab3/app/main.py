"""Lab 3 — Async safety: three ways to wait, and work that outlives its request."""

import asyncio
import time
import uuid
from typing import Literal

from fastapi import BackgroundTasks, FastAPI, HTTPException, status
from pydantic import BaseModel

from app.config import get_settings

app = FastAPI(title="Lab 3 — Async safety")
settings = get_settings()


class TaskStatus(BaseModel):
    task_id: str
    status: Literal["pending", "done"]


# In-process task store: enough for this lab; lost on restart (see the lesson on real queues).
tasks: dict[str, TaskStatus] = {}


@app.get("/slow-sync")
async def slow_sync() -> dict[str, str]:
    """The deliberate mistake, kept as the lab's control: time.sleep blocks the event loop."""
    time.sleep(settings.sleep_seconds)
    return {"endpoint": "slow-sync"}


@app.get("/slow-async")
async def slow_async() -> dict[str, str]:
    """Awaiting hands the event loop back to other requests while this one waits."""
    await asyncio.sleep(settings.sleep_seconds)
    return {"endpoint": "slow-async"}


@app.get("/slow-fixed")
async def slow_fixed() -> dict[str, str]:
    """The blocking call stays, but runs on a worker thread while the event loop serves others."""
    await asyncio.to_thread(time.sleep, settings.sleep_seconds)
    return {"endpoint": "slow-fixed"}


async def finish_task(task_id: str) -> None:
    await asyncio.sleep(settings.task_seconds)
    tasks[task_id].status = "done"


@app.post("/tasks", status_code=status.HTTP_202_ACCEPTED)
async def create_task(background_tasks: BackgroundTasks) -> TaskStatus:
    """Answer 202 at once; the work runs after the response has been sent."""
    task = TaskStatus(task_id=uuid.uuid4().hex, status="pending")
    tasks[task.task_id] = task
    background_tasks.add_task(finish_task, task.task_id)
    return task


@app.get("/tasks/{task_id}")
async def read_task(task_id: str) -> TaskStatus:
    if task_id not in tasks:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No task {task_id}")
    return tasks[task_id]
