"""How a server's process starts: forked by the grader's fork server, or spawned on its own.

Forks skip the framework imports every server would otherwise repeat (grader/forkserver.py). They
need Linux (pidfds, PDEATHSIG); elsewhere, or with GRADER_FORKSERVER=0, each server is spawned as
`python -m grader.launch`. Both kinds run in a session of their own and die with the grader.

In class grading's sandbox (grader/sandbox.py) servers run as a user of their own, never as the
grader's: the sandbox starts the fork server as that user and hands it over to the grader
(HANDED_OVER_FD, HANDED_OVER_PID). The grader then starts every server through it and no other
way, cannot start another one (it holds no right to change user), and shares each server's
folder with that user through their common group.

Where TEMPLATE names a socket (`make test` sets it for the hundreds of gradings it runs,
tests/conftest.py), the fork server is instead forked by a template that imported the lab's
modules once (grader/forkserver.py): the same fork server, minus the imports, although not a child
of the grader.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

from grader.failures import AppDidNotStart

MESSAGE_SIZE = 1 << 20
WAIT_INTERVAL = 0.02
UNSEEN_WAIT = 15.0
"""Seconds a fork whose caller was cancelled may take to report its server (the fork server
imports the preloaded modules first), so that the server is killed rather than left unseen."""
HANDED_OVER_FD = "GRADER_FORKSERVER_FD"
HANDED_OVER_PID = "GRADER_FORKSERVER_PID"
TEMPLATE = "GRADER_FORKSERVER_TEMPLATE"


class ServerProcess(Protocol):
    """What the grader uses of a server's process: a `subprocess.Popen` or a `ForkedServer`."""

    pid: int
    stdout: IO[str]

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...

    def send_signal(self, signum: int, /) -> None: ...


async def start_process(
    command: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    preload: Collection[str] = (),
    folder: Path | None = None,
) -> ServerProcess:
    """A server running `command` (`uvicorn ...` or `gunicorn ...`, see grader/launch.py) from
    `cwd` with exactly `env` as its environment, everything it prints in its `stdout`; `preload`
    names modules a fork server imports first.
    `folder` is the server's own (its copy of the lab, what it writes): where servers run as a
    user of their own, that user is given the same access to it as the grader."""
    handed_over = HANDED_OVER_FD in os.environ
    if handed_over and folder is not None:
        _share_with_group(folder)
    if handed_over or (sys.platform == "linux" and os.environ.get("GRADER_FORKSERVER") != "0"):
        return await fork_server().fork(command, cwd=cwd, env=env, preload=preload)
    return subprocess.Popen(
        [sys.executable, "-m", "grader.launch", *command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _share_with_group(folder: Path) -> None:
    """Give the group what the owner may do, throughout `folder`: the sandbox's servers run as a
    user of the grader's group (temporary folders are made for their owner alone)."""
    for directory, _, files in os.walk(folder):
        for path in [directory, *(os.path.join(directory, name) for name in files)]:
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(path, stat.S_IMODE(mode) | (mode & 0o700) >> 3)


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


class InheritedChild:
    """A child process this one inherited with its program, as the sandbox's first process
    becomes the grader (exec): what ForkServer uses of a Popen, for it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        while (status := self.poll()) is None:
            time.sleep(WAIT_INTERVAL)
        return status

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class TemplateFork:
    """A fork server a template forked (TEMPLATE): not this process's child, so known by a pidfd
    and never waited for; its parent, the template, reaps it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)
        self.returncode: int | None = None
        """None while it runs; then -1: its exit status is its parent's to read."""

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self.returncode = -1
            os.close(self._pidfd)
        return self.returncode

    def wait(self) -> int:
        while (status := self.poll()) is None:
            select.select([self._pidfd], [], [])
        return status

    def kill(self) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    @classmethod
    def fork_from(cls, template: str, control: socket.socket) -> TemplateFork:
        """The fork server the template listening at `template` forked, holding `control`."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(template)
            socket.send_fds(connection, [b"."], [control.fileno()])
            pid = connection.recv(32)
        if not pid:
            raise RuntimeError(f"The fork server template at {template} could not fork")
        return cls(int(pid))


def start_template(
    path: str, preload: Collection[str], *, env: Mapping[str, str] = os.environ
) -> subprocess.Popen[bytes]:
    """A fork server template (TEMPLATE) that imports `preload`, with `env` as its environment:
    it listens at `path` (a new socket) already when this returns, so that a grader may connect
    before it has imported anything."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()
        command = ["-m", "grader.forkserver", "--template", str(listener.fileno()), *preload]
        return subprocess.Popen(
            [sys.executable, *command],
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )


class ForkServer:
    """The grader's end of its fork server: one it started, or one the sandbox handed over."""

    def __init__(
        self,
        control: socket.socket,
        process: subprocess.Popen[bytes] | InheritedChild | TemplateFork,
        *,
        handed_over: bool = False,
    ) -> None:
        self._control = control
        self.process = process
        self.handed_over = handed_over
        """Started as another user, by the sandbox: this grader cannot start another one."""
        atexit.register(self.stop)

    @classmethod
    def start(cls, *, as_user: Sequence[str] = (), umask: int = -1) -> ForkServer:
        """A fork server, a child of this process (or of a template, see TEMPLATE), with `umask`
        for it and its servers if one is given. `as_user`, a command that runs another as
        another user (setpriv, in class grading's sandbox), runs it as the app's own user: then
        none of the servers it starts, as the same user, may trace it (see
        grader/forkserver.py)."""
        control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if TEMPLATE in os.environ and not as_user:
            with theirs:
                return cls(control, TemplateFork.fork_from(os.environ[TEMPLATE], theirs))
        command = [*as_user, sys.executable, "-m", "grader.forkserver", str(theirs.fileno())]
        with theirs:
            process = subprocess.Popen(
                [*command, "--app-user"] if as_user else command,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "GRADER_PARENT_PID": str(os.getpid())},
                umask=umask,
            )
        return cls(control, process)

    def hand_over(self) -> dict[str, str]:
        """What a program this process becomes (exec) finds in its environment to use this fork
        server as its own, which stays a child of it."""
        os.set_inheritable(self._control.fileno(), True)
        return {HANDED_OVER_FD: str(self._control.fileno()), HANDED_OVER_PID: str(self.process.pid)}

    @classmethod
    def take_over(cls) -> ForkServer:
        """The fork server handed over to this process by the one it was before (exec)."""
        control = socket.socket(fileno=int(os.environ[HANDED_OVER_FD]))
        os.set_inheritable(control.fileno(), False)
        process = InheritedChild(int(os.environ[HANDED_OVER_PID]))
        return cls(control, process, handed_over=True)

    def stop(self) -> None:
        """Stop it now, not once it notices the grader has gone: it may be busy importing (or
        stopped, by a server of its own user); its servers die with it."""
        self._control.close()
        self.process.kill()
        self.process.wait()

    async def fork(
        self,
        command: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        preload: Collection[str],
    ) -> ForkedServer:
        request = {"command": command, "cwd": str(cwd), "env": dict(env), "preload": [*preload]}
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        output, output_theirs = os.pipe()
        stdout = open(output, encoding="utf-8", errors="replace")  # noqa: SIM115 (the server's)
        try:
            try:
                message = json.dumps(request).encode()
                socket.send_fds(self._control, [message], [status_theirs.fileno(), output_theirs])
            finally:
                status_theirs.close()
                os.close(output_theirs)
            status.setblocking(False)
            try:
                started = await asyncio.get_running_loop().sock_recv(status, MESSAGE_SIZE)
            except asyncio.CancelledError:
                _kill_when_started(status, stdout)
                raise
        except BrokenPipeError:  # the fork server has ended
            started = b""
        if not started:  # the fork server could not fork, or ended
            stdout.close()
            status.close()
            raise self._could_not_start()
        return ForkedServer(json.loads(started)["pid"], status, stdout)

    def _could_not_start(self) -> Exception:
        if self.handed_over:  # only the app's own code, as its user, can end it
            return AppDidNotStart(
                "Your app's server could not be started: the process that starts servers (as "
                "your app's user) had ended or could not fork. Does your app stop processes it "
                "did not start, or start too many?",
                output=[],
            )
        return RuntimeError("The grader's fork server could not start a server")


def _kill_when_started(status: socket.socket, stdout: IO[str]) -> None:
    """Cancelled (Ctrl-C, a check's time limit) while the fork server forks: the server it starts
    would run unseen by the grader, and write into a folder the grader is about to remove. Wait for
    it to report, kill its group, and wait for the fork server to say it has exited."""
    status.setblocking(True)
    status.settimeout(UNSEEN_WAIT)
    with contextlib.suppress(OSError, ValueError), status, stdout:  # gone, or never forked
        started = status.recv(MESSAGE_SIZE)
        os.killpg(json.loads(started)["pid"], signal.SIGKILL)
        status.recv(MESSAGE_SIZE)


_fork_server: ForkServer | None = None
_starting = threading.Lock()


def fork_server() -> ForkServer:
    """This grader's fork server: the one handed over, else one started on first use (again if it
    has stopped)."""
    global _fork_server
    with _starting:
        if _fork_server is None and HANDED_OVER_FD in os.environ:
            _fork_server = ForkServer.take_over()
        elif _fork_server is None or (
            not _fork_server.handed_over and _fork_server.process.poll() is not None
        ):
            _fork_server = ForkServer.start()
    return _fork_server
