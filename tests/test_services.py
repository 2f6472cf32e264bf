"""The real services the course starts (grader/services/): each one starts, answers, and leaves
nothing behind, whether its block ends, its port was taken, or the process that started it dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio

from grader.procfs import running
from grader.services import redis as redis_service
from grader.services.celery_worker import celery_worker
from grader.services.load import Plan, Seat, chart, latency_over_time, read_log
from grader.services.redis import RedisServerMissing, redis_server, sync_redis_server

GONE_LIMIT = 10.0
"""Seconds a killed process may take to be gone (its parent's death noticed, the kernel's work)."""


def gone(pids: list[int], limit: float = GONE_LIMIT) -> bool:
    deadline = time.monotonic() + limit
    while any(running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.asyncio
async def test_a_redis_server_starts_answers_and_is_killed_with_its_folder() -> None:
    async with redis_server() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
        assert await client.ping() is True
        assert await client.config_get("save") == {"save": ""}  # no persistence
        assert await client.config_get("appendonly") == {"appendonly": "no"}
        assert (await client.config_get("dir"))["dir"] == str(server.folder)
        await client.aclose()
        pid, folder = server.pid, server.folder
    assert not running(pid) and not folder.exists()


def test_the_synchronous_variant_and_two_servers_side_by_side() -> None:
    with sync_redis_server() as first, sync_redis_server() as second:
        assert first.port != second.port
        redis.Redis.from_url(first.url).set("where", "first")
        assert redis.Redis.from_url(second.url).get("where") is None  # one server per use
        pids = [first.pid, second.pid]
    assert not any(running(pid) for pid in pids)


def test_a_port_taken_meanwhile_is_tried_again_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real_free_port = redis_service.free_port
        monkeypatch.setattr(
            redis_service, "free_port", lambda: next(ports, None) or real_free_port()
        )
        with sync_redis_server() as server:
            assert server.port != taken.getsockname()[1]
            assert redis.Redis.from_url(server.url).ping() is True


def test_a_missing_redis_server_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_service, "EXECUTABLE", "redis-server-not-installed")
    with pytest.raises(RedisServerMissing, match="make setup"):
        with sync_redis_server():
            pass


def run_and_kill(script: str, folder: Path) -> list[int]:
    """Runs `script` in a Python process of its own until it prints the pids it started, kills
    it with SIGKILL, and returns those pids. Its services' folders, which nobody is left to
    remove, are made in `folder`."""
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "TMPDIR": str(folder)},
    )
    try:
        pids = [int(pid) for pid in parent.stdout.readline().split()]
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert pids, "the script started nothing"
    return pids


def test_a_redis_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    pids = run_and_kill(
        """
        import time
        from grader.services.redis import sync_redis_server
        with sync_redis_server() as server:
            print(server.pid, flush=True)
            time.sleep(60)
        """,
        tmp_path,
    )
    assert gone(pids), f"redis-server {pids} outlived its parent"


CELERY_APP = """
import os
from celery import Celery

app = Celery("sums", broker=os.environ["SUMS_BROKER"], backend=os.environ["SUMS_BROKER"])


@app.task
def add(x, y):
    return x + y
"""


def test_a_celery_worker_runs_tasks_and_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sums.py").write_text(CELERY_APP)
    with sync_redis_server() as server:
        monkeypatch.setenv("SUMS_BROKER", server.url)
        monkeypatch.syspath_prepend(tmp_path)
        monkeypatch.delitem(sys.modules, "sums", raising=False)
        import sums  # the module the worker runs: this process sends its tasks through it

        with celery_worker("sums", cwd=tmp_path, concurrency=2) as worker:
            assert sums.add.delay(2, 3).get(timeout=10) == 5
            pids = [worker.pid, *worker.pool_pids()]
            assert len(pids) == 3  # the main process and its pool of two
    assert gone(pids)  # all killed with the block (the pool processes a moment later)
    sys.modules.pop("sums")


def test_a_celery_worker_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    (tmp_path / "sums.py").write_text(CELERY_APP)
    pids = run_and_kill(
        f"""
        import time
        from pathlib import Path
        from grader.services.celery_worker import celery_worker
        from grader.services.redis import sync_redis_server
        with sync_redis_server() as server:
            env = {{"SUMS_BROKER": server.url}}
            with celery_worker("sums", cwd=Path({str(tmp_path)!r}), env=env) as worker:
                print(server.pid, worker.pid, *worker.pool_pids(), flush=True)
                time.sleep(60)
        """,
        tmp_path,
    )
    assert len(pids) == 3
    assert gone(pids), f"redis-server and the worker {pids} outlived their parent"


def test_a_load_run_is_read_from_its_users_log_answered_or_not(tmp_path: Path) -> None:
    """locust's users log each request when sent and when answered; a request cut off when the
    run ended has its first line only, and the line being written then may be cut short."""
    plan = Plan("POST", "/ask", [{"q": 1}, {"q": 2}], [Seat({"X-API-Key": "k"})] * 2, seconds=5)
    lines = [
        {"number": 0, "seat": 0, "body": 0, "sent": 100.0},
        {"number": 1, "seat": 1, "body": 1, "sent": 100.5},
        {"number": 0, "took": 0.5, "status": 200, "body": '{"answer": "a"}'},
        {"number": 2, "seat": 0, "body": 1, "sent": 101.0},
        {"number": 1, "took": 3.0, "status": 429, "body": ""},
    ]
    log = tmp_path / "requests.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"number": 3, "se')
    run = read_log(plan, log, tmp_path)
    assert [(r.seat, r.body, r.at, r.took, r.status) for r in run.requests] == [
        (0, 0, 0.0, 0.5, 200), (1, 1, 0.5, 3.0, 429), (0, 1, 1.0, None, None),
    ]  # fmt: skip
    assert run.seconds == 5 and run.unanswered_after(3.0) == [run.requests[2]]
    assert run.unanswered_after(4.0) == []
    assert latency_over_time(run) == [(0, 0.5, 0.5)]  # the 429 is not an answer's latency
    svg = chart(run, bound=2.0, title="Under load")
    assert svg.startswith("<svg") and "p95 bound 2 s" in svg and "<title>Under load</title>" in svg
