"""A learner's app on a real uvicorn server: a sandbox copy of the lab, a free port, always stopped.

Servers run `python -m grader.launch` (uvicorn plus the grader's probes) on 127.0.0.1, port 0, in a
process group of their own. The copy keeps the learner's folder untouched whatever the app writes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

from grader.apptrace import busy_frames, crash_location
from grader.failures import AppDidNotStart

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0  # real seconds: imports take as long at any COURSE_TIME_SCALE
STOP_GRACE = 3.0
DUMP_WAIT = 0.5
RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".grades")

_live: set[subprocess.Popen[str]] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Last resort (an interrupted run): no server outlives the grader."""
    for process in list(_live):
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


class ServerOutput:
    """Everything the server prints (stdout and stderr), read by a thread as it comes.

    Sandbox paths are shown as the learner's own (`labs/lab3/app/main.py`).
    """

    def __init__(self, stream: IO[str], sandbox: Path, shown_as: str) -> None:
        self.lines: list[str] = []
        self.port: int | None = None
        self.closed = False
        self._sandbox = str(sandbox)
        self._shown_as = shown_as
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip("\n").replace(self._sandbox, self._shown_as)
            self.lines.append(line)
            if self.port is None and (match := RUNNING.search(line)):
                self.port = int(match[1])
        self.closed = True

    def finish(self) -> None:
        self._reader.join(timeout=1)

    def tail(self, count: int = 30) -> str:
        return "\n".join(self.lines[-count:])


class LabServer:
    """One running server of the app under test, from `start_server()` or `serve()`."""

    def __init__(self, source: Path, workdir: Path, shown_as: str, process: subprocess.Popen[str]):
        self.source = source
        self.shown_as = shown_as
        self.process = process
        self.output = ServerOutput(process.stdout, workdir, shown_as)
        self.sandbox = workdir.parent
        self.sleep_log = self.sandbox / "sleep-calls.jsonl"
        self.in_flight: Counter[str] = Counter()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.output.port}"

    def client(self, **options: object) -> httpx.AsyncClient:
        """An HTTP client for this server, without timeout: a blocking burst is measured in full."""
        hooks = {"request": [self._sent], "response": [self._answered]}
        return httpx.AsyncClient(base_url=self.url, timeout=None, event_hooks=hooks, **options)

    async def _sent(self, request: httpx.Request) -> None:
        self.in_flight[f"{request.method} {request.url.path}"] += 1

    async def _answered(self, response: httpx.Response) -> None:
        self.in_flight[f"{response.request.method} {response.request.url.path}"] -= 1

    def sleep_calls(self) -> list[dict[str, object]]:
        """The time.sleep calls the app made so far (servers started with log_sleeps=True)."""
        if not self.sleep_log.exists():
            return []
        return [json.loads(line) for line in self.sleep_log.read_text().splitlines()]

    async def busy_at(self) -> str:
        """Where the app's own code is running now, from a stack dump of every thread."""
        if self.process.poll() is not None:
            return ""
        start = len(self.output.lines)
        self.process.send_signal(signal.SIGUSR1)
        await asyncio.sleep(DUMP_WAIT)
        frames = busy_frames(self.output.lines[start:], self.shown_as)
        return "\n".join(f"  {frame.describe(self.source, self.shown_as)}" for frame in frames)

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self.output.port is None:
            if self.output.closed or self.process.poll() is not None:
                await asyncio.to_thread(self.output.finish)
                raise self._crashed()
            if time.monotonic() > deadline:
                where = await self.busy_at()
                raise AppDidNotStart(
                    f"Your app did not start within {STARTUP_TIMEOUT:.0f} s.\n"
                    + (
                        f"It was busy at:\n{where}"
                        if where
                        else f"Its output:\n{self.output.tail()}"
                    )
                )
            await asyncio.sleep(0.02)
        # Ready means accepting connections: a TCP connect, not a request an app would count.
        _, writer = await asyncio.open_connection(HOST, self.output.port)
        writer.close()
        await writer.wait_closed()

    def _crashed(self) -> AppDidNotStart:
        exception, frame = crash_location(self.output.lines, self.shown_as)
        if not exception:  # no traceback: uvicorn's own words say what went wrong
            return AppDidNotStart(
                f"Your app stopped before it served anything:\n{self.output.tail()}"
            )
        message = "Your app stopped before it served anything:\n  " + exception.replace(
            "\n", "\n  "
        )
        if frame:
            message += f"\nat {frame.describe(self.source, self.shown_as)}"
        return AppDidNotStart(message)

    async def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever is left after a grace time."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while self.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        _signal_group(self.process, signal.SIGKILL)  # also any process the app started
        await asyncio.to_thread(self.process.wait)
        await asyncio.to_thread(self.output.finish)
        _live.discard(self.process)
        shutil.rmtree(self.sandbox, ignore_errors=True)


async def start_server(
    source: Path,
    *,
    app: str,
    shown_as: str,
    env: Mapping[str, str | None] | None = None,
    log_sleeps: bool = False,
) -> LabServer:
    """Start the app in `source` (a folder holding `app/`) on a sandbox copy; ready when it returns.

    `env` adds variables to the server's environment; a value of None removes one.
    Raises AppDidNotStart, with the learner's error, if it crashes or hangs first.
    """
    sandbox = Path(tempfile.mkdtemp(prefix="grader-"))
    try:
        workdir = sandbox / "lab"
        shutil.copytree(source, workdir, ignore=NOT_COPIED)
        server_env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADER_PARENT_PID": str(os.getpid())}
        if log_sleeps:
            server_env["GRADER_SLEEP_LOG"] = str(sandbox / "sleep-calls.jsonl")
        for name, value in (env or {}).items():
            if value is None:
                server_env.pop(name, None)
            else:
                server_env[name] = value
        command = [
            sys.executable, "-m", "grader.launch", app,
            "--host", HOST, "--port", "0", "--no-proxy-headers", "--app-dir", str(workdir),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    except BaseException:
        shutil.rmtree(sandbox, ignore_errors=True)
        raise
    _live.add(process)
    server = LabServer(source, workdir, shown_as, process)
    try:
        await server._wait_until_ready()
    except BaseException:
        await server.stop()
        raise
    return server


@contextlib.asynccontextmanager
async def serve(source: Path, **options: Any) -> AsyncIterator[LabServer]:
    """`start_server(source, **options)` for the length of a block."""
    server = await start_server(source, **options)
    try:
        yield server
    finally:
        await server.stop()
