"""Start a learner's app under uvicorn or gunicorn, with what graders need installed first.

Servers are forks of the grader's fork server (grader/forkserver.py), which calls `run()`, or, where
there is none, processes started as `python -m grader.launch uvicorn APP [uvicorn options]` (or
`gunicorn APP [gunicorn options]`). Either way, before the server imports the app:
- the server is bound to die with the grader that started it, even one killed with SIGKILL;
- SIGUSR1 dumps every thread's stack, so a grader can say where a hanging app is stuck;
- the probes named in GRADER_PROBES (comma-separated) append JSON lines to GRADER_PROBE_LOG:
  `time.sleep` records each call and whether it ran on the event loop's thread (how Lab 3 tells
  a worker thread from an asyncio.sleep rewrite); `anthropic` records each AsyncAnthropic client
  created, with a fingerprint of its key, and each one closed (how Lab 1 counts clients); `clock`
  shifts time.time and time.monotonic on request so that a minute turns soon (how Lab 2 tells a
  rate limit over any 60 seconds from a window that resets on the clock's minutes); `stdout`
  marks each line written through `sys.stdout` with STDOUT_MARK, so that the one output a grader
  reads still tells the app's stdout from its stderr (how Lab 8 finds the lines its log checks
  judge: logs on stdout, uvicorn's own messages and tracebacks on stderr).

Under gunicorn (Lab 10) the master records the port it listens on and its worker class, and each
worker records when its uvicorn server has started (the lifespan's start-up done): how a grader
knows the master is ready whatever log level the learner's config chose. Each worker is bound to
die with its master, as the master is with the grader: uvicorn's workers never check on their
parent themselves. A Celery worker (Lab 7) records when it is ready and when each try of a task
starts, and its pool processes die with it.
"""

import asyncio
import ctypes
import faulthandler
import functools
import hashlib
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
CLOCK_TURN = signal.SIGUSR2
"""Sent to a server started with the `clock` probe: its clocks reach a whole minute CLOCK_LEAD
seconds later."""
CLOCK_LEAD = 1.0
STDOUT_MARK = "\x1e"
"""Starts every line the `stdout` probe lets through: ASCII's record separator, which no log line
contains."""
Record = Callable[[dict[str, object]], None]
"""How a probe records what it saw: one entry, a JSON object, at a time."""


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when `parent`, the process that started it, goes away."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the parent died before prctl took effect


def set_dumpable(dumpable: bool) -> None:
    """Whether other processes of this user may trace this one, read its memory or take its file
    descriptors (through /proc or pidfd_getfd), as Linux allows by default."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, int(dumpable))


def fingerprint(secret: str | None) -> str | None:
    """What graders compare keys by: never the key itself in a log."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12] if secret else None


def probe_time_sleep(record: Record) -> None:
    real_sleep = time.sleep

    @functools.wraps(real_sleep)
    def sleep(seconds: float, /) -> None:
        try:
            asyncio.get_running_loop()
            on_event_loop = True
        except RuntimeError:
            on_event_loop = False
        record({"probe": "time.sleep", "seconds": seconds, "on_event_loop": on_event_loop})
        real_sleep(seconds)

    time.sleep = sleep


def probe_anthropic(record: Record) -> None:
    from anthropic import AsyncAnthropic

    real_init, real_close = AsyncAnthropic.__init__, AsyncAnthropic.close

    @functools.wraps(real_init)
    def __init__(self: AsyncAnthropic, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)
        record({"probe": "anthropic", "event": "created", "key": fingerprint(self.api_key)})

    @functools.wraps(real_close)
    async def close(self: AsyncAnthropic) -> None:
        record({"probe": "anthropic", "event": "closed"})
        await real_close(self)

    AsyncAnthropic.__init__, AsyncAnthropic.close = __init__, close


def probe_clock(record: Record) -> None:
    """time.time and time.monotonic (and their _ns twins) run at their own pace, shifted forward
    on CLOCK_TURN so that both read a whole minute CLOCK_LEAD seconds later. The grader turns the
    clock before the requests it measures, so that none of them spans the jump; the record says
    when the minute turns, in real (wall clock) time."""
    real_time, real_monotonic = time.time, time.monotonic
    shift = {"time": 0.0, "monotonic": 0.0}

    def turn(signum: int, frame: object) -> None:
        now, monotonic = real_time(), real_monotonic()
        shift["time"] = -(now + CLOCK_LEAD) % 60
        shift["monotonic"] = -(monotonic + CLOCK_LEAD) % 60
        record({"probe": "clock", "turns_at": now + CLOCK_LEAD})

    signal.signal(CLOCK_TURN, turn)
    time.time = lambda: real_time() + shift["time"]
    time.monotonic = lambda: real_monotonic() + shift["monotonic"]
    real_time_ns, real_monotonic_ns = time.time_ns, time.monotonic_ns
    time.time_ns = lambda: real_time_ns() + int(shift["time"] * 1e9)
    time.monotonic_ns = lambda: real_monotonic_ns() + int(shift["monotonic"] * 1e9)


class MarkedLines(io.TextIOBase):
    """A text stream that writes through to `stream`, each line started with STDOUT_MARK."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self._stream = stream
        self._line_start = True
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            marked = []
            for index, piece in enumerate(text.split("\n")):
                if index:
                    marked.append("\n")
                    self._line_start = True
                if piece:
                    marked.append(STDOUT_MARK + piece if self._line_start else piece)
                    self._line_start = False
            self._stream.write("".join(marked))
            self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> object:  # fileno, isatty, encoding, buffer...
        return getattr(self._stream, name)


def probe_stdout(record: Record) -> None:
    sys.stdout = MarkedLines(sys.stdout)


PROBES = {
    "time.sleep": probe_time_sleep,
    "anthropic": probe_anthropic,
    "clock": probe_clock,
    "stdout": probe_stdout,
}


def recorder(log_path: str) -> Record:
    """What probes record with: one JSON line per entry, appended to `log_path`."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def record(entry: dict[str, object]) -> None:
        entry["thread"] = threading.current_thread().name
        os.write(log, (json.dumps(entry, default=str) + "\n").encode())

    return record


def install_probes(names: str, record: Record) -> None:
    for name in filter(None, names.split(",")):
        PROBES[name](record)


def uvicorn(record: Record) -> Callable[[], None]:
    from uvicorn.main import main

    return main


def gunicorn(record: Record) -> Callable[[], None]:
    """gunicorn's own command, with the master and its workers reporting as the docstring says."""
    from gunicorn.app.wsgiapp import run
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker
    from uvicorn.server import Server

    real_start, real_init_process, real_startup = Arbiter.start, Worker.init_process, Server.startup

    @functools.wraps(real_start)
    def start(self: Arbiter) -> None:
        real_start(self)
        ports = [listener.sock.getsockname()[1] for listener in self.LISTENERS]
        record({"probe": "gunicorn", "event": "listening", "ports": ports,
                "worker_class": self.cfg.worker_class_str})  # fmt: skip

    @functools.wraps(real_init_process)
    def init_process(self: Worker) -> None:
        die_with_parent(self.ppid)
        real_init_process(self)

    @functools.wraps(real_startup)
    async def startup(self: Server, *args: object, **kwargs: object) -> None:
        await real_startup(self, *args, **kwargs)
        if self.started:
            record({"probe": "gunicorn", "event": "worker started", "pid": os.getpid()})

    Arbiter.start, Worker.init_process, Server.startup = start, init_process, startup
    return run


def celery(record: Record) -> Callable[[], None]:
    """celery's own command, with the worker reporting when it is ready and each task it starts
    (each try of a task, retries included), and its pool processes bound to die with it."""
    from celery import signals
    from celery.__main__ import main

    def ready(**_: object) -> None:
        record({"probe": "celery", "event": "ready", "pid": os.getpid()})

    worker = os.getpid()  # the pool forks from this process: a pool process's parent

    def pool_process_started(**_: object) -> None:
        die_with_parent(worker)  # exits if the worker died before the pool process got here

    def task_started(task_id: str, task: object, **_: object) -> None:
        name = getattr(task, "name", None)
        record({"probe": "celery", "event": "task started", "task_id": task_id, "name": name,
                "pid": os.getpid(), "at": time.time()})  # fmt: skip

    signals.worker_ready.connect(ready, weak=False)
    signals.worker_process_init.connect(pool_process_started, weak=False)
    signals.task_prerun.connect(task_started, weak=False)
    return main


PROGRAMS = {"uvicorn": uvicorn, "gunicorn": gunicorn, "celery": celery}


def run(command: list[str]) -> int:
    """Run `command` (`uvicorn ...` or `gunicorn ...`) as its own console script does, with the
    stack dump and probes; the exit status."""
    program, *arguments = command
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    record = recorder(os.environ.get("GRADER_PROBE_LOG", os.devnull))
    install_probes(os.environ.get("GRADER_PROBES", ""), record)
    main = PROGRAMS[program](record)
    sys.argv = [program, *arguments]
    try:
        main()
    except SystemExit as exit:
        return exit_status(exit.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())  # the traceback, as the interpreter prints it
        return 1
    return 0


def exit_status(code: object) -> int:
    """The status `sys.exit(code)` ends a process with."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    die_with_parent(int(os.environ["GRADER_PARENT_PID"]))
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
