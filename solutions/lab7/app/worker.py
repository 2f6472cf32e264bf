"""The Celery app and its tasks: `celery -A app.worker worker` runs them, in worker processes of
their own, so that a job outlives the API that accepted it.

Delivery is at least once: a task is acknowledged only once it has run (acks_late), so a worker
that dies mid-job leaves its message in Redis, and Redis hands it to another worker once the
visibility timeout has passed. A task may therefore run twice: each one starts from the job's
record and ends by writing it whole, so a second run does the same as the first.
"""

import json
import time
from functools import cache

import httpx
import redis
from celery import Celery, Task

from app.config import get_settings
from app.services import jobs, signing

settings = get_settings()
celery = Celery("lab7", broker=settings.redis_url, backend=settings.redis_url)
celery.conf.update(
    task_acks_late=True,  # acknowledged after the task has run, not when it is taken
    task_reject_on_worker_lost=True,  # a pool process killed mid-task hands its message back
    worker_prefetch_multiplier=1,  # a worker holds no more messages than it runs
    broker_transport_options={
        "visibility_timeout": settings.visibility_timeout_seconds,
        # kombu looks for messages whose worker died every interval × throttle seconds: about
        # every 100 s by default. Every second, or half the timeout if shorter, here.
        "unacked_restore_interval": min(1.0, settings.visibility_timeout_seconds / 2),
        "unacked_restore_throttle": 1,
    },
)


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
        if self.request.retries >= settings.max_retries:
            job = jobs.update(store(), job_id, status="failed", error=str(error))
        else:
            jobs.update(store(), job_id, status="queued")
            retry = self.request.retries + 1
            raise self.retry(
                exc=error, countdown=settings.retry_pause(retry), max_retries=settings.max_retries
            ) from error
    else:
        job = jobs.update(store(), job_id, status="succeeded", result=result)
    if job["callback_url"]:
        deliver_webhook.delay(job_id)


@celery.task(bind=True, name="webhooks.deliver")
def deliver_webhook(self: Task, job_id: str) -> None:
    """POST the job to its callback URL, signed; retried with backoff until the receiver answers
    2xx, at most MAX_RETRIES times, and never again after."""
    job = jobs.read(store(), job_id)
    body = json.dumps(jobs.public(job)).encode()
    timestamp = str(int(time.time()))  # signed anew on every try: the receiver checks its age
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": timestamp,
        "X-Signature": signing.signature(
            settings.webhook_secret.get_secret_value(), timestamp, body
        ),
    }
    try:
        delivered = http().post(job["callback_url"], content=body, headers=headers).is_success
    except httpx.HTTPError:
        delivered = False
    if not delivered and self.request.retries < settings.max_retries:
        retry = self.request.retries + 1
        raise self.retry(countdown=settings.retry_pause(retry), max_retries=settings.max_retries)
