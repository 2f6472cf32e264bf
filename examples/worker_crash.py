"""What a worker's crash does to an invoice e-mail in flight, with a real Celery worker on Redis.

Three tasks send the same invoice e-mail and differ only in when their message is acknowledged:
before the task runs (Celery's default), after it, or after it and handed back if the process
running it dies. The tests kill the pool process running a task, or the whole worker, with
SIGKILL (a crash, an out-of-memory kill, a machine that goes away), and then read Redis to see
whether the e-mail's message still exists anywhere.

Module 7's lesson (section "At-least-once delivery") includes parts of this file. Run its tests
with `pytest examples/worker_crash.py`: they start a real redis-server and real workers
(`celery -A worker_crash worker`).
"""

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path

import pytest
import redis
from billiard.exceptions import WorkerLostError
from celery import Celery

from grader.services.celery_worker import CeleryWorker, celery_worker
from grader.services.redis import sync_redis_server

REDIS_URL = os.environ.get("INVOICES_REDIS_URL", "redis://127.0.0.1:6379/0")
MAIL_SECONDS = float(os.environ.get("INVOICES_MAIL_SECONDS", "0.5"))
"""How long handing an e-mail to the mail server takes."""

# --8<-- [start:config]
VISIBILITY_TIMEOUT = float(os.environ.get("INVOICES_VISIBILITY_TIMEOUT", "3600"))
"""Seconds a message may stay unacknowledged before Redis hands it to another worker: longer
than the longest task, with its retries' countdowns, or a task still running is run twice."""

celery_app = Celery("invoices", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.update(
    task_acks_late=True,  # acknowledge a message once its task has ended, not as it starts
    task_reject_on_worker_lost=True,  # and if the process running it dies: hand it back
    worker_prefetch_multiplier=1,  # hold no more messages than there are pool processes
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        # kombu 5.7: look for messages left by a dead worker every second (by default, every
        # 10 s × 10 = 100 s: on top of the visibility timeout)
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
    broker_connection_retry_on_startup=True,  # wait for Redis at start-up (Celery 5 asks)
)
# --8<-- [end:config]


@cache
def mail_log() -> redis.Redis:
    """What each attempt did, kept in Redis: one client per process (each pool process its own)."""
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def send_invoice_email(invoice_id: str) -> str:
    mail_log().rpush(f"invoice:{invoice_id}:started", json.dumps([os.getpid(), time.time()]))
    time.sleep(MAIL_SECONDS)  # stands for the mail server's answer
    mail_log().rpush(f"invoice:{invoice_id}:sent", time.time())
    return invoice_id


# --8<-- [start:tasks]
@celery_app.task(acks_late=False)  # Celery's default: acknowledged as the task starts
def email_invoice_ack_early(invoice_id: str) -> str:
    return send_invoice_email(invoice_id)


@celery_app.task(reject_on_worker_lost=False)  # acknowledged at the end, whatever the end
def email_invoice_ack_late(invoice_id: str) -> str:
    return send_invoice_email(invoice_id)


@celery_app.task  # the app's settings: acknowledged at the end, handed back if the process dies
def email_invoice(invoice_id: str) -> str:
    return send_invoice_email(invoice_id)


# --8<-- [end:tasks]


@pytest.fixture(scope="module")
def broker() -> Iterator[redis.Redis]:
    """A redis-server of this module's own, which this process's Celery app talks to."""
    with sync_redis_server() as server:
        celery_app.conf.update(broker_url=server.url, result_backend=server.url)
        yield redis.Redis.from_url(server.url, decode_responses=True)


@pytest.fixture
def clean_broker(broker: redis.Redis) -> redis.Redis:
    broker.flushdb()
    return broker


def start_worker(
    visibility_timeout: float, concurrency: int
) -> AbstractContextManager[CeleryWorker]:
    """A real worker of this file's Celery app, on the tests' Redis."""
    env = {
        "INVOICES_REDIS_URL": celery_app.conf.broker_url,
        "INVOICES_VISIBILITY_TIMEOUT": str(visibility_timeout),
    }
    return celery_worker(
        "worker_crash", cwd=Path(__file__).parent, env=env, concurrency=concurrency
    )


def started(broker: redis.Redis, invoice_id: str, count: int = 1, limit: float = 10) -> list:
    """The invoice's attempts so far, [pid, time] each, once there are at least `count`."""
    deadline = time.monotonic() + limit
    while len(attempts := broker.lrange(f"invoice:{invoice_id}:started", 0, -1)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"invoice {invoice_id}: {len(attempts)} attempts, not {count}")
        time.sleep(0.01)
    return [json.loads(attempt) for attempt in attempts]


def message_ids(broker: redis.Redis) -> dict[str, list[str]]:
    """The task ids of every message Redis holds: waiting in the queue, or delivered and not
    yet acknowledged (kombu keeps those in the `unacked` hash until the ack)."""
    waiting = [json.loads(raw)["headers"]["id"] for raw in broker.lrange("celery", 0, -1)]
    unacked = [json.loads(raw)[0]["headers"]["id"] for raw in broker.hvals("unacked")]
    return {"waiting": waiting, "unacked": unacked}


def until(condition: Callable[[], bool], limit: float = 5) -> bool:
    """Whether `condition` came true within `limit` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --8<-- [start:tests]
def test_when_a_pool_process_dies_only_a_message_handed_back_survives(
    clean_broker: redis.Redis,
) -> None:
    with start_worker(visibility_timeout=60, concurrency=3) as worker:
        early = email_invoice_ack_early.delay("INV-1")
        late = email_invoice_ack_late.delay("INV-2")
        handed_back = email_invoice.delay("INV-3")
        for invoice_id in ("INV-1", "INV-2", "INV-3"):
            pid, _ = started(clean_broker, invoice_id)[0]
            assert pid in worker.pool_pids()
            os.kill(pid, signal.SIGKILL)  # the process running the task dies, the worker lives

        for lost in (early, late):
            with pytest.raises(WorkerLostError):
                lost.get(timeout=15)  # the worker notices within its pool check (5 s)
        assert handed_back.get(timeout=15) == "INV-3"  # run again, in a new pool process

        nothing_left = {"waiting": [], "unacked": []}  # INV-3's ack comes just after its result
        assert until(lambda: message_ids(clean_broker) == nothing_left)  # nothing to redeliver
    assert [clean_broker.llen(f"invoice:{n}:sent") for n in ("INV-1", "INV-2", "INV-3")] == [
        0,
        0,
        1,
    ]
    assert len(started(clean_broker, "INV-3", count=2)) == 2


def test_a_dead_workers_messages_wait_for_the_visibility_timeout(
    clean_broker: redis.Redis,
) -> None:
    visibility_timeout = 1.5
    with start_worker(visibility_timeout, concurrency=2) as worker:
        sent_at = time.time()
        early, late = email_invoice_ack_early.delay("INV-4"), email_invoice.delay("INV-5")
        started(clean_broker, "INV-4"), started(clean_broker, "INV-5")
        worker.kill()  # the whole worker, main process included: nothing can be handed back
    meanwhile = email_invoice.delay("INV-6")  # sent while no worker runs: it waits in the queue
    assert message_ids(clean_broker) == {"waiting": [meanwhile.id], "unacked": [late.id]}

    with start_worker(visibility_timeout, concurrency=1):
        assert meanwhile.get(timeout=15) == "INV-6"  # the next worker takes it at once
        assert late.get(timeout=15) == "INV-5"  # INV-5 too, once the visibility timeout is over
    _, (_, again) = started(clean_broker, "INV-5", count=2)
    assert again - sent_at >= visibility_timeout
    assert clean_broker.llen("invoice:INV-4:started") == 1  # INV-4 was acknowledged: lost
    assert early.state == "PENDING"  # what Celery says of a job it will never run


# --8<-- [end:tests]
