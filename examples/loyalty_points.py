"""Loyalty points for shipped orders: a task handler that is safe to run twice.

A queue that never loses a message delivers some of them twice (a worker that died after the
work but before its acknowledgement, a visibility timeout that ran out). So the handler must have
the same effect however many times it runs for one message. Adding points is not like that by
nature: `INCRBY` twice is twice the points. The idempotent handler records the order's id and the
points in one Redis transaction (MULTI/EXEC, with WATCH on the order's marker), so that either
both happen or neither, and a second run finds the marker and does nothing.

Module 7's lesson (section "Idempotent handlers") includes parts of this file. Run its tests with
`pytest examples/loyalty_points.py`: they start a real redis-server. Calling a Celery task object
directly runs it here, in this process, as a worker would: no broker is needed for that.
"""

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest
import redis
from celery import Celery

from grader.services.redis import sync_redis_server

REDIS_URL = os.environ.get("LOYALTY_REDIS_URL", "redis://127.0.0.1:6379/0")
MARKER_TTL = 30 * 24 * 3600
"""Seconds an order's marker is kept: far longer than any redelivery can come late."""

celery_app = Celery("loyalty", broker=REDIS_URL)


@cache
def points_store() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


# --8<-- [start:handlers]
def add_points_twice_if_run_twice(store: redis.Redis, customer: str, points: int) -> None:
    store.incrby(f"points:{customer}", points)  # the mistake: each delivery adds again


def add_points_once(store: redis.Redis, order_id: str, customer: str, points: int) -> bool:
    """Adds the order's points unless they were added before; whether they were added now."""
    marker = f"points-awarded:{order_id}"

    def award(transaction: redis.client.Pipeline) -> bool:
        if transaction.exists(marker):  # read while WATCHing the marker
            return False
        transaction.multi()  # from here, queued: EXEC runs both, or none if the marker changed
        transaction.set(marker, customer, ex=MARKER_TTL)
        transaction.incrby(f"points:{customer}", points)
        return True

    # WATCH marker; run award; EXEC. If another run set the marker in between, EXEC fails and
    # redis-py runs `award` again, which then finds the marker.
    return store.transaction(award, marker, value_from_callable=True)


@celery_app.task(acks_late=True, reject_on_worker_lost=True)
def award_order_points(order_id: str, customer: str, points: int) -> bool:
    return add_points_once(points_store(), order_id, customer, points)


# --8<-- [end:handlers]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    with sync_redis_server() as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        monkeypatch.setitem(globals(), "points_store", lambda: client)
        yield client


# --8<-- [start:tests]
def test_counting_twice_what_was_delivered_twice(store: redis.Redis) -> None:
    for _ in range(2):  # the same message, delivered again
        add_points_twice_if_run_twice(store, "ada", 50)
    assert store.get("points:ada") == "100"


def test_the_idempotent_handler_adds_the_points_once(store: redis.Redis) -> None:
    assert award_order_points("order-17", "ada", 50) is True  # run here, as a worker runs it
    assert award_order_points("order-17", "ada", 50) is False  # redelivered: nothing to do
    assert award_order_points("order-18", "ada", 30) is True  # another order counts
    assert store.get("points:ada") == "80"


def test_two_workers_running_the_same_message_at_once_add_it_once(store: redis.Redis) -> None:
    with ThreadPoolExecutor(max_workers=8) as workers:
        runs = list(workers.map(lambda _: award_order_points("order-19", "ada", 50), range(8)))
    assert runs.count(True) == 1
    assert store.get("points:ada") == "50"


# --8<-- [end:tests]
