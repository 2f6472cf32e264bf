"""Run a lab's checks at the same time, each on servers of its own and within its own time limit.

Checks mostly wait (on server start-up, on sleeping endpoints), so running them together keeps a
lab's grading close to its longest check. A check that hangs is stopped when its limit runs out
and fails alone, saying where the app was stuck; the other checks go on.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from grader import evidence, procfs
from grader.failures import AppDidNotStart, CheckFailure, CheckTimedOut
from grader.manifest import Check, Lab
from grader.scale import scaled
from grader.server import LabServer, run_to_end, start_server, start_worker

Starter = Callable[..., Awaitable[LabServer]]
"""How a check's process starts: `start_server` (a server of the app) or `start_worker` (a Celery
worker of its Celery app)."""


class Startups:
    """Server start-ups shared by checks running together.

    Start-up is CPU-bound imports: servers start one per core at a time, each ready sooner.
    An app that cannot start with some environment fails every check that needs it at once,
    rather than once per check.
    """

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(os.cpu_count() or 2)
        self._failures: dict[str, AppDidNotStart] = {}

    async def start(self, source: Path, start: Starter, **options: Any) -> LabServer:
        key = repr((source, start.__name__, sorted(options.items())))
        async with self._slots:
            if failure := self._failures.get(key):
                raise AppDidNotStart(
                    str(failure),
                    output=failure.output,
                    launch=failure.launch,
                    exit_code=failure.exit_code,
                )
            try:
                return await start(source, **options)
            except AppDidNotStart as failure:
                self._failures[key] = failure
                raise


@dataclass(frozen=True)
class Service:
    """What an app needs, beyond a check's own settings, to be graded by a check written for
    another lab's app: the capstone serves Lab 9's checks once it has an admin key and a database
    of its own, and its clients send a key the admin API issued (grader/checks/)."""

    settings: Callable[[Path], Mapping[str, str]]
    """Settings every server gets, under the check's own, given a fresh folder for its files."""
    credentials: Callable[[LabServer], Awaitable[Mapping[str, str]]] | None = None
    """Headers every client of a server started this way sends (`LabServer.headers`)."""
    by_hand: Sequence[str] = ()
    """Shell lines that get those credentials from the learner's own server, as `credentials`
    got them, each header's value into the variable `grader.reproduce.variable` names: a failure's
    "to see it yourself" starts with them, and its requests send the variables."""


@dataclass
class LabContext:
    """What a check receives as `lab`: the app under test and servers to run it on."""

    lab: Lab
    check: Check
    source: Path
    """The folder graded (holding `app/`): the learner's copy, the solution or a submission."""
    shown_as: str
    startups: Startups
    """Shared by the checks that run together."""
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attachments: dict[str, str] = field(default_factory=dict)
    servers: list[LabServer] = field(default_factory=list)
    """The servers running now (a timed-out check is asked where they are busy)."""
    started: list[LabServer] = field(default_factory=list)
    """Every server this check started, stopped ones included: what they printed explains a
    failure."""
    started_seconds: float = 0.0
    """The grader's own time so far (`graders_own_time`): starting servers, those that failed to
    start included."""
    starting_since: float | None = None
    """When the grader's own time under way began (a start-up: waiting for its slot included)."""
    service: Service | None = None
    """Set by a check reused from another lab (`serving`): how its servers are started."""

    def serving(self, service: Service) -> LabContext:
        """This check's context, its servers started and reached as `service` says."""
        self.service = service
        return self

    @property
    def time_limit(self) -> float:
        """The check's own time, server start-ups excluded (they have a limit of their own)."""
        return scaled(self.lab.check_timeout)

    def startup_seconds(self) -> float:
        """The grader's own time so far, the stretch under way included."""
        ongoing = time.perf_counter() - self.starting_since if self.starting_since else 0.0
        return self.started_seconds + ongoing

    @asynccontextmanager
    async def server(
        self,
        env: Mapping[str, str | None] | None = None,
        *,
        files: Mapping[str, str | None] | None = None,
        probes: Collection[str] = (),
        cwd_elsewhere: bool = False,
        gunicorn_workers: int | None = None,
    ) -> AsyncIterator[LabServer]:
        """A fresh server of the app under test (options: see `start_server`), stopped when the
        block ends; with the service's settings and credentials, if the check has a `Service`."""
        with ExitStack() as stack:
            if self.service:
                env = {**self.service.settings(stack.enter_context(self.folder())), **(env or {})}
            async with self._running(
                start_server,
                app=self.lab.app,
                shown_as=self.shown_as,
                env=env,
                files=files,
                probes=tuple(probes),
                preload=self.lab.preload,
                cwd_elsewhere=cwd_elsewhere,
                gunicorn_workers=gunicorn_workers,
            ) as server:
                if self.service and self.service.credentials:
                    server.headers.update(await self.service.credentials(server))
                    server.headers_by_hand = self.service.by_hand
                yield server

    @asynccontextmanager
    async def worker(self, env: Mapping[str, str | None] | None = None) -> AsyncIterator[LabServer]:
        """A fresh Celery worker of the lab's Celery app (its `worker` in course.toml), stopped
        when the block ends: see `start_worker`."""
        if self.lab.worker is None:
            raise ValueError(f"{self.lab.id} has no Celery app (`worker` in course.toml)")
        async with self._running(
            start_worker,
            app=self.lab.worker,
            shown_as=self.shown_as,
            env=env,
            preload=self.lab.preload,
        ) as worker:
            yield worker

    @asynccontextmanager
    async def _running(self, start: Starter, **options: Any) -> AsyncIterator[LabServer]:
        with self.graders_own_time():  # a start-up that failed took start-up time too
            server = await self.startups.start(self.source, start, **options)
        self.servers.append(server)
        self.started.append(server)
        try:
            yield server
        finally:
            self.servers.remove(server)
            await server.stop()

    async def run_to_end(
        self, command: list[str], env: Mapping[str, str | None] | None = None
    ) -> tuple[int | None, list[str]]:
        """Run `command` once on a copy of the app under test, as its servers run (with the
        service's settings, if the check has a `Service`): its exit status (None: stopped after a
        start-up's time limit) and what it printed. Counted as start-up time, not the check's."""
        with self.graders_own_time(), ExitStack() as stack:
            if self.service:
                env = {**self.service.settings(stack.enter_context(self.folder())), **(env or {})}
            return await run_to_end(
                self.source,
                command,
                app=self.lab.app,
                shown_as=self.shown_as,
                env=env,
                preload=self.lab.preload,
            )

    @contextmanager
    def graders_own_time(self) -> Iterator[None]:
        """Time the block takes is not the app's: starting a server or a command (they have
        limits of their own), or a tool of the grader's that runs for a set time (a load test).
        The check's clock stops meanwhile."""
        began = self.starting_since = time.perf_counter()
        try:
            yield
        finally:
            self.starting_since = None
            self.started_seconds += time.perf_counter() - began

    @contextmanager
    def folder(self) -> Iterator[Path]:
        """A folder for files the app writes and the check reads back (a database, say), gone
        when the block ends. The app may write into it even where it runs as a user of its own
        (class grading's sandbox), a member of the grader's group."""
        with tempfile.TemporaryDirectory(prefix=f"grader-{self.lab.id}-") as folder:
            os.chmod(folder, 0o770)
            yield Path(folder)

    def record_timing(self, label: str, seconds: float) -> None:
        """A figure for the lab summary's timing table."""
        self.timings[label] = seconds

    def note(self, text: str) -> None:
        """A line for the lab summary, e.g. how a check had to fall back."""
        self.notes.append(text)

    def attach(self, name: str, text: str) -> None:
        """A file for the learner beside the results file, named after it (`load.svg` beside
        `.grades/capstone.json`: `.grades/capstone-load.svg`): what is too large for the summary,
        such as a chart."""
        self.attachments[name] = text


@dataclass(frozen=True)
class Outcome:
    error: BaseException | None
    seconds: float


CheckFunction = Callable[[LabContext], Awaitable[None]]


async def run_check(function: CheckFunction, context: LabContext) -> Outcome:
    start = time.perf_counter()
    waited = procfs.cpu_waited_seconds()

    def busy() -> float:
        """Seconds the machine has had more work than CPUs since the check began, up to its
        limit: a correct app on a machine grading a whole class is slow, not stuck, and a stuck
        one is stopped after twice its limit at the most, however busy the machine."""
        return min(procfs.cpu_waited_seconds() - waited, context.time_limit)

    def deadline() -> float:  # the check's clock also stops while its servers start
        return start + context.startup_seconds() + context.time_limit + busy()

    task = asyncio.create_task(function(context))
    while not task.done() and (remaining := deadline() - time.perf_counter()) > 0:
        await asyncio.wait({task}, timeout=remaining)
    if task.done():
        error = task.exception()
        if isinstance(error, httpx.TransportError):
            error = _connection_failed(error, context)
        elif isinstance(error, CheckFailure):
            evidence.explain(error, context.started)
    else:
        error = await _stop_hanging(task, context, busy())
    return Outcome(error, time.perf_counter() - start)


def alone(function: CheckFunction) -> CheckFunction:
    """Marks a check that measures the machine's time as the app's, such as a load test: it runs
    once the others are over, one at a time with any other such check, so that their servers
    starting and their requests take none of the app's CPU."""
    function.runs_alone = True  # type: ignore[attr-defined]
    return function


async def run_checks(checks: list[tuple[CheckFunction, LabContext]]) -> list[Outcome]:
    """Run checks together. Their servers start in the checks' order (when they share `Startups`),
    so a lab lists its longest check first, and its server is ready first. Those marked `alone`
    run afterwards, one after another, in their order."""
    outcomes: dict[int, Outcome] = {}
    together = [n for n, (function, _) in enumerate(checks) if not _runs_alone(function)]
    ran = await asyncio.gather(*(run_check(*checks[n]) for n in together))
    outcomes.update(zip(together, ran, strict=True))
    for n, check in enumerate(checks):
        if n not in outcomes:
            outcomes[n] = await run_check(*check)
    return [outcomes[n] for n in range(len(checks))]


def _runs_alone(function: CheckFunction) -> bool:
    return getattr(function, "runs_alone", False)


async def _stop_hanging(
    task: asyncio.Task[None], context: LabContext, busy_seconds: float
) -> CheckTimedOut:
    waiting = [
        f"{request} ({count} request{'s' if count > 1 else ''})"
        for server in context.servers
        for request, count in server.in_flight.items()
        if count
    ]
    busy = [where for server in context.servers if (where := await server.busy_at())]
    task.cancel()
    await asyncio.wait({task})  # lets the check stop its servers
    message = f"The check was stopped after {context.time_limit:.1f} s"
    if busy_seconds >= 0.1:
        message += f" of its own time ({busy_seconds:.1f} s more while the machine was busy)"
    message += f", still waiting for an answer to {', '.join(waiting)}." if waiting else "."
    if busy:
        message += "\nYour app was busy at:\n" + "\n".join(busy)
    elif context.servers or waiting:
        message += "\nNone of your code was running: is something awaited that never finishes?"
    return CheckTimedOut(message)


def _connection_failed(error: httpx.TransportError, context: LabContext) -> CheckFailure:
    request = error.request
    output = (
        f"\nYour app's last output:\n{context.started[-1].output.tail(15)}"
        if context.started
        else ""
    )
    return CheckFailure(
        f"Sent {request.method} {request.url.path}\n"
        f"Got no answer: the connection failed ({type(error).__name__}: {error})\n"
        f"Expected an HTTP response{output}"
    )
