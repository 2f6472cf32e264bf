"""Thumbnails made by a Celery worker, behind a job API that answers at once.

`POST /thumbnails` records a job in Redis, sends a task through Redis to Celery, and answers
`202 Accepted` with the job's id; `GET /thumbnails/{job_id}` reads the job's record: queued,
running, succeeded (with the thumbnail) or failed (with the reason). The worker reads the original
photo's size from the photo store, retrying the store's passing failures with exponential backoff,
and fails at once on a photo that does not exist.

Module 7's lesson (sections "Celery: a broker, a worker and a result", "The job API" and "Retries
with backoff") includes parts of this file. Run its tests with `pytest examples/thumbnail_jobs.py`:
they start a real redis-server, a real worker (`celery -A thumbnail_jobs worker`), and the photo
store on a real uvicorn server.
"""

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Literal

import httpx
import pytest
import pytest_asyncio
import redis
from asgi_lifespan import LifespanManager
from celery import Celery
from celery.utils.time import get_exponential_backoff_interval
from fastapi import FastAPI, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from travel_upstreams import Supplier, running

from grader.services.celery_worker import CeleryWorker, celery_worker
from grader.services.redis import sync_redis_server


class Settings(BaseSettings):
    """The API's and the worker's settings, from THUMBNAILS_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="THUMBNAILS_")
    redis_url: str = "redis://127.0.0.1:6379/0"
    photo_store_url: str = "http://127.0.0.1:9000"
    backoff_base: float = 2.0  # seconds before the second attempt; each pause doubles


settings = Settings()

# --8<-- [start:celery]
celery_app = Celery("thumbnails", broker=settings.redis_url, backend=settings.redis_url)
celery_app.conf.update(
    task_acks_late=True,  # see "At-least-once delivery"
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    result_expires=24 * 3600,  # results stay in Redis for a day (Celery's default)
    broker_connection_retry_on_startup=True,  # wait for Redis at start-up (Celery 5 asks)
)


class Original(BaseModel):
    width: int
    height: int


def fetch_original(photo_store: httpx.Client, photo_id: str) -> Original:
    response = photo_store.get(f"/photos/{photo_id}")
    response.raise_for_status()
    return Original.model_validate_json(response.content)


@cache
def worker_photo_store() -> httpx.Client:
    """One client per worker process, made at its first task (Module 1: never one per call)."""
    return httpx.Client(base_url=settings.photo_store_url, timeout=5.0)


@celery_app.task
def photo_size(photo_id: str) -> dict[str, int]:
    return fetch_original(worker_photo_store(), photo_id).model_dump()


# --8<-- [end:celery]


# --8<-- [start:records]
JOB_TTL = 7 * 24 * 3600
"""Seconds a job's record is kept after its last change."""


class Thumbnail(BaseModel):
    photo_id: str
    width: int
    height: int


class ThumbnailJob(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    attempts: int
    thumbnail: Thumbnail | None = None
    error: str | None = None


def job_key(job_id: str) -> str:
    return f"thumbnail-job:{job_id}"


def save_job(store: redis.Redis, job_id: str, **fields: str | int | None) -> None:
    """Sets the job's fields (None deletes one), in one transaction that also renews its TTL."""
    with store.pipeline() as transaction:  # MULTI ... EXEC: all of it or none of it
        if changed := {name: value for name, value in fields.items() if value is not None}:
            transaction.hset(job_key(job_id), mapping=changed)
        if deleted := [name for name, value in fields.items() if value is None]:
            transaction.hdel(job_key(job_id), *deleted)
        transaction.expire(job_key(job_id), JOB_TTL)
        transaction.execute()


def load_job(store: redis.Redis, job_id: str) -> ThumbnailJob | None:
    record = store.hgetall(job_key(job_id))
    if not record:
        return None
    thumbnail = record.get("thumbnail")
    return ThumbnailJob(
        job_id=job_id,
        status=record["status"],
        attempts=int(record["attempts"]),
        thumbnail=Thumbnail.model_validate_json(thumbnail) if thumbnail else None,
        error=record.get("error"),
    )


# --8<-- [end:records]


# --8<-- [start:task]
ATTEMPTS = 4
TRANSIENT_STATUSES = {429, 502, 503, 504}


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base·2^(attempt−1),
    spread by ±10 % so that jobs that failed together do not all come back together."""
    return base * 2 ** (attempt - 1) * random.uniform(0.9, 1.1)


def is_transient(error: Exception) -> bool:
    """Failures that pass (Module 6's rules): no connection, or the store said "not now"."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in TRANSIENT_STATUSES
    return isinstance(error, httpx.TransportError)


@cache
def job_store() -> redis.Redis:
    """The worker's client for job records: created in each pool process, at its first task."""
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@celery_app.task(bind=True, max_retries=ATTEMPTS - 1, ignore_result=True)
def make_thumbnail(self, job_id: str, photo_id: str, width: int) -> None:
    attempt = self.request.retries + 1
    save_job(job_store(), job_id, status="running", attempts=attempt)
    try:
        original = fetch_original(worker_photo_store(), photo_id)
    except Exception as error:
        if is_transient(error) and attempt < ATTEMPTS:
            save_job(job_store(), job_id, status="queued", error=f"attempt {attempt}: {error}")
            raise self.retry(
                exc=error, countdown=backoff(attempt, settings.backoff_base)
            ) from error
        save_job(job_store(), job_id, status="failed", error=str(error))
        raise
    height = round(original.height * width / original.width)
    thumbnail = Thumbnail(photo_id=photo_id, width=width, height=height)
    save_job(
        job_store(), job_id, status="succeeded", thumbnail=thumbnail.model_dump_json(), error=None
    )


# --8<-- [end:task]


# --8<-- [start:api]
class ThumbnailOrder(BaseModel):
    photo_id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    width: int = Field(ge=16, le=1024)


def make_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        jobs = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        with httpx.Client(base_url=settings.photo_store_url, timeout=5.0) as photo_store:
            yield {"jobs": jobs, "photo_store": photo_store}
        jobs.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/thumbnails", status_code=status.HTTP_202_ACCEPTED)
    def order_thumbnail(
        order: ThumbnailOrder, request: Request, response: Response
    ) -> ThumbnailJob:
        job = ThumbnailJob(job_id=str(uuid.uuid4()), status="queued", attempts=0)
        # The record first: once sent, the task may start (and write) before this line returns.
        save_job(request.state.jobs, job.job_id, status=job.status, attempts=0)
        make_thumbnail.apply_async((job.job_id, order.photo_id, order.width), task_id=job.job_id)
        response.headers["Location"] = f"/thumbnails/{job.job_id}"
        return job

    @app.get("/thumbnails/{job_id}")
    def thumbnail_job(job_id: str, request: Request) -> ThumbnailJob:
        job = load_job(request.state.jobs, job_id)
        if job is None:  # never "queued": a client polling a mistyped id would wait forever
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no thumbnail job {job_id}")
        return job

    # --8<-- [end:api]

    # --8<-- [start:inline]
    @app.post("/thumbnails/inline")  # the work inside the request, kept for contrast
    def thumbnail_now(order: ThumbnailOrder, request: Request) -> Thumbnail:
        original = fetch_original(request.state.photo_store, order.photo_id)
        height = round(original.height * order.width / original.width)
        return Thumbnail(photo_id=order.photo_id, width=order.width, height=height)

    # --8<-- [end:inline]
    return app


def create_app() -> FastAPI:
    """The app with settings from the environment: `uvicorn --factory thumbnail_jobs:create_app`."""
    return make_app(Settings())


@pytest.fixture(scope="module")
def photo_store() -> Iterator[tuple[Supplier, str]]:
    store = Supplier()
    store.route("/photos/harbour", body={"width": 4000, "height": 3000})
    store.route(
        "/photos/lighthouse", statuses=[503, 503, 200], body={"width": 3000, "height": 4000}
    )
    with running(store) as url:
        yield store, url


@pytest.fixture(scope="module")
def test_settings(photo_store: tuple[Supplier, str]) -> Iterator[Settings]:
    """A redis-server of the module's own; this process's Celery app sends its tasks there."""
    with sync_redis_server() as server:
        celery_app.conf.update(broker_url=server.url, result_backend=server.url)
        yield Settings(redis_url=server.url, photo_store_url=photo_store[1], backoff_base=0.2)


@pytest.fixture(scope="module")
def worker(test_settings: Settings) -> Iterator[CeleryWorker]:
    env = {f"THUMBNAILS_{name.upper()}": str(value) for name, value in test_settings}
    with celery_worker("thumbnail_jobs", cwd=Path(__file__).parent, env=env) as worker:
        yield worker


@pytest_asyncio.fixture
async def api(test_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(make_app(test_settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://photos") as client:
            yield client


async def finished(api: httpx.AsyncClient, location: str, limit: float = 15) -> dict:
    """Polls a job until it has succeeded or failed; the statuses seen on the way are kept."""
    deadline, seen = time.monotonic() + limit, []
    while time.monotonic() < deadline:
        job = (await api.get(location)).json()
        seen.append(job["status"])
        if job["status"] in ("succeeded", "failed"):
            return {**job, "seen": seen}
        await asyncio.sleep(0.02)
    raise AssertionError(f"{location} did not finish within {limit} s: {seen[-1]}")


# --8<-- [start:basics_tests]
def test_a_task_sent_to_the_worker_comes_back_with_its_result(worker: CeleryWorker) -> None:
    result = photo_size.delay("harbour")  # a message in Redis; a worker process runs it
    assert result.get(timeout=10) == {"width": 4000, "height": 3000}  # from the result backend
    assert result.state == "SUCCESS"


def test_celery_calls_an_id_it_never_saw_pending(test_settings: Settings) -> None:
    assert celery_app.AsyncResult("no-such-task").state == "PENDING"


# --8<-- [end:basics_tests]


# --8<-- [start:api_tests]
@pytest.mark.asyncio
async def test_a_job_is_accepted_at_once_then_polled_until_done(
    api: httpx.AsyncClient, worker: CeleryWorker
) -> None:
    response = await api.post("/thumbnails", json={"photo_id": "harbour", "width": 200})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == f"/thumbnails/{job['job_id']}"

    done = await finished(api, response.headers["location"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["thumbnail"] == {"photo_id": "harbour", "width": 200, "height": 150}
    assert set(done["seen"]) <= {"queued", "running", "succeeded"}


@pytest.mark.asyncio
async def test_an_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/thumbnails/no-such-job")
    assert response.status_code == 404  # where Celery alone would have said PENDING


# --8<-- [end:api_tests]


# --8<-- [start:retry_tests]
@pytest.mark.asyncio
async def test_passing_failures_are_retried_after_growing_pauses(
    api: httpx.AsyncClient, worker: CeleryWorker, photo_store: tuple[Supplier, str]
) -> None:
    response = await api.post("/thumbnails", json={"photo_id": "lighthouse", "width": 300})
    done = await finished(api, response.headers["location"])
    assert done["status"] == "succeeded" and done["attempts"] == 3  # 503, 503, then the photo
    assert done["error"] is None

    calls = photo_store[0].calls_to("/photos/lighthouse")
    pauses = [
        later.started - earlier.started for earlier, later in zip(calls, calls[1:], strict=False)
    ]
    assert pauses[0] >= 0.9 * 0.2 and pauses[1] >= 0.9 * 0.4  # base 0.2 s, doubled, ±10 %


@pytest.mark.asyncio
async def test_a_photo_that_does_not_exist_fails_at_once(
    api: httpx.AsyncClient, worker: CeleryWorker, photo_store: tuple[Supplier, str]
) -> None:
    response = await api.post("/thumbnails", json={"photo_id": "atlantis", "width": 300})
    done = await finished(api, response.headers["location"])
    assert done["status"] == "failed" and done["attempts"] == 1
    assert "404" in done["error"]
    assert len(photo_store[0].calls_to("/photos/atlantis")) == 1  # a 404 is never retried


def test_celerys_own_backoff_counts_whole_seconds() -> None:
    # What `retry_backoff=0.2` computes: the factor is made a whole number of at least 1...
    pauses = [get_exponential_backoff_interval(int(max(1.0, 0.2)), n, 600) for n in range(3)]
    assert pauses == [1, 2, 4]
    # ...and its jitter (on by default) draws a whole number of seconds from 0 to the pause.
    assert {get_exponential_backoff_interval(1, 0, 600, full_jitter=True) for _ in range(50)} <= {
        0,
        1,
    }
    # This file's backoff keeps the base it was given.
    assert 0.18 <= backoff(1, 0.2) <= 0.22 and 0.72 <= backoff(3, 0.2) <= 0.88


# --8<-- [end:retry_tests]


@pytest.mark.asyncio
async def test_the_inline_route_answers_with_the_thumbnail_itself(api: httpx.AsyncClient) -> None:
    response = await api.post("/thumbnails/inline", json={"photo_id": "harbour", "width": 400})
    assert response.status_code == 200
    assert response.json() == {"photo_id": "harbour", "width": 400, "height": 300}
