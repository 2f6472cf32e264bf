"""How a server's process starts: forked by the grader's fork server, or spawned on its own.

Forks skip the framework imports every server would otherwise repeat (grader/forkserver.py). They
need Linux (pidfds, PDEATHSIG); elsewhere, or with GRADER_FORKSERVER=0, each server is spawned as
`python -m grader.launch`. Both kinds run in a session of their own and die with the grader.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO, Protocol

MESSAGE_SIZE = 1 << 20
WAIT_INTERVAL = 0.02


class ServerProcess(Protocol):
    """What the grader uses of a server's process: a `subprocess.Popen` or a `ForkedServer`."""

    pid: int
    stdout: IO[str]

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...

    def send_signal(self, signum: int, /) -> None: ...


async def start_process(
    arguments: list[str], *, cwd: Path, env: Mapping[str, str], preload: Collection[str] = ()
) -> ServerProcess:
    """A server running `uvicorn ARGUMENTS` from `cwd` with exactly `env` as its environment,
    everything it prints in its `stdout`; `preload` names modules a fork server imports first."""
    if sys.platform == "linux" and os.environ.get("GRADER_FORKSERVER") != "0":
        return await fork_server().fork(arguments, cwd=cwd, env=env, preload=preload)
    return subprocess.Popen(
        [sys.executable, "-m", "grader.launch", *arguments],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


class ForkedServer:
    """A server the fork server forked: what the grader uses of `subprocess.Popen`, for it."""

    def __init__(self, pid: int, status: socket.socket, stdout: IO[str]) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._status = status
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        """The exit status, as Popen gives it (-N: killed by signal N); None while it runs."""
        with self._lock:
            if self.returncode is None:
                try:
                    message = self._status.recv(MESSAGE_SIZE, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return None
                # No message: the fork server ended, and its servers died with it.
                self.returncode = json.loads(message)["exit"] if message else -signal.SIGKILL
                self._status.close()
            return self.returncode

    def wait(self) -> int:
        while (status := self.poll()) is None:
            time.sleep(WAIT_INTERVAL)
        return status

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended since: as Popen does
                os.kill(self.pid, signum)


class ForkServer:
    """The grader's end of its fork server."""

    def __init__(self) -> None:
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "grader.forkserver", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "GRADER_PARENT_PID": str(os.getpid())},
            )
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop it now, not once it notices the grader has gone: it may be busy importing."""
        self._control.close()
        self.process.terminate()
        self.process.wait()

    async def fork(
        self,
        arguments: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        preload: Collection[str],
    ) -> ForkedServer:
        request = {"arguments": arguments, "cwd": str(cwd), "env": dict(env), "preload": [*preload]}
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        output, output_theirs = os.pipe()
        try:
            message = json.dumps(request).encode()
            socket.send_fds(self._control, [message], [status_theirs.fileno(), output_theirs])
        finally:
            status_theirs.close()
            os.close(output_theirs)
        stdout = open(output, encoding="utf-8", errors="replace")  # noqa: SIM115 (the server's)
        status.setblocking(False)
        started = await asyncio.get_running_loop().sock_recv(status, MESSAGE_SIZE)
        if not started:  # the fork server could not fork, or ended
            stdout.close()
            status.close()
            raise RuntimeError("The grader's fork server could not start a server")
        return ForkedServer(json.loads(started)["pid"], status, stdout)


_fork_server: ForkServer | None = None
_starting = threading.Lock()


def fork_server() -> ForkServer:
    """This grader's fork server, started on first use (again if it has stopped)."""
    global _fork_server
    with _starting:
        if _fork_server is None or _fork_server.process.poll() is not None:
            _fork_server = ForkServer()
    return _fork_server
