"""Lab 3 — Async safety: three ways to wait, and work that outlives its request.

Grade your work with `pytest labs/lab3`. The lab page lists the tasks; each TODO below names one.
"""

import asyncio
import time
import uuid
from typing import Literal

from fastapi import BackgroundTasks, FastAPI, status
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
    # TODO (task 2): wait without blocking the event loop.
    time.sleep(settings.sleep_seconds)
    return {"endpoint": "slow-async"}


@app.get("/slow-fixed")
async def slow_fixed() -> dict[str, str]:
    # TODO (task 3): keep this blocking time.sleep call, but run it on a worker thread.
    time.sleep(settings.sleep_seconds)
    return {"endpoint": "slow-fixed"}


async def finish_task(task_id: str) -> None:
    await asyncio.sleep(settings.task_seconds)
    tasks[task_id].status = "done"


@app.post("/tasks", status_code=status.HTTP_202_ACCEPTED)
async def create_task(background_tasks: BackgroundTasks) -> TaskStatus:
    # TODO (task 4): answer at once and let the work run after the response.
    task = TaskStatus(task_id=uuid.uuid4().hex, status="pending")
    tasks[task.task_id] = task
    await finish_task(task.task_id)
    return task


@app.get("/tasks/{task_id}")
async def read_task(task_id: str) -> TaskStatus:
    # TODO (task 5): an unknown task_id is 404 Not Found.
    return tasks.get(task_id, TaskStatus(task_id=task_id, status="pending"))
