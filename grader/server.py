"""A learner's app on a real server: a sandbox copy of the lab, a free port, always stopped.

Servers run uvicorn (or, for Lab 10, a gunicorn master with the lab's own gunicorn.conf.py and its
uvicorn workers) plus the grader's probes (grader/launch.py) on 127.0.0.1, port 0, in a process
group of their own: forks of the grader's fork server (grader/forkserver.py) where there is one,
else processes of their own. The copy keeps the learner's folder untouched whatever the app writes.
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
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import IO, Any

import httpx

from grader import procfs
from grader.apptrace import THREAD, busy_frames, crash_location, library_frames, shortened
from grader.failures import AppDidNotStart
from grader.launch import STDOUT_MARK
from grader.processes import ServerProcess, start_process
from grader.reproduce import Launch

HOST = "127.0.0.1"
# An app that never gets ready is stopped when it has burnt STARTUP_CPU seconds of CPU (a busy
# loop: a forked server is ready after a tenth of a second, a spawned one after half a second of
# imports), or spent STARTUP_IDLE seconds asleep, waiting on something. Time spent waiting for a
# CPU does not count: a correct app on a machine busy grading a whole class starts late, but it
# starts. Real seconds: imports take as long at any time scale.
STARTUP_CPU = 5.0
STARTUP_IDLE = 10.0
STARTUP_LIMIT = STARTUP_CPU + STARTUP_IDLE
"""The longest a start-up can take on an idle machine."""
STOP_GRACE = 3.0
DUMP_LIMIT = 5.0
DUMP_SETTLE = 0.1
EXIT_WAIT = 5.0
"""Seconds for a process whose output has ended to be reported gone: its status says how it died."""
OUTPUT_MARK = "grader.output_mark"
ONE_REQUEST_EACH = httpx.Limits(max_keepalive_connections=0)
RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
ASGI_WORKER = "UvicornWorker"
"""The class name of gunicorn workers that serve ASGI apps: uvicorn-worker's (or uvicorn's own)."""
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".grades")


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client, as httpx would make for each: the servers speak plain
    HTTP on 127.0.0.1, and loading the certificates again for each client (a grading makes a
    dozen) cost a grading a third of a second of CPU."""
    return ssl.create_default_context()


_live: set[LabServer] = set()
"""Each server not yet ended (`LabServer.end`)."""


@atexit.register
def _kill_leftovers() -> None:
    """Last resort (an interrupted run): no server outlives the grader, nor its sandbox. A Ctrl-C
    cancels the checks' tasks, and a server whose stop() was cancelled while it waited for the
    server to exit is still here."""
    for server in list(_live):
        server.end()


def _signal_group(process: ServerProcess, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def cpu_and_sleep(pid: int) -> tuple[float, bool]:
    """A process's CPU seconds so far, and whether it is asleep (waiting, not running or runnable).
    Where there is no /proc, or once it is gone, it counts as asleep: wall time limits it."""
    found = procfs.stat(pid)
    return (found.cpu_seconds, found.asleep) if found else (0.0, True)


class ServerOutput:
    """Everything the server prints (stdout and stderr), read by a thread as it comes.

    Sandbox paths are shown as the learner's own (`labs/lab3/app/main.py`). A server started with
    the `stdout` probe marks the lines it writes to stdout (grader/launch.py): they are kept in
    `stdout` as well, unmarked.
    """

    def __init__(self, stream: IO[str], sandbox: Path, shown_as: str) -> None:
        self.lines: list[str] = []
        self.stdout: list[str] = []
        self.port: int | None = None
        self.closed = False
        self._sandbox = str(sandbox)
        self._shown_as = shown_as
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for raw in stream:
                line = raw.rstrip("\n").replace(self._sandbox, self._shown_as)
                if line.startswith(STDOUT_MARK):
                    line = line.removeprefix(STDOUT_MARK)
                    self.stdout.append(line)
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

    def __init__(self, launch: Launch, workdir: Path, process: ServerProcess):
        self.launch = launch
        self.source = launch.source
        self.shown_as = launch.shown_as
        self.workers = launch.gunicorn_workers
        """The workers a gunicorn master was asked for; None for a uvicorn server."""
        self.process = process
        self.sandbox = workdir.parent
        _live.add(self)
        self.output = ServerOutput(process.stdout, workdir, launch.shown_as)
        self.probe_log = self.sandbox / "probes.jsonl"
        self.in_flight: Counter[str] = Counter()
        self.headers: dict[str, str] = {}
        """Headers every client of this server sends: the credentials a `Service` got for it."""
        self.headers_by_hand: Sequence[str] = ()
        """The shell lines that get those credentials by hand (`Service.by_hand`)."""

    @property
    def port(self) -> int | None:
        """Where the server listens: uvicorn says so in its output, a gunicorn master through the
        grader's hooks (whatever the log level). A Celery worker listens nowhere."""
        if self.launch.celery_worker:
            return None
        if self.workers is None:
            return self.output.port
        listening = [r for r in self.probed("gunicorn") if r["event"] == "listening"]
        return listening[0]["ports"][0] if listening and listening[0]["ports"] else None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def worker_pids(self) -> list[int]:
        """The pids of the gunicorn workers whose uvicorn server has started, in that order."""
        return [r["pid"] for r in self.probed("gunicorn") if r["event"] == "worker started"]

    def client(
        self, local_address: str | None = None, *, credentials: bool = True, **options: Any
    ) -> httpx.AsyncClient:
        """An HTTP client for this server, without timeout: a blocking burst is measured in full.
        `local_address` (another loopback address, such as 127.0.0.2) makes it another client IP.

        Each request has a connection of its own: uvicorn closes a connection on which the app
        raised, and a request sent on it meanwhile would fail through no fault of the app's.
        It sends `headers` on every request (unless `credentials` is false), under those of the
        request itself.
        """
        hooks = {"request": [self._sent], "response": [self._answered]}
        transport = httpx.AsyncHTTPTransport(
            local_address=local_address, limits=ONE_REQUEST_EACH, verify=_tls()
        )
        headers = {**(self.headers if credentials else {}), **(options.pop("headers", None) or {})}
        return httpx.AsyncClient(
            base_url=self.url,
            timeout=None,
            event_hooks=hooks,
            transport=transport,
            headers=headers,
            **options,
        )

    async def _sent(self, request: httpx.Request) -> None:
        self.in_flight[f"{request.method} {request.url.path}"] += 1
        request.extensions[OUTPUT_MARK] = len(self.output.lines)

    async def _answered(self, response: httpx.Response) -> None:
        self.in_flight[f"{response.request.method} {response.request.url.path}"] -= 1

    def output_mark(self, request: httpx.Request) -> int:
        """How many lines the server had printed when `request` was sent: what it printed in
        answering comes after."""
        return request.extensions.get(OUTPUT_MARK, 0)

    def probed(self, probe: str) -> list[dict[str, Any]]:
        """What a probe the server was started with has recorded so far (see grader/launch.py)."""
        if not self.probe_log.exists():
            return []
        records = (json.loads(line) for line in self.probe_log.read_text().splitlines())
        return [record for record in records if record["probe"] == probe]

    async def terminate(self, grace: float) -> int | None:
        """SIGTERM, as a process manager sends it; the exit status within `grace` s, else None."""
        self.process.send_signal(signal.SIGTERM)
        return await self.exit_status(grace)

    async def exit_status(self, within: float) -> int | None:
        """The exit status once the process has ended, everything it printed read; None if it
        is still running `within` seconds from now."""
        deadline = time.monotonic() + within
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(self.output.finish)
        return self.process.poll()

    async def busy_at(self) -> str:
        """Where the app's own code is running now, from a stack dump of every thread. A gunicorn
        master takes SIGUSR1 for itself (it reopens its logs), and so does a Celery worker: none
        there."""
        if self.process.poll() is not None or self.workers or self.launch.celery_worker:
            return ""
        dump = await self._stack_dump()
        if frames := busy_frames(dump, self.shown_as):
            return "\n".join(f"  {frame.describe(self.source, self.shown_as)}" for frame in frames)
        return "\n".join(
            f"  not in your code, {'on the event loop' if loop else 'in a worker thread'}: "
            f"{shortened(frame.file)}, line {frame.line}, in {frame.function}"
            for frame, loop in library_frames(dump)
        )

    async def _stack_dump(self) -> list[str]:
        """What the server prints on SIGUSR1 (grader/launch.py), once it has stopped coming: the
        dump is written at once, but may reach us late on a busy machine."""
        start = count = len(self.output.lines)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + DUMP_LIMIT
        while time.monotonic() < deadline:
            await asyncio.sleep(DUMP_SETTLE)
            dumped = any(THREAD.match(line) for line in self.output.lines[start:])
            if dumped and len(self.output.lines) == count:
                break
            count = len(self.output.lines)
        return self.output.lines[start:]

    def tasks_started(self) -> list[dict[str, Any]]:
        """Each try of a task a Celery worker has started: its `task_id`, `name`, `pid` and
        the time it started (`at`, as time.time() reads it)."""
        return [r for r in self.probed("celery") if r["event"] == "task started"]

    def _ready(self) -> bool:
        """Listening, and under gunicorn with the workers asked for started; for a Celery worker,
        consuming from its queues."""
        if self.launch.celery_worker:
            return any(r["event"] == "ready" for r in self.probed("celery"))
        if self.port is None:
            return False
        return self.workers is None or len(self.worker_pids()) >= self.workers

    def _not_ready(self) -> str:
        """What a master that never got ready was missing."""
        if self.workers is None:
            return ""
        started, asked = len(self.worker_pids()), self.workers
        return f" (gunicorn had started {started} of the {asked} workers asked for)"

    def _wrong_workers(self) -> AppDidNotStart | None:
        """A master whose workers are not uvicorn's: they would never serve an ASGI app."""
        listening = [r for r in self.probed("gunicorn") if r["event"] == "listening"]
        if not listening or listening[0]["worker_class"].endswith(ASGI_WORKER):
            return None
        return AppDidNotStart(
            f"gunicorn started workers of class {listening[0]['worker_class']}, which cannot "
            f"serve an ASGI app such as FastAPI: set worker_class = 'uvicorn_worker.{ASGI_WORKER}' "
            "in gunicorn.conf.py.",
            output=self.output.lines,
            launch=self.launch,
        )

    async def _wait_until_ready(self) -> None:
        idle, checked = 0.0, time.monotonic()
        while not self._ready():
            if self.workers is not None and (wrong := self._wrong_workers()):
                raise wrong
            if self.output.closed or self.process.poll() is not None:
                await asyncio.to_thread(self.output.finish)
                await self._exited()
                raise self._crashed()
            cpu, asleep = cpu_and_sleep(self.process.pid)
            now = time.monotonic()
            idle, checked = idle + (now - checked if asleep else 0.0), now
            if cpu > STARTUP_CPU or idle > STARTUP_IDLE:
                spent = f"{cpu:.0f} s of CPU time" if cpu > STARTUP_CPU else f"{idle:.0f} s waiting"
                where = await self.busy_at()
                found = (
                    f"It was busy at:\n{where}" if where else f"Its output:\n{self.output.tail()}"
                )
                raise AppDidNotStart(
                    f"Your app did not start: still not ready after {spent}"
                    f"{self._not_ready()}.\n{found}",
                    output=self.output.lines,
                    launch=self.launch,
                )
            await asyncio.sleep(0.02)
        if self.port is None:
            return
        # Ready means accepting connections: a TCP connect, not a request an app would count.
        _, writer = await asyncio.open_connection(HOST, self.port)
        writer.close()
        await writer.wait_closed()

    async def _exited(self) -> None:
        """Wait a moment for the process to be reported gone: its output can end first."""
        deadline = time.monotonic() + EXIT_WAIT
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _crashed(self) -> AppDidNotStart:
        exception, frame = crash_location(self.output.lines, self.shown_as)
        message = "Your app stopped before it served anything:\n"
        if not exception:  # no traceback: uvicorn's own words say what went wrong
            message += self.output.tail()
        else:
            message += "  " + exception.replace("\n", "\n  ")
            if frame:
                message += f"\nat {frame.describe(self.source, self.shown_as)}"
        return AppDidNotStart(
            message, output=self.output.lines, launch=self.launch, exit_code=self.process.poll()
        )

    async def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash or an out-of-memory kill does:
        nothing finishes, nothing is handed back. Its output stays readable."""
        _signal_group(self.process, signal.SIGKILL)
        await self.exit_status(within=EXIT_WAIT)

    async def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever is left after a grace time.
        A Celery worker is killed at once: its warm shutdown takes a second, and a check has
        nothing left for it to finish."""
        if self.process.poll() is None and not self.launch.celery_worker:
            _signal_group(self.process, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while self.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        await asyncio.to_thread(self.end)
        await asyncio.to_thread(self.output.finish)

    def end(self) -> None:
        """SIGKILL the server's process group and the server itself, wait for its exit, remove
        its sandbox: what is left of any stop, however it began."""
        _signal_group(self.process, signal.SIGKILL)  # also any process the app started
        self.process.send_signal(signal.SIGKILL)  # even if the app left its group
        self.process.wait()
        _live.discard(self)
        shutil.rmtree(self.sandbox, ignore_errors=True)


async def start_server(
    source: Path,
    *,
    app: str,
    shown_as: str,
    env: Mapping[str, str | None] | None = None,
    files: Mapping[str, str | None] | None = None,
    probes: Collection[str] = (),
    preload: Collection[str] = (),
    cwd_elsewhere: bool = False,
    gunicorn_workers: int | None = None,
) -> LabServer:
    """Start the app in `source` (a folder holding `app/`) on a sandbox copy; ready when it returns.

    `env` adds variables to the server's environment and `files` writes files into the copy
    (a value of None removes one); `probes` are grader/launch.py's; `preload` names modules the
    fork server imports once for every server (the lab's `preload`); `cwd_elsewhere` runs the
    server from an empty folder beside the copy instead of from the copy. `gunicorn_workers`
    runs the app as a deployment does, under `gunicorn -c gunicorn.conf.py` from the copy with
    HOST, PORT and WEB_CONCURRENCY set (`env` may change them): ready once that many workers have
    started.
    Raises AppDidNotStart, with the learner's error, if it crashes or hangs first.
    """
    if gunicorn_workers is None:
        command = ["uvicorn", app, "--host", HOST, "--port", "0", "--no-proxy-headers"]
    else:  # masters side by side would share one control socket (gunicorn 25.1 and later)
        command = ["gunicorn", app, "-c", "gunicorn.conf.py", "--no-control-socket"]
        env = {"HOST": HOST, "PORT": "0", "WEB_CONCURRENCY": str(gunicorn_workers), **(env or {})}
    launch = Launch(
        app, source, shown_as, dict(env or {}), dict(files or {}), cwd_elsewhere, gunicorn_workers
    )
    return await _start_until_ready(launch, command, probes, preload)


async def start_worker(
    source: Path,
    *,
    app: str,
    shown_as: str,
    env: Mapping[str, str | None] | None = None,
    preload: Collection[str] = (),
) -> LabServer:
    """Start `celery -A APP worker` (the Celery app `app` of the lab in `source`) on a sandbox
    copy, as it is deployed: the default prefork pool, two pool processes. Ready when it returns:
    consuming from its queues. Raises AppDidNotStart, with the learner's error, if it crashes or
    hangs first.

    Mingle, gossip and heartbeats (workers talking to each other) are off: a worker of its own
    needs none of them, and mingle alone makes a start a second slower."""
    command = [
        "celery", "-A", app, "worker", "--pool", "prefork", "--concurrency", "2",
        "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    launch = Launch(app, source, shown_as, dict(env or {}), celery_worker=True)
    return await _start_until_ready(launch, command, (), preload)


async def _start_until_ready(
    launch: Launch, command: list[str], probes: Collection[str], preload: Collection[str]
) -> LabServer:
    server = await _start(launch, command, probes, preload)
    try:
        await server._wait_until_ready()
    except BaseException:
        await server.stop()
        raise
    return server


async def run_to_end(
    source: Path,
    command: list[str],
    *,
    app: str,
    shown_as: str,
    env: Mapping[str, str | None] | None = None,
    preload: Collection[str] = (),
    limit: float = STARTUP_LIMIT,
) -> tuple[int | None, list[str]]:
    """Run `command` (`gunicorn --print-config ...`, say) on a sandbox copy of `source` as servers
    are run, until it exits: its exit status (None if it was stopped after `limit` seconds) and
    what it printed."""
    program = await _start(Launch(app, source, shown_as, dict(env or {})), command, (), preload)
    try:
        deadline = time.monotonic() + limit
        while program.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        status = program.process.poll()
    finally:
        await program.stop()
    return status, program.output.lines


async def _start(
    launch: Launch, command: list[str], probes: Collection[str], preload: Collection[str]
) -> LabServer:
    """Run `command` on a fresh sandbox copy of the lab, with the launch's settings and files."""
    sandbox = Path(tempfile.mkdtemp(prefix="grader-"))
    try:
        workdir = sandbox / "lab"
        shutil.copytree(launch.source, workdir, ignore=NOT_COPIED)
        for name, text in launch.files.items():
            if text is None:
                (workdir / name).unlink(missing_ok=True)
            else:
                (workdir / name).write_text(text)
        cwd = sandbox / "elsewhere" if launch.cwd_elsewhere else workdir
        cwd.mkdir(exist_ok=True)
        # Temporary files, the app's and its children's (a Celery pool's), go with the copy: even
        # those of a process killed before it could remove them.
        scratch = sandbox / "tmp"
        scratch.mkdir()
        if command[0] == "uvicorn":
            command = [*command, "--app-dir", str(workdir)]
        server_env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "GRADER_PARENT_PID": str(os.getpid()),
            "GRADER_PROBES": ",".join(probes),
            "GRADER_PROBE_LOG": str(sandbox / "probes.jsonl"),
            "TMPDIR": str(scratch),
        }
        for name, value in launch.env.items():
            if value is None:
                server_env.pop(name, None)
            else:
                server_env[name] = value
        process = await start_process(
            command, cwd=cwd, env=server_env, preload=preload, folder=sandbox
        )
    except BaseException:
        shutil.rmtree(sandbox, ignore_errors=True)
        raise
    return LabServer(launch, workdir, process)


@contextlib.asynccontextmanager
async def serve(source: Path, **options: Any) -> AsyncIterator[LabServer]:
    """`start_server(source, **options)` for the length of a block."""
    server = await start_server(source, **options)
    try:
        yield server
    finally:
        await server.stop()
