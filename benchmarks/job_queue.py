"""What Module 7's lesson claims about a job queue, measured with a real Redis and real workers.

Each part starts its own redis-server (grader/services/redis.py) and Celery workers
(grader/services/celery_worker.py), and runs the lesson's examples:

- accept vs inline: `POST /thumbnails` of examples/thumbnail_jobs.py under uvicorn (record the job,
  send the task, answer 202) against `POST /thumbnails/inline` (fetch the original from the photo
  store, which takes PHOTO_SECONDS, and answer with the thumbnail), one request at a time; and how
  long a client polling every POLL_INTERVAL waits until the job's record says "succeeded";
- round trip: `photo_size.delay(...).get()` with a worker of two pool processes, the photo store
  answering at once: enqueue, run, store the result, read it back;
- worker killed: examples/worker_crash.py's e-mail task running in a worker killed whole with
  SIGKILL, another worker started at once: acknowledged early (lost) or late (delivered again
  once the visibility timeout is over and kombu next looks for it), with kombu's
  `unacked_restore_throttle` at 1 and at its default of 10 (`unacked_restore_interval` 1 s);
- visibility timeout shorter than the task: how many times one e-mail is sent.

Run (about 70 s):

    .venv/bin/python benchmarks/job_queue.py [--runs 3]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))
sys.path.insert(0, str(ROOT))
import worker_crash  # noqa: E402
from celery import __version__ as celery_version  # noqa: E402
from kombu import __version__ as kombu_version  # noqa: E402
from travel_upstreams import Supplier, running  # noqa: E402
from uvicorn_server import start_uvicorn  # noqa: E402

from grader.services.celery_worker import CeleryWorker, celery_worker  # noqa: E402
from grader.services.redis import sync_redis_server  # noqa: E402

PHOTO_SECONDS = 0.25
POLL_INTERVAL = 0.01
KILLED_VISIBILITY_TIMEOUT = 5.0
RUNAWAY_WAIT = 12.0
"""Seconds to count the runs of a task longer than its visibility timeout."""

# The worker-killed part's workers run this module's `invoices`: the example's Celery app, with
# kombu's throttle taken from the environment (the example fixes it at 1).
invoices = worker_crash.celery_app
if "JOB_QUEUE_RESTORE_THROTTLE" in os.environ:
    invoices.conf.broker_transport_options = {
        **invoices.conf.broker_transport_options,
        "unacked_restore_throttle": int(os.environ["JOB_QUEUE_RESTORE_THROTTLE"]),
    }


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


async def accept_and_inline(url: str, runs: int) -> dict[str, list[float]]:
    order = {"photo_id": "harbour", "width": 200}
    times: dict[str, list[float]] = {"202": [], "inline": [], "until succeeded": []}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.post("/thumbnails", json=order)  # warm up: connections, first imports
        for _ in range(20 * runs):
            began = time.perf_counter()
            accepted = await client.post("/thumbnails", json=order)
            times["202"].append(time.perf_counter() - began)
            assert accepted.status_code == 202
            while (await client.get(accepted.headers["location"])).json()["status"] != "succeeded":
                await asyncio.sleep(POLL_INTERVAL)
            times["until succeeded"].append(time.perf_counter() - began)
        for _ in range(10 * runs):
            began = time.perf_counter()
            assert (await client.post("/thumbnails/inline", json=order)).status_code == 200
            times["inline"].append(time.perf_counter() - began)
    return times


def thumbnails(runs: int) -> None:
    import thumbnail_jobs

    store = Supplier()
    store.route("/photos/harbour", delay=PHOTO_SECONDS, body={"width": 4000, "height": 3000})
    store.route("/photos/quick", body={"width": 4000, "height": 3000})
    with running(store) as store_url, sync_redis_server() as server:
        env = {
            "THUMBNAILS_REDIS_URL": server.url,
            "THUMBNAILS_PHOTO_STORE_URL": store_url,
            "PYTHONPATH": str(ROOT),
        }
        thumbnail_jobs.celery_app.conf.update(broker_url=server.url, result_backend=server.url)
        with celery_worker("thumbnail_jobs", cwd=EXAMPLES, env=env, concurrency=2):
            api, url = start_uvicorn("thumbnail_jobs:create_app", EXAMPLES, env, factory=True)
            try:
                times = asyncio.run(accept_and_inline(url, runs))
            finally:
                api.terminate()
                api.wait()
            print(f"\nThumbnails, the photo store taking {PHOTO_SECONDS} s (medians):")
            print(f"  POST /thumbnails, 202 Accepted        {median_ms(times['202'])}")
            print(f"  POST /thumbnails/inline, 200          {median_ms(times['inline'])}")
            print(f"  202, then polled until succeeded      {median_ms(times['until succeeded'])}")

            thumbnail_jobs.photo_size.delay("quick").get(timeout=10)  # warm up
            trips = []
            for _ in range(100 * runs):
                began = time.perf_counter()
                thumbnail_jobs.photo_size.delay("quick").get(timeout=10)
                trips.append(time.perf_counter() - began)
            with httpx.Client(base_url=store_url) as client:
                gets = []
                for _ in range(100):
                    began = time.perf_counter()
                    client.get("/photos/quick").raise_for_status()
                    gets.append(time.perf_counter() - began)
            print(f"  Celery round trip, delay().get()      {median_ms(trips)}")
            print(f"    of which the task's own HTTP call   {median_ms(gets)}")


def invoice_worker(
    redis_url: str, visibility_timeout: float, throttle: int, mail_seconds: float
) -> AbstractContextManager[CeleryWorker]:
    env = {
        "INVOICES_REDIS_URL": redis_url,
        "INVOICES_VISIBILITY_TIMEOUT": str(visibility_timeout),
        "INVOICES_MAIL_SECONDS": str(mail_seconds),
        "JOB_QUEUE_RESTORE_THROTTLE": str(throttle),
    }
    return celery_worker("job_queue:invoices", cwd=ROOT / "benchmarks", env=env)


def start_times(store: redis.Redis, invoice_id: str) -> list[float]:
    """When each attempt at sending the invoice started (the task records [pid, time])."""
    return [json.loads(entry)[1] for entry in store.lrange(f"invoice:{invoice_id}:started", 0, -1)]


def killed_worker(store: redis.Redis, task_name: str, throttle: int) -> str:
    """Sends one e-mail, kills its worker whole once it has started, starts another worker at
    once, and says when the e-mail started again, counted from the kill."""
    store.flushdb()
    url = invoices.conf.broker_url
    with invoice_worker(url, KILLED_VISIBILITY_TIMEOUT, throttle, mail_seconds=30) as worker:
        getattr(worker_crash, task_name).delay("B-1")
        while not store.llen("invoice:B-1:started"):
            time.sleep(0.01)
        worker.kill()
        killed = time.time()
    limit = KILLED_VISIBILITY_TIMEOUT + 2 * throttle + 8  # a sweep each second, a scan every Nth
    with invoice_worker(url, KILLED_VISIBILITY_TIMEOUT, throttle, mail_seconds=0.1):
        deadline = time.monotonic() + limit
        while len(start_times(store, "B-1")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    again = start_times(store, "B-1")[1:]
    if not again:
        return f"never came back (waited {limit:.0f} s)"
    return f"started again {again[0] - killed:.1f} s after the kill"


def too_short_a_visibility_timeout(store: redis.Redis) -> int:
    """How many times one 3-second e-mail is sent within RUNAWAY_WAIT, its visibility timeout
    being 1 s."""
    store.flushdb()
    with invoice_worker(invoices.conf.broker_url, 1, throttle=1, mail_seconds=3):
        worker_crash.email_invoice.delay("B-2")
        time.sleep(RUNAWAY_WAIT)
    return store.llen("invoice:B-2:sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="multiplies the latency samples")
    args = parser.parse_args()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, celery {celery_version}, "
        f"kombu {kombu_version}, httpx {httpx.__version__}"
    )
    thumbnails(args.runs)

    with sync_redis_server() as server:  # one for every worker below: Celery keeps connections
        invoices.conf.update(broker_url=server.url, result_backend=server.url)
        store = redis.Redis.from_url(server.url, decode_responses=True)
        print(
            "\nA worker killed whole (SIGKILL) mid-task, another started at once,"
            f" visibility timeout {KILLED_VISIBILITY_TIMEOUT:.0f} s, restore interval 1 s:"
        )
        for name, task, throttle in [
            ("acks early", "email_invoice_ack_early", 1),
            ("acks late, restore throttle 1", "email_invoice", 1),
            ("acks late, restore throttle 10", "email_invoice", 10),
        ]:
            print(f"  {name:<36}  {killed_worker(store, task, throttle)}")
        print("\nA 3 s task, visibility timeout 1 s, one worker process:")
        sent = too_short_a_visibility_timeout(store)
        print(f"  e-mails sent for one task in {RUNAWAY_WAIT:.0f} s      {sent}")


if __name__ == "__main__":
    main()
