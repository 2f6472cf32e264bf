"""Job records, kept in Redis as `job:<id>`: the API creates and reads them, the worker moves
them along (queued → running → succeeded or failed).

The app keeps its own record of every job because Celery cannot tell an unknown id from a job not
started yet: both read PENDING. The record is also what GET /jobs answers and what a webhook
sends, in one shape.
"""

import json
import uuid
from typing import Any

import redis
import redis.asyncio

Job = dict[str, Any]
PUBLIC = ("job_id", "status", "result", "error")
"""What a client sees of a job: the rest (payload, callback URL) is the worker's business."""


def key(job_id: str) -> str:
    return f"job:{job_id}"


def new(kind: str, payload: dict[str, Any], callback_url: str | None) -> Job:
    job_id = uuid.uuid4().hex
    return {
        "job_id": job_id, "kind": kind, "payload": payload, "callback_url": callback_url,
        "status": "queued", "result": None, "error": None,
    }  # fmt: skip


def public(job: Job) -> Job:
    return {name: job[name] for name in PUBLIC}


async def save(client: redis.asyncio.Redis, job: Job) -> None:
    await client.set(key(job["job_id"]), json.dumps(job))


async def load(client: redis.asyncio.Redis, job_id: str) -> Job | None:
    raw = await client.get(key(job_id))
    return json.loads(raw) if raw is not None else None


def read(client: redis.Redis, job_id: str) -> Job:
    """The record, in the worker (a synchronous client: tasks are plain functions)."""
    return json.loads(client.get(key(job_id)))


def update(client: redis.Redis, job_id: str, **changes: Any) -> Job:
    """Change the record, in the worker: only the worker running the job writes it then."""
    job = {**read(client, job_id), **changes}
    client.set(key(job_id), json.dumps(job))
    return job
