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
ANSWER_WITHIN = 0.75 * TASK
"""An answer that waits for the work comes after TASK at the soonest, and a right one at once:
three quarters of TASK tells them apart with room to spare on a busy machine."""
SETTINGS = {"SLEEP_SECONDS": str(SLEEP), "TASK_SECONDS": str(TASK)}
CONCURRENT = 3


async def timed_burst(lab: LabContext, path: str):
    """3 concurrent GETs on a fresh server: one that served a blocking burst would skew the next."""
    async with lab.server(SETTINGS) as server, server.client() as client:
        result = await burst(client, "GET", path, CONCURRENT)
    lab.record_timing(path, result.total)
    return result


async def test_slow_sync_blocks(lab):
    (await timed_burst(lab, "/slow-sync")).expect_serial(SLEEP)


async def test_slow_async_is_concurrent(lab):
    (await timed_burst(lab, "/slow-async")).expect_concurrent(SLEEP)


async def test_slow_fixed_is_concurrent(lab):
    (await timed_burst(lab, "/slow-fixed")).expect_concurrent(SLEEP)


async def test_slow_fixed_sleeps_on_a_worker_thread(lab):
    async with lab.server(SETTINGS, probes=["time.sleep"]) as server, server.client() as client:
        response = await client.get("/slow-fixed")
        expect_status(response, 200)
        calls = server.probed("time.sleep")
    on_loop = sum(call["seconds"] for call in calls if call["on_event_loop"])
    off_loop = sum(call["seconds"] for call in calls if not call["on_event_loop"])
    if on_loop > 0.05 * SLEEP:
        raise fail(
            "GET /slow-fixed",
            f"200, but time.sleep({on_loop:g}) ran on the event loop's thread, blocking everything",
            "time.sleep to run on a worker thread",
        )
    if not math.isclose(off_loop, SLEEP, rel_tol=0.05):
        raise fail(
            "GET /slow-fixed",
            f"200, with {off_loop:g} s of time.sleep on worker threads",
            f"time.sleep({SLEEP:g}) on a worker thread. Waiting with asyncio.sleep instead is the "
            "fix for /slow-async; this task keeps the blocking call, off the event loop",
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
                f"an answer well within TASK_SECONDS={TASK:g} (under {ANSWER_WITHIN:.2f} s): "
                "the work should run after the response",
            )
        status = await client.get(f"/tasks/{task_id}")
        expect_status(status, 200)
        if expect_json_field(status, "status") != "pending":
            raise fail(f"GET /tasks/{task_id} at once", status.text, '"status": "pending"')


async def test_task_finishes_in_the_background(lab):
    async with lab.server(SETTINGS) as server, server.client() as client:
        start = time.perf_counter()
        response = await client.post("/tasks")
        expect_status(response, 202)
        task_id = expect_json_field(response, "task_id")
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
                f'"status": "done" after about TASK_SECONDS={TASK:g}',
            )
        done_after = time.perf_counter() - start
        if done_after < 0.9 * TASK:
            raise fail(
                f"POST /tasks, then GET /tasks/{task_id}",
                f'"status": "done" after {done_after:.2f} s',
                f"the work to take TASK_SECONDS={TASK:g}: await asyncio.sleep(TASK_SECONDS)",
            )


async def test_unknown_task_is_404(lab):
    async with lab.server(SETTINGS) as server, server.client() as client:
        expect_status(await client.get("/tasks/no-such-task"), 404)
