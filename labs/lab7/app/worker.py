"""The Celery app and its tasks: `celery -A app.worker worker` runs them, in worker processes of
their own, so that a job outlives the API that accepted it."""

import json
import time
from functools import cache

import httpx
import redis
from celery import Celery, Task

from app.config import get_settings
from app.services import jobs

settings = get_settings()
celery = Celery("lab7", broker=settings.redis_url, backend=settings.redis_url)
# TODO 2: a job must survive a worker killed mid-job: acknowledge its message only once it has
# run, and have Redis hand it to another worker after VISIBILITY_TIMEOUT_SECONDS. kombu looks for
# such messages only every 100 s or so by default (unacked_restore_interval × _throttle).
celery.conf.update(worker_prefetch_multiplier=1)  # a worker holds no more messages than it runs


class TryAgain(Exception):
    """A failure worth another try: the report's data source is not ready yet."""


@cache
def store() -> redis.Redis:
    """One Redis client per worker process, for the job records."""
    return redis.Redis.from_url(settings.redis_url)


@cache
def http() -> httpx.Client:
    """One HTTP client per worker process, for the webhooks: its connections are reused."""
    return httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0))


def make_report(payload: dict) -> dict:
    time.sleep(settings.job_seconds)  # the work: querying, aggregating, rendering
    rows = payload.get("rows", 0)
    return {"rows": rows, "summary": f"Report of {rows} rows"}


@celery.task(bind=True, name="reports.run")
def run_report(self: Task, job_id: str) -> None:
    job = jobs.update(store(), job_id, status="running")
    try:
        if self.request.retries < job["payload"].get("fail_times", 0):
            raise TryAgain(f"the data source was not ready (try {self.request.retries + 1})")
        result = make_report(job["payload"])
    except TryAgain as error:
        # TODO 3: retry after RETRY_BASE_SECONDS · 2^(n−1) (settings.retry_pause), reading
        # "queued" meanwhile, MAX_RETRIES times at most; only then fail for good.
        job = jobs.update(store(), job_id, status="failed", error=str(error))
    else:
        job = jobs.update(store(), job_id, status="succeeded", result=result)
    if job["callback_url"]:
        deliver_webhook.delay(job_id)


@celery.task(bind=True, name="webhooks.deliver")
def deliver_webhook(self: Task, job_id: str) -> None:
    """POST the job to its callback URL."""
    job = jobs.read(store(), job_id)
    body = json.dumps(jobs.public(job)).encode()
    # TODO 5b: sign it (X-Timestamp, X-Signature: signing.signature), and retry with backoff
    # until the receiver answers 2xx, MAX_RETRIES times at most: never again after.
    http().post(job["callback_url"], content=body, headers={"Content-Type": "application/json"})
