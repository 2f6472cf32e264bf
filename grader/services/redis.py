"""A real Redis for tests, checks and benchmarks: Debian's `redis-server`, one per use.

Each use gets a server of its own, on a free TCP port of 127.0.0.1, with no persistence and an
empty temporary folder: nothing another test or another engineer's Redis holds can leak in, and
nothing is left on disk. Starting one takes about 15 ms here, so sharing is never worth the risk.

Such a server must never outlive what started it, however that ends:
- it runs in a process group of its own, killed with SIGKILL when the block ends (no data to save);
- it is killed at exit too, should the block never end (atexit, as grader/server.py does);
- Linux kills it when its parent dies, even by SIGKILL (PR_SET_PDEATHSIG, grader/launch.py). The
  signal follows the *thread* that started the process, so `redis_server()` starts it in the
  caller's thread, never in a worker thread that may end first.

The port is found by binding port 0 and closing the socket, which leaves a moment in which another
process can take it (Redis cannot pick a port itself). Redis then fails to bind and exits, and the
start is tried again on another port.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.launch import die_with_parent

EXECUTABLE = "redis-server"
HOST = "127.0.0.1"
START_LIMIT = 10.0
"""Seconds a server may take to accept connections: milliseconds on an idle machine."""
PORT_ATTEMPTS = 5
"""Starts tried, each on another port, when the chosen port was taken meanwhile."""
POLL_INTERVAL = 0.005
READY = "Ready to accept connections"
"""What redis-server logs once it listens: only the server that bound the port logs it."""
PORT_TAKEN = "Address already in use"
LOG_NAME = "redis.log"

_live: set[RedisServer] = set()


class RedisServerMissing(RuntimeError):
    """`redis-server` is not installed."""


class RedisDidNotStart(RuntimeError):
    """`redis-server` exited, or did not get ready in time: the message ends with its log."""


@dataclass(eq=False)
class RedisServer:
    """One running redis-server. Its database 0 is at `url`; `kill()` stops it at once."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL to its process group, as a crash or an out-of-memory kill would: a server with
        nothing to save needs no goodbye. Its folder goes with it. Safe to call twice."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        _live.discard(self)

    def log(self) -> str:
        """What the server has logged so far."""
        try:
            return (self.folder / LOG_NAME).read_text(errors="replace")
        except OSError:
            return ""


@atexit.register
def _kill_leftovers() -> None:
    """Last resort (an interrupted run, a block never left): no server outlives this process."""
    for server in list(_live):
        server.kill()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _spawn(port: int) -> RedisServer:
    """redis-server on `port`, started from this thread, not yet known to be ready."""
    executable = shutil.which(EXECUTABLE)
    if executable is None:
        raise RedisServerMissing(
            f"{EXECUTABLE} was not found on PATH: install Debian's redis-server "
            "(make setup does: sudo apt-get install redis-server)"
        )
    folder = Path(tempfile.mkdtemp(prefix="course-redis-"))
    command = [
        executable,
        "--bind", HOST, "--port", str(port),
        "--save", "", "--appendonly", "no",  # no persistence: nothing written, nothing to load
        "--dir", str(folder),
        "--daemonize", "no", "--logfile", "",  # in the foreground, logging to stdout (the log file)
    ]  # fmt: skip
    with open(folder / LOG_NAME, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )
    server = RedisServer(process, port, folder)
    _live.add(server)
    return server


def _ready(server: RedisServer, started: float) -> bool | None:
    """Whether `server` accepts connections (True), lost its port to another process meanwhile
    (False), or is still starting (None). Raises RedisDidNotStart if it exited for another reason
    or has taken more than START_LIMIT seconds since `started`."""
    log = server.log()
    if READY in log:
        return True
    if server.process.poll() is not None:
        log = server.log()  # all of it, now that it has ended
        if PORT_TAKEN in log:
            return False
        raise RedisDidNotStart(
            f"redis-server exited with status {server.process.returncode}:\n{log}"
        )
    if time.monotonic() - started > START_LIMIT:
        raise RedisDidNotStart(f"redis-server was not ready after {START_LIMIT} s:\n{log}")
    return None


@contextlib.contextmanager
def sync_redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server for the block, killed when it ends: for synchronous code (a pytest
    fixture, a benchmark)."""
    for _ in range(PORT_ATTEMPTS):
        server, started = _spawn(free_port()), time.monotonic()
        try:
            while (ready := _ready(server, started)) is None:
                time.sleep(POLL_INTERVAL)
            if ready:
                yield server
                return
        finally:
            server.kill()
    raise RedisDidNotStart(f"every port tried was taken ({PORT_ATTEMPTS} attempts)")


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[RedisServer]:
    """A fresh redis-server for the block, killed when it ends. The process starts in the event
    loop's thread (see the module's docstring), and the wait for it does not block the loop."""
    for _ in range(PORT_ATTEMPTS):
        server, started = _spawn(free_port()), time.monotonic()
        try:
            while (ready := _ready(server, started)) is None:
                await asyncio.sleep(POLL_INTERVAL)
            if ready:
                yield server
                return
        finally:
            server.kill()
    raise RedisDidNotStart(f"every port tried was taken ({PORT_ATTEMPTS} attempts)")
