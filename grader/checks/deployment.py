"""Checks of a deployment: Lab 10's, and the capstone's.

The contract is Lab 10's: the app runs as `gunicorn app.main:app -c gunicorn.conf.py`, a config
that reads the platform's environment (HOST, PORT, WEB_CONCURRENCY, GRACEFUL_SECONDS), a Procfile
whose web process is that command, and a graceful shutdown: on SIGTERM a request in flight still
gets its whole answer, each worker's lifespan says `shutdown complete`, and the master exits 0
within GRACEFUL_SECONDS. The configuration is judged by what gunicorn itself loads
(`gunicorn --print-config`), not by the file's text. Which request is in flight differs from app to
app: an `InFlight` names it (Lab 10's slow route, the capstone's streamed chat).
"""

import asyncio
import math
import os
import re
import shlex
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

from grader import LabContext, fail, scaled
from grader.expect import observed
from grader.reproduce import described
from grader.server import HOST, LabServer
from grader.services.gunicorn import loaded_config

IN_FLIGHT = scaled(2.0)
"""Seconds the request in flight at SIGTERM takes to answer."""
GRACEFUL = max(2, math.ceil(scaled(6.0)))
"""GRACEFUL_SECONDS, a whole number of seconds: three times IN_FLIGHT at least."""
STOPS_LISTENING = GRACEFUL * 0.75
"""Seconds after SIGTERM by which new connections must be refused: a worker that handles the
signal stops listening at once; one whose handler was replaced listens until the master kills
it, GRACEFUL seconds after the signal."""
EXIT_WAIT = 5.0
"""Real seconds a stopped master may take to be gone, past what the rule allows, before the check
says it never went."""
WORKERS = 2
UVICORN_WORKER = "uvicorn_worker.UvicornWorker"
SHUTDOWN_LINE = re.compile(r"shutdown complete", re.IGNORECASE)
UVICORN_SHUTDOWN = "Application shutdown complete."
PRINT_CONFIG = "gunicorn --print-config -c gunicorn.conf.py app.main:app"


def output_tail(server: LabServer, count: int = 12) -> str:
    return "\n  ".join(server.output.lines[-count:]) or "(nothing)"


# --- gunicorn.conf.py, as gunicorn loads it ---


async def worker_class_and_bind(lab: LabContext) -> None:
    env: dict[str, str | None] = {"HOST": HOST, "PORT": "8123", "WEB_CONCURRENCY": "3"}
    config = await loaded_config(lab, env)
    if config["worker_class"] != UVICORN_WORKER:
        deprecated = config["worker_class"].startswith("uvicorn.workers")
        raise observed(
            f"Ran {PRINT_CONFIG} with {described(env)}",
            f"worker_class = {config['worker_class']}",
            f"worker_class = {UVICORN_WORKER}, from the uvicorn-worker package"
            + (": uvicorn's own uvicorn.workers is deprecated" if deprecated else ""),
        )
    for env, expected in (
        ({"HOST": HOST, "PORT": "8123"}, f"{HOST}:8123"),
        ({"HOST": None, "PORT": "8124"}, "0.0.0.0:8124"),
    ):
        config = await loaded_config(lab, env)
        if config["bind"] != repr([expected]):
            raise observed(
                f"Ran {PRINT_CONFIG} with {described(env)}",
                f"bind = {config['bind']}",
                f"bind = {[expected]}: $HOST:$PORT, HOST 0.0.0.0 when unset (as in a container)",
            )


def rule_of_thumb() -> tuple[set[str], str]:
    """The worker counts right when WEB_CONCURRENCY is unset, and why: 2 × cores + 1 (the cores
    the machine has, or those this process may use)."""
    cores = {os.cpu_count() or 1, len(os.sched_getaffinity(0))}
    counts = {str(2 * count + 1) for count in cores}
    return counts, (
        f"2 × cores + 1 on this machine's {' or '.join(map(str, sorted(cores)))} cores, when "
        "WEB_CONCURRENCY is unset"
    )


async def workers_from_the_platform(
    lab: LabContext, when_unset: Callable[[], tuple[set[str], str]] = rule_of_thumb
) -> None:
    env: dict[str, str | None] = {"WEB_CONCURRENCY": "3"}
    config = await loaded_config(lab, env)
    if config["workers"] != "3":
        raise observed(
            f"Ran {PRINT_CONFIG} with {described(env)}",
            f"workers = {config['workers']}",
            "workers = 3: the platform's WEB_CONCURRENCY",
        )
    env = {"WEB_CONCURRENCY": None}
    config = await loaded_config(lab, env)
    counts, why = when_unset()
    if config["workers"] not in counts:
        raise observed(
            f"Ran {PRINT_CONFIG} with {described(env)}",
            f"workers = {config['workers']}",
            f"workers = {' or '.join(sorted(counts))}: {why}",
        )


async def graceful_and_recycling(lab: LabContext) -> None:
    env: dict[str, str | None] = {"GRACEFUL_SECONDS": "13"}
    config = await loaded_config(lab, env)
    ran = f"Ran {PRINT_CONFIG} with {described(env)}"
    if config["graceful_timeout"] != "13":
        raise observed(
            ran,
            f"graceful_timeout = {config['graceful_timeout']}",
            "graceful_timeout = 13: the seconds GRACEFUL_SECONDS gives requests in flight",
        )
    if int(config["max_requests"]) < 1000:
        raise observed(
            ran,
            f"max_requests = {config['max_requests']}",
            "max_requests of 1000 or more: each worker replaced after that many requests",
        )
    if int(config["max_requests_jitter"]) < 1:
        raise observed(
            ran,
            f"max_requests_jitter = {config['max_requests_jitter']}",
            "a max_requests_jitter of 1 or more, so that workers are not all replaced at once",
        )


# --- The Procfile ---


def runs_gunicorn(words: list[str]) -> bool:
    """`gunicorn app.main:app -c gunicorn.conf.py`, in any order, or through `python -m`."""
    if words[:1] and os.path.basename(words[0]) == "gunicorn":
        rest = words[1:]
    elif (
        len(words) >= 3
        and os.path.basename(words[0]).startswith("python")
        and words[1:3] == ["-m", "gunicorn"]
    ):
        rest = words[3:]
    else:
        return False
    joined = " ".join(rest)
    config = re.search(r"(^|\s)(-c\s*|--config[=\s])gunicorn\.conf\.py(\s|$)", joined)
    return "app.main:app" in rest and config is not None


async def procfile_runs_gunicorn(lab: LabContext) -> None:
    path = lab.source / "Procfile"
    lines = path.read_text().splitlines() if path.exists() else []
    web = next((line for line in lines if line.startswith("web:")), None)
    if web is None:
        raise observed("Read Procfile", "no web: line", "web: gunicorn ..., the web process")
    try:
        words = shlex.split(web.removeprefix("web:"))
    except ValueError:
        words = []
    if not runs_gunicorn(words):
        raise observed(
            "Read Procfile",
            web,
            "web: gunicorn app.main:app -c gunicorn.conf.py (in any order): the same server "
            "and settings as the image",
        )


# --- A graceful shutdown under a real master ---


class InFlight(ABC):
    """The request a drain check has in flight when it signals the master: sent first, and its
    answer read once the master has SIGTERM. It lasts about IN_FLIGHT seconds."""

    env: Mapping[str, str] = {}
    """Settings the app needs to serve it that way."""
    described: str
    """What was sent, for the report: `GET /slow (SLOW_SECONDS=0.5)`."""
    whole: str
    """What a whole answer is, for the report: `200 once /slow has finished`."""

    @abstractmethod
    async def send(self, server: LabServer) -> None:
        """Send it, and return once the app is serving it (or fail saying it never did)."""

    @abstractmethod
    async def answered(self) -> str | None:
        """Read the rest of the answer: None if it is whole, else what came instead."""

    @abstractmethod
    async def close(self) -> None: ...


async def sigterm_drains(lab: LabContext, request: InFlight, workers: int = WORKERS) -> None:
    env = {**request.env, "GRACEFUL_SECONDS": str(GRACEFUL)}
    situation = (
        f"SIGTERM to the gunicorn master (WEB_CONCURRENCY={workers}, GRACEFUL_SECONDS="
        f"{GRACEFUL}) while {request.described} was in flight"
    )
    async with lab.server(env, gunicorn_workers=workers) as master:
        try:
            await request.send(master)
            master.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            got = await request.answered()
            answered = time.monotonic() - signalled
        finally:
            await request.close()
        if got is not None:
            raise fail(
                situation,
                f"{got}, {answered:.2f} s after SIGTERM",
                f"{request.whole}: gunicorn gives requests in flight graceful_timeout seconds "
                f"({GRACEFUL}) before it kills their worker",
            )
        refused = await _refused_by(master.port, signalled + STOPS_LISTENING)
        status = await master.exit_status(within=GRACEFUL - answered + EXIT_WAIT)
        exited = time.monotonic() - signalled
    if not refused:
        raise fail(
            f"{situation}, then new connections once it had answered, until "
            f"{STOPS_LISTENING:g} s after the signal",
            "each connection accepted",
            "them refused: a server shutting down stops listening first, long before "
            "graceful_timeout runs out",
        )
    shutdowns = [
        line for line in master.output.lines
        if SHUTDOWN_LINE.search(line) and UVICORN_SHUTDOWN not in line
    ]  # fmt: skip
    if len(shutdowns) < workers:
        raise fail(
            situation,
            f"{len(shutdowns)} line(s) of your app's own containing 'shutdown complete'; the "
            f"last lines printed:\n  {output_tail(master)}",
            f"one from each worker's lifespan, after its `yield` ({workers} of them; uvicorn's "
            f"'{UVICORN_SHUTDOWN}' does not count)",
        )
    if status is None or exited > GRACEFUL:
        raise fail(
            situation,
            "the master still running" if status is None else f"the master gone at {exited:.1f} s",
            f"the master to exit within GRACEFUL_SECONDS ({GRACEFUL} s)",
        )
    if status != 0:
        raise fail(situation, f"the master exited with status {status}", "exit status 0")


async def _refused_by(port: int, deadline: float) -> bool:
    """Whether a new connection to `port` is refused before `deadline` (`time.monotonic()`):
    tried at once, and again until then. A worker handles its SIGTERM when its event loop next
    runs, which a busy machine delays: the request in flight may have its answer first."""
    while True:
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            return True
        writer.close()
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
