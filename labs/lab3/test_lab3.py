"""Lab 3 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab3`. Every check starts your app on a server of its own and sends real
requests; the checks run at the same time, so grading takes about as long as the slowest one.
"""

import asyncio
import math
import time

from grader import LabContext, burst, expect_json_field, expect_status, fail, scaled

SLEEP = scaled(3.0)
"""SLEEP_SECONDS: how long each /slow-* request waits."""
TASK = scaled(2.0)
"""TASK_SECONDS: how long the work behind POST /tasks takes."""
ANSWER_WITHIN = 0.9 * TASK
"""An answer that waits for the work comes after TASK at the soonest, however idle the machine,
and a right one at once: anything under TASK tells them apart, and 0.9·TASK leaves a right answer
the most room on a busy machine."""
SETTINGS = {"SLEEP_SECONDS": str(SLEEP), "TASK_SECONDS": str(TASK)}
CONCURRENT = 3
WAITED = 0.95
"""A request that waits SLEEP answers after 0.95·SLEEP at the soonest, however busy the machine."""
NEVER_WAITED = 0.5
"""A request answered in under half its wait did not wait at all."""
SHUTDOWN_TASK = scaled(4.0)
"""TASK_SECONDS for the shutdown check: long beside the few tenths of a second a server takes to
stop when nothing holds it up, so that a shutdown that waits cannot be mistaken for one that
doesn't. Still shorter than the /slow-sync check, so grading takes no longer."""


async def timed_burst(lab: LabContext, path: str):
    """3 concurrent GETs on a fresh server: one that served a blocking burst would skew the next."""
    async with lab.server(SETTINGS) as server, server.client() as client:
        result = await burst(client, "GET", path, CONCURRENT)
    lab.record_timing(path, result.total)
    return result


async def one_wait(lab: LabContext, path: str):
    """One GET of `path`: the response, how long it took, and the seconds of time.sleep that ran
    on the event loop's thread and off it meanwhile."""
    async with lab.server(SETTINGS, probes=["time.sleep"]) as server, server.client() as client:
        start = time.perf_counter()
        response = await client.get(path)
        took = time.perf_counter() - start
        expect_status(response, 200)
        calls = server.probed("time.sleep")
    on_loop = sum(call["seconds"] for call in calls if call["on_event_loop"])
    off_loop = sum(call["seconds"] for call in calls if not call["on_event_loop"])
    return response, took, on_loop, off_loop


def never_waited(path: str, response, took: float):
    return fail(
        f"GET {path}",
        f"200 after {took:.2f} s, without waiting at all",
        f"an answer after SLEEP_SECONDS={SLEEP:g}: a wait that returns at once was never awaited",
        response=response,
        hint="Calling asyncio.sleep(...) or asyncio.to_thread(...) without `await` only creates "
        "a coroutine, which is dropped: nothing waits. Put `await` in front of the call.",
    )


async def test_slow_sync_blocks(lab):
    (await timed_burst(lab, "/slow-sync")).expect_serial(SLEEP)


async def test_slow_async_is_concurrent(lab):
    (await timed_burst(lab, "/slow-async")).expect_concurrent(SLEEP)


async def test_slow_async_waits_without_a_thread(lab):
    """The mirror of /slow-fixed's thread check: blocking the event loop is the burst's to catch."""
    response, took, _, off_loop = await one_wait(lab, "/slow-async")
    if off_loop:
        raise fail(
            "GET /slow-async",
            f"200, after time.sleep({off_loop:g}) on a worker thread (a plain def endpoint, or "
            "asyncio.to_thread)",
            "an async def that awaits asyncio.sleep: a worker thread is task 3's fix, for a "
            "blocking call you cannot change; this task needs no thread at all",
            response=response,
        )
    if took < NEVER_WAITED * SLEEP:
        raise never_waited("/slow-async", response, took)
    if took < WAITED * SLEEP:
        raise fail(
            "GET /slow-async",
            f"200 after {took:.2f} s",
            f"a wait of SLEEP_SECONDS={SLEEP:g}: await asyncio.sleep(settings.sleep_seconds)",
            response=response,
        )


async def test_slow_fixed_is_concurrent(lab):
    (await timed_burst(lab, "/slow-fixed")).expect_concurrent(SLEEP)


async def test_slow_fixed_sleeps_on_a_worker_thread(lab):
    response, took, on_loop, off_loop = await one_wait(lab, "/slow-fixed")
    if on_loop > 0.05 * SLEEP:
        raise fail(
            "GET /slow-fixed",
            f"200, but time.sleep({on_loop:g}) ran on the event loop's thread, blocking everything",
            "time.sleep to run on a worker thread",
            response=response,
        )
    if not off_loop and took < NEVER_WAITED * SLEEP:
        raise never_waited("/slow-fixed", response, took)
    if not off_loop:
        raise fail(
            "GET /slow-fixed",
            f"200 after {took:.2f} s, but without calling time.sleep at all",
            f"time.sleep({SLEEP:g}) on a worker thread. Waiting with asyncio.sleep instead is the "
            "fix for /slow-async; this task keeps the blocking call, off the event loop",
            response=response,
        )
    if not math.isclose(off_loop, SLEEP, rel_tol=0.05):
        raise fail(
            "GET /slow-fixed",
            f"200, with {off_loop:g} s of time.sleep on worker threads",
            f"time.sleep({SLEEP:g}): SLEEP_SECONDS, on a worker thread",
            response=response,
        )


async def test_task_is_accepted_at_once(lab):
    async with lab.server(SETTINGS) as server, server.client() as client:
        start = time.perf_counter()
        response = await client.post("/tasks")
        took = time.perf_counter() - start
        expect_status(response, 202)
        task_id = expect_json_field(response, "task_id")
        if took >= ANSWER_WITHIN:
            raise fail(
                "POST /tasks",
                f"202 after {took:.2f} s",
                f"an answer before the work could be done, under {ANSWER_WITHIN:.2f} s "
                f"(TASK_SECONDS={TASK:g}): the work should run after the response",
                response=response,
            )
        status = await client.get(f"/tasks/{task_id}")
        expect_status(status, 200)
        if expect_json_field(status, "status") != "pending":
            raise fail(
                f"GET /tasks/{task_id} at once", status.text, '"status": "pending"', response=status
            )


async def accept_task(client) -> tuple[object, float]:
    """POST /tasks: its task id, and when it was sent. Any success status will do here: the
    status itself is the previous check's business."""
    start = time.perf_counter()
    response = await client.post("/tasks")
    if not response.is_success:
        expect_status(response, 202)
    return expect_json_field(response, "task_id"), start


async def test_task_finishes_in_the_background(lab):
    async with lab.server(SETTINGS) as server, server.client() as client:
        task_id, start = await accept_task(client)
        deadline = start + 3 * TASK
        while time.perf_counter() < deadline:
            status = await client.get(f"/tasks/{task_id}")
            expect_status(status, 200)
            if expect_json_field(status, "status") == "done":
                break
            await asyncio.sleep(TASK / 20)
        else:
            raise fail(
                f"POST /tasks, then GET /tasks/{task_id} until {3 * TASK:.2f} s had passed",
                f'"status": "pending" throughout ({status.text})',
                f'"status": "done" after TASK_SECONDS={TASK:g} (and before {3 * TASK:.2f} s)',
                response=status,
            )
        done_after = time.perf_counter() - start
        if done_after < 0.9 * TASK:
            raise fail(
                f"POST /tasks, then GET /tasks/{task_id}",
                f'"status": "done" after {done_after:.2f} s',
                f"the work to take TASK_SECONDS={TASK:g}: await asyncio.sleep(TASK_SECONDS)",
                response=status,
            )


async def test_shutdown_waits_for_the_task(lab):
    settings = {**SETTINGS, "TASK_SECONDS": str(SHUTDOWN_TASK)}
    sent = f"POST /tasks (TASK_SECONDS={SHUTDOWN_TASK:g}), then SIGTERM to the server at once"
    async with lab.server(settings) as server, server.client() as client:
        _, start = await accept_task(client)
        status = await server.terminate(grace=2 * SHUTDOWN_TASK + 5)
        stopped_after = time.perf_counter() - start
    if status is None:
        raise fail(sent, f"still running {stopped_after:.1f} s later", "the server to stop")
    if stopped_after < 0.9 * SHUTDOWN_TASK:
        raise fail(
            sent,
            f"the server stopped {stopped_after:.2f} s after the request, before the work could "
            "have finished: it was lost",
            f"the server to finish the work first (TASK_SECONDS={SHUTDOWN_TASK:g}): uvicorn waits "
            "for a request's BackgroundTasks before it stops, not for tasks it does not know of",
        )


async def test_unknown_task_is_404(lab):
    async with lab.server(SETTINGS) as server, server.client() as client:
        expect_status(await client.get("/tasks/no-such-task"), 404)
