"""Lab 7 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab7`. Every check starts a Redis of its own (Debian's redis-server, on a free
port of 127.0.0.1), your API on a uvicorn server and, where jobs run, your Celery app's worker as
deployed (`celery -A app.worker worker`, the prefork pool): all real. Some checks kill the API or
the worker with SIGKILL, as a crash would, and start another. The grader knows when each try of a
task starts from the worker itself (Celery's task_prerun signal), and what a webhook receiver got
from a receiver of its own.
"""

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from grader import LabContext, expect_error, expect_json_field, expect_status, fail, scaled
from grader.expect import answer, error_body
from grader.fakes.upstream import Received, Reply, in_turn, upstream
from grader.server import LabServer
from grader.services.redis import redis_server

JOB = scaled(2.0)
"""JOB_SECONDS: how long a report's work takes."""
BASE = scaled(0.8)
"""RETRY_BASE_SECONDS: the n-th retry waits BASE · 2^(n−1)."""
VISIBILITY = scaled(6.0)
"""VISIBILITY_TIMEOUT_SECONDS: more than JOB plus the longest pause before a retry (4 × BASE)."""
CRASH_JOB = scaled(4.0)
"""JOB_SECONDS where a worker is killed, halfway through the job. A worker that acknowledges a job
as it takes it does so milliseconds after the try starts, or later on a busy machine: halfway, the
acknowledgement has been sent, and the job is still far from done."""
CRASH_VISIBILITY = max(scaled(8.0), 6.0)
"""VISIBILITY_TIMEOUT_SECONDS where a worker is killed: more than CRASH_JOB plus the longest pause
before a retry, and 6 real seconds at least. A new worker looks for abandoned jobs once as it
starts; its start takes real seconds, and must end before the job's timeout does, so that what
brings the job back is the regular look a long-running worker makes."""
TTL = scaled(2.0)
"""IDEMPOTENCY_TTL_SECONDS, in the check that waits for a key to expire."""
PAYMENT = scaled(0.8)
"""PAYMENT_SECONDS: how long charging a payment takes."""
SECRET = "grader-webhook-secret"
SLACK = 5.0
"""Real seconds a job may take beyond its own work to be done: workers start, messages travel, a
busy machine is slow. Only an answer that never comes takes this long."""
BACKOFF_FLOOR = 0.9
"""A pause before a retry must last at least this share of the lab's: load only lengthens it."""
LONG_JOB = scaled(8.0)
"""JOB_SECONDS where the check times POST /jobs: long, so that the bound below stays far above
what a busy machine adds to a request."""
AT_ONCE = 0.5
"""POST /jobs answers within this share of JOB_SECONDS: work done inline takes all of it, while
recording a job and sending a message takes milliseconds."""
POLL = 0.1
"""Seconds between two GET /jobs/{job_id} while a check waits for a job: each is a request for
the grader and the app alike (at 20 ms, they were a sixth of a grading's CPU), and the shortest
status a check must see, "running", lasts JOB_SECONDS."""
TRIES_PER_ROUND = 5
ROUNDS = 3
MAX_AGE = 300
"""Seconds a received webhook may be old."""


def settings(redis_url: str, **changes: object) -> dict[str, str]:
    values = {
        "REDIS_URL": redis_url, "JOB_SECONDS": JOB, "WEBHOOK_SECRET": SECRET, "MAX_RETRIES": 3,
        "RETRY_BASE_SECONDS": BASE, "VISIBILITY_TIMEOUT_SECONDS": VISIBILITY,
        "IDEMPOTENCY_TTL_SECONDS": 3600, "PAYMENT_SECONDS": PAYMENT,
    }  # fmt: skip
    return {name: str(value) for name, value in {**values, **changes}.items()}


@asynccontextmanager
async def api_and_worker(
    lab: LabContext, **changes: object
) -> AsyncIterator[tuple[dict[str, str], LabServer, LabServer]]:
    """A Redis, then a worker and the API on it: the settings, the worker and the API."""
    async with redis_server() as redis:
        env = settings(redis.url, **changes)
        async with lab.worker(env) as worker, lab.server(env) as api:
            yield env, worker, api


@asynccontextmanager
async def api_alone(lab: LabContext, **changes: object) -> AsyncIterator[LabServer]:
    async with redis_server() as redis, lab.server(settings(redis.url, **changes)) as api:
        yield api


async def post_job(client: httpx.AsyncClient, **job: object) -> tuple[str, float]:
    """POST /jobs: the job's id, and how long the answer took."""
    started = time.perf_counter()
    response = await client.post("/jobs", json={"kind": "report", **job})
    took = time.perf_counter() - started
    expect_status(response, 202)
    job_id = expect_json_field(response, "job_id")
    if expect_json_field(response, "status") != "queued" or not isinstance(job_id, str):
        raise fail(
            f"POST /jobs with {json.dumps(job)}",
            answer(response),
            '202 with {"job_id": "<a string>", "status": "queued"}',
            response=response,
        )
    return job_id, took


async def job_until(
    client: httpx.AsyncClient, job_id: str, statuses: set[str], seconds: float
) -> tuple[dict, list[str]]:
    """Poll GET /jobs/{job_id} until its status is one of `statuses` or `seconds` have passed:
    the last answer, and every status read, in order, repeats left out."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get(f"/jobs/{job_id}")
        expect_status(response, 200)
        job = response.json()
        if not seen or seen[-1] != job.get("status"):
            seen.append(job.get("status"))
        if job.get("status") in statuses or time.monotonic() > deadline:
            return job, seen
        await asyncio.sleep(POLL)


def tries(worker: LabServer, name: str = "reports.run") -> list[float]:
    """When each try of the worker's `name` tasks started, in order (the worker's clock)."""
    return sorted(entry["at"] for entry in worker.tasks_started() if entry["name"] == name)


def short_pauses(starts: list[float]) -> list[str]:
    """The pauses between tries that were shorter than the lab's backoff allows."""
    short = []
    for number, (before, after) in enumerate(itertools.pairwise(starts), start=1):
        floor = BACKOFF_FLOOR * BASE * 2 ** (number - 1)
        if after - before < floor:
            short.append(f"retry {number} came {after - before:.2f} s after, not {floor:.2f} s+")
    return short


def paused(starts: list[float]) -> str:
    return ", ".join(f"{after - before:.2f} s" for before, after in itertools.pairwise(starts))


def signature(timestamp: str, body: bytes, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def late_by(deliveries: list[Received], posted: float) -> float:
    """How much longer than JOB the first delivery took to come after the job was posted: what
    this machine adds to a trip through the queue. The webhook checks wait that much more before
    they count deliveries, so that one that should never come has come by then."""
    return max(0.0, deliveries[0].at - posted - JOB) if deliveries else 0.0


def unsigned(delivery: Received) -> str | None:
    """Why a webhook the app sent is not signed as the lab asks; None if it is."""
    timestamp = delivery.headers.get("x-timestamp", "")
    if not timestamp.isdigit():
        return f"X-Timestamp: {timestamp or '(none)'}, not a whole number of Unix seconds"
    if abs(time.time() - int(timestamp)) > 60:
        return f"X-Timestamp: {timestamp}, {time.time() - int(timestamp):.0f} s from now"
    got = delivery.headers.get("x-signature", "(none)")
    if got != signature(timestamp, delivery.body):
        over_body = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
        how = " (over the body alone: sign f'{timestamp}.{body}')" if over_body in got else ""
        return f"X-Signature: {got[:80]}, not the HMAC-SHA256 of '<X-Timestamp>.<body>'{how}"
    return None


# --- Task 1: the job API on a real queue ---


async def test_job_accepted_at_once_and_done(lab: LabContext):
    changes = {"JOB_SECONDS": LONG_JOB, "VISIBILITY_TIMEOUT_SECONDS": LONG_JOB + VISIBILITY}
    async with api_and_worker(lab, **changes) as (_, _, api), api.client() as client:
        job_id, took = await post_job(client, payload={"rows": 7})
        job, seen = await job_until(client, job_id, {"succeeded", "failed"}, LONG_JOB + SLACK)
    sent = 'POST /jobs with {"kind": "report", "payload": {"rows": 7}}, then GET /jobs/{job_id}'
    if took > AT_ONCE * LONG_JOB:
        raise fail(
            f"POST /jobs (JOB_SECONDS={LONG_JOB:g})",
            f"202 after {took:.2f} s",
            f"202 at once (within {AT_ONCE:g} × JOB_SECONDS, {AT_ONCE * LONG_JOB:.2f} s): the work "
            "is the worker's",
        )
    if job.get("status") != "succeeded" or "running" not in seen:
        raise fail(
            sent,
            f"the statuses {' → '.join(map(str, seen))}, ending with {json.dumps(job)}",
            "queued, running, then succeeded (JOB_SECONDS later)",
        )
    if not isinstance(job.get("result"), dict) or job["result"].get("rows") != 7:
        raise fail(sent, json.dumps(job), 'a "result" object with "rows": 7, the payload\'s rows')


async def test_unknown_job_is_404(lab: LabContext):
    async with api_alone(lab) as api, api.client() as client:
        response = await client.get(f"/jobs/{uuid.uuid4().hex}")
    expect_error(response, 404, "JOB_NOT_FOUND")


async def test_job_survives_the_api(lab: LabContext):
    async with redis_server() as redis:
        env = settings(redis.url)
        async with lab.worker(env):
            async with lab.server(env) as first, first.client() as client:
                job_id, _ = await post_job(client, payload={"rows": 3})
                await first.kill()
            async with lab.server(env) as second, second.client() as client:
                job, seen = await job_until(client, job_id, {"succeeded", "failed"}, JOB + SLACK)
    if job.get("status") != "succeeded":
        raise fail(
            "POST /jobs, SIGKILL to the API server at once, then GET /jobs/{job_id} from a new one",
            f"the statuses {' → '.join(map(str, seen))} over {JOB + SLACK:.0f} s",
            "succeeded: the job was a message in Redis, for a worker, not work in the API process",
        )


# --- Task 2: a job that survives its worker ---


async def test_job_survives_its_worker(lab: LabContext):
    async with redis_server() as redis:
        changes = {"VISIBILITY_TIMEOUT_SECONDS": CRASH_VISIBILITY, "JOB_SECONDS": CRASH_JOB}
        env = settings(redis.url, **changes)
        async with lab.server(env) as api, api.client() as client:
            async with lab.worker(env) as first:
                job_id, _ = await post_job(client, payload={"rows": 5})
                deadline = time.monotonic() + SLACK
                while not tries(first) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                if not tries(first):
                    raise fail(
                        "POST /jobs", "no try of reports.run started", "the worker to run it"
                    )
                await asyncio.sleep(CRASH_JOB / 2)
                await first.kill()
            killed = time.monotonic()
            async with lab.worker(env) as second:
                limit = CRASH_VISIBILITY + CRASH_JOB + SLACK
                job, seen = await job_until(client, job_id, {"succeeded", "failed"}, limit)
                took = time.monotonic() - killed
                retried = tries(second)
    situation = (
        f"POST /jobs, SIGKILL to the worker's processes halfway through the job, then a new "
        f"worker (VISIBILITY_TIMEOUT_SECONDS={CRASH_VISIBILITY:g}, JOB_SECONDS={CRASH_JOB:g})"
    )
    if job.get("status") != "succeeded":
        lost = " and the new worker never got it" if not retried else ""
        raise fail(
            situation,
            f"the statuses {' → '.join(map(str, seen))} for {took:.1f} s{lost}",
            "succeeded, run again by the new worker once the visibility timeout has passed: "
            "the message must stay in Redis, unacknowledged, until the job is done",
        )


# --- Task 3: retries with backoff ---


async def test_failed_tries_retried_with_backoff(lab: LabContext):
    async with api_and_worker(lab) as (_, worker, api), api.client() as client:
        job_id, _ = await post_job(client, payload={"rows": 2, "fail_times": 3})
        limit = JOB + 7 * BASE + SLACK
        job, seen = await job_until(client, job_id, {"succeeded", "failed"}, limit)
        starts = tries(worker)
    sent = (
        f'POST /jobs with "fail_times": 3 (MAX_RETRIES=3, RETRY_BASE_SECONDS={BASE:g}), then '
        "GET /jobs/{job_id}"
    )
    if job.get("status") != "succeeded" or len(starts) != 4:
        raise fail(
            sent,
            f"{len(starts)} tries, the statuses {' → '.join(map(str, seen))}",
            "4 tries (three that fail, then one that works), the job then succeeded",
        )
    if short := short_pauses(starts):
        raise fail(
            sent,
            f"tries {paused(starts)} apart: {'; '.join(short)}",
            f"pauses of RETRY_BASE_SECONDS · 2^(n−1): {BASE:g} s, {2 * BASE:g} s, then "
            f"{4 * BASE:g} s",
        )


async def test_retries_give_up(lab: LabContext):
    async with api_and_worker(lab, MAX_RETRIES=2) as (_, worker, api), api.client() as client:
        job_id, _ = await post_job(client, payload={"fail_times": 5})
        limit = 3 * BASE + SLACK
        job, seen = await job_until(client, job_id, {"succeeded", "failed"}, limit)
        starts = tries(worker)
    sent = 'POST /jobs with "fail_times": 5 and MAX_RETRIES=2, then GET /jobs/{job_id}'
    if job.get("status") != "failed" or len(starts) != 3:
        raise fail(
            sent,
            f"{len(starts)} tries, the statuses {' → '.join(map(str, seen))}",
            "3 tries (the first and 2 retries), then the job failed",
        )
    if not isinstance(job.get("error"), str) or not job["error"].strip():
        raise fail(sent, json.dumps(job), 'status "failed" with the reason in "error"')


# --- Task 4: idempotency keys ---


def payment_body() -> dict[str, object]:
    return {"amount": 1250, "currency": "EUR"}


async def pay(client: httpx.AsyncClient, key: str | None, body: dict) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/payments", json=body, headers=headers)


async def payment_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/payments")
    expect_status(response, 200)
    return expect_json_field(response, "count")


async def test_payment_replayed(lab: LabContext):
    key = f"grader-{uuid.uuid4().hex}"
    async with api_alone(lab) as api, api.client() as client:
        first = await pay(client, key, payment_body())
        again = await pay(client, key, payment_body())
        count = await payment_count(client)
    expect_status(first, 201)
    if first.headers.get("Idempotent-Replayed", "false").lower() == "true":
        raise fail(
            f"POST /payments with Idempotency-Key: {key}",
            "Idempotent-Replayed: true",
            "the first request to run, not a replay",
        )
    sent = f"POST /payments twice with Idempotency-Key: {key} and one body"
    if again.status_code != 201 or again.content != first.content:
        raise fail(
            sent,
            f"first {answer(first)}, then {answer(again)}",
            "the first response again, byte for byte: the same status and body",
            response=again,
        )
    if again.headers.get("Idempotent-Replayed", "").lower() != "true":
        raise fail(sent, "the replay without Idempotent-Replayed: true", "the header on a replay")
    if count != 1:
        raise fail(f"{sent}, then GET /payments", f'"count": {count}', '"count": 1: one payment')


async def test_key_reused_or_missing(lab: LabContext):
    key = f"grader-{uuid.uuid4().hex}"
    other = {**payment_body(), "amount": 9999}
    async with api_alone(lab) as api, api.client() as client:
        expect_status(await pay(client, key, payment_body()), 201)
        reused = await pay(client, key, other)
        missing = await pay(client, None, payment_body())
        count = await payment_count(client)
    expect_error(reused, 422, "IDEMPOTENCY_KEY_REUSED")
    expect_error(missing, 422, "VALIDATION_ERROR")
    if count != 1:
        raise fail(
            f"POST /payments with Idempotency-Key: {key}, then the key with another body, then "
            "no key, then GET /payments",
            f'"count": {count}',
            '"count": 1: the refused requests charged nothing',
        )


async def test_concurrent_duplicates_run_once(lab: LabContext):
    async with api_alone(lab) as api, api.client() as client:
        for _ in range(ROUNDS):
            key = f"grader-{uuid.uuid4().hex}"
            answers = await asyncio.gather(
                *(pay(client, key, payment_body()) for _ in range(TRIES_PER_ROUND))
            )
            for response in answers:
                expect_status(response, 201)
            ids = {response.json().get("payment_id") for response in answers}
            count = await payment_count(client)
            if len(ids) != 1:
                raise fail(
                    f"{TRIES_PER_ROUND} concurrent POST /payments with Idempotency-Key: {key}",
                    f"{len(ids)} different payment_ids; GET /payments counts {count}",
                    "one payment, its response for all: claim the key atomically (SET NX), and "
                    "let the duplicates wait for the first",
                )


async def test_keys_expire(lab: LabContext):
    key = f"grader-{uuid.uuid4().hex}"
    async with api_alone(lab, IDEMPOTENCY_TTL_SECONDS=TTL) as api, api.client() as client:
        first = await pay(client, key, payment_body())
        await asyncio.sleep(TTL * 1.5 + 0.2)
        later = await pay(client, key, payment_body())
    expect_status(first, 201)
    expect_status(later, 201)
    if later.json().get("payment_id") == first.json().get("payment_id"):
        raise fail(
            f"POST /payments with Idempotency-Key: {key}, and again {TTL * 1.5 + 0.2:.2f} s later "
            f"(IDEMPOTENCY_TTL_SECONDS={TTL:g})",
            "the first payment replayed",
            "a new payment: the key expired after IDEMPOTENCY_TTL_SECONDS (PX, in milliseconds, "
            "since the TTL may be fractional)",
        )


# --- Task 5: signed webhooks ---


async def test_webhook_signed(lab: LabContext):
    async with upstream() as receiver:
        receiver.answer = lambda method, path: Reply(200, {"ok": True})
        async with api_and_worker(lab) as (_, _, api), api.client() as client:
            callback = f"{receiver.url}/hooks/report"
            posted = time.perf_counter()
            job_id, _ = await post_job(client, payload={"rows": 4}, callback_url=callback)
            deadline = time.monotonic() + JOB + SLACK
            while not receiver.received and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(2 * BASE + late_by(receiver.received, posted))
    sent = f"POST /jobs with a callback_url ({callback}), the receiver answering 200"
    if len(receiver.received) != 1:
        raise fail(sent, f"{len(receiver.received)} deliveries", "one POST once the job has ended")
    delivery = receiver.received[0]
    if problem := unsigned(delivery):
        raise fail(
            sent,
            problem,
            "X-Timestamp and X-Signature: sha256=<hex HMAC-SHA256 of "
            "'<timestamp>.<body>' with WEBHOOK_SECRET>",
        )
    body = delivery.json()
    if (
        not isinstance(body, dict)
        or body.get("job_id") != job_id
        or body.get("status") != "succeeded"
    ):
        raise fail(
            sent,
            f"the body {delivery.body[:200]!r}",
            f'the job as GET /jobs/{{job_id}} shows it: "job_id": "{job_id}", '
            '"status": "succeeded", "result", "error"',
        )


async def test_webhook_retried_until_2xx(lab: LabContext):
    async with upstream() as receiver:
        busy = Reply(500, {"error": "busy"})
        receiver.answer = in_turn(busy, busy, Reply(200))
        async with api_and_worker(lab) as (_, _, api), api.client() as client:
            callback = f"{receiver.url}/hooks/report"
            posted = time.perf_counter()
            await post_job(client, callback_url=callback)
            deadline = time.monotonic() + JOB + 3 * BASE + SLACK
            while len(receiver.received) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(8 * BASE + late_by(receiver.received, posted))
    sent = "POST /jobs with a callback_url, the receiver answering 500, 500, then 200"
    arrivals = [delivery.at for delivery in receiver.received]
    if len(arrivals) != 3:
        raise fail(
            sent,
            f"{len(arrivals)} deliveries",
            "3: retried after each 500, never again after the 200",
        )
    if short := short_pauses(arrivals):
        raise fail(
            sent,
            f"deliveries {paused(arrivals)} apart: {'; '.join(short)}",
            f"pauses of RETRY_BASE_SECONDS · 2^(n−1): {BASE:g} s, then {2 * BASE:g} s",
        )


async def test_inbound_webhook_verified(lab: LabContext):
    body = json.dumps({"event": "report.ready", "id": uuid.uuid4().hex}).encode()
    now = str(int(time.time()))
    stale = str(int(time.time()) - MAX_AGE - 60)
    body_only = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    cases = [
        ("a valid signature", now, signature(now, body), 200, None),
        (
            "a signature made with another secret",
            now,
            signature(now, body, "not-ours"),
            401,
            "INVALID_SIGNATURE",
        ),
        ("a signature over the body alone", now, body_only, 401, "INVALID_SIGNATURE"),
        ("a valid signature, 6 minutes old", stale, signature(stale, body), 401, "STALE_TIMESTAMP"),
    ]
    async with api_alone(lab) as api, api.client() as client:
        for said, timestamp, signed, status, code in cases:
            headers = {"X-Timestamp": timestamp, "X-Signature": signed}
            headers["Content-Type"] = "application/json"
            response = await client.post("/webhooks/inbound", content=body, headers=headers)
            expected = error_body(status, code) if code else '200 {"received": true}'
            try:
                got = response.json()
            except ValueError:
                got = None
            if code:
                right = isinstance(got, dict) and got.get("error_code") == code
            else:
                right = got == {"received": True}
            if response.status_code != status or not right:
                raise fail(
                    f"POST /webhooks/inbound with {said}",
                    answer(response),
                    expected,
                    response=response,
                )
            if code:
                expect_error(response, status, code)
