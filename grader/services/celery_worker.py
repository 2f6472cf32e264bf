"""A real Celery worker for tests, checks and benchmarks: `celery -A APP worker`, as deployed.

The worker is the default prefork pool (a main process that takes messages from the broker, and
pool processes that run the tasks), so that what a crash does is what it does in production:
killing a pool process is a task's process dying (out of memory, a segfault), killing the process
group is the machine or the container going away.

Like grader/services/redis.py, a worker never outlives what started it: a process group of its
own, SIGKILL when the block ends and at exit, and PR_SET_PDEATHSIG on its main process (its pool
processes leave when the main process is gone).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import grader
from grader import procfs
from grader.launch import die_with_parent

START_LIMIT = 30.0
"""Seconds a worker may take to be ready: its imports, and a second or so on a busy machine."""
POLL_INTERVAL = 0.02
READY = " ready."
"""What the worker logs (at level INFO) once it consumes from its queues."""
LOG_NAME = "worker.log"
PROJECT = Path(grader.__file__).resolve().parent.parent
"""Put on the worker's PYTHONPATH: an app module whose tests import the grader finds this one."""

_live: set[CeleryWorker] = set()


class WorkerDidNotStart(RuntimeError):
    """The worker exited, or was not ready in time: the message ends with its log."""


@dataclass(eq=False)
class CeleryWorker:
    """One running worker: its main process and its log (both its own and its tasks' output)."""

    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return (self.folder / LOG_NAME).read_text(errors="replace")
        except OSError:
            return ""

    def pool_pids(self) -> list[int]:
        """The pool processes that run tasks: the main process's children."""
        return sorted(procfs.children(self.pid))

    def kill(self) -> None:
        """SIGKILL to the whole worker, main and pool processes: nothing is acknowledged or handed
        back on the way out, as when a machine dies. Safe to call twice."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        _live.discard(self)


@atexit.register
def _kill_leftovers() -> None:
    for worker in list(_live):
        worker.kill()


@contextlib.contextmanager
def celery_worker(
    app: str,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    concurrency: int = 1,
) -> Iterator[CeleryWorker]:
    """`celery -A APP worker` run from `cwd`, with `env` added to this process's environment, once
    it is ready to take tasks; killed when the block ends.

    Mingle, gossip and heartbeats (workers talking to each other) are off: a worker of its own
    needs none of them, and mingle alone makes a start take 1.4 s instead of 0.4 s here."""
    folder = Path(tempfile.mkdtemp(prefix="course-celery-"))
    # Its temporary files (the pool's own folders among them) in its folder, removed with it.
    environment = {**os.environ, "TMPDIR": str(folder), **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PROJECT), environment.get("PYTHONPATH")])
    )
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker",
        "--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "info",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    with open(folder / LOG_NAME, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )
    worker = CeleryWorker(process, folder)
    _live.add(worker)
    try:
        deadline = time.monotonic() + START_LIMIT
        while READY not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                state = "exited" if process.poll() is not None else "was not ready in time"
                raise WorkerDidNotStart(f"celery -A {app} worker {state}:\n{worker.log()}")
            time.sleep(POLL_INTERVAL)
        yield worker
    finally:
        worker.kill()
