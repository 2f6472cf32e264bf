"""Run a lab's checks at the same time, each on servers of its own and within its own time limit.

Checks mostly wait (on server start-up, on sleeping endpoints), so running them together keeps a
lab's grading close to its longest check. A check that hangs is stopped when its limit runs out
and fails alone, saying where the app was stuck; the other checks go on.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from grader.failures import AppDidNotStart, CheckFailure, CheckTimedOut
from grader.manifest import Check, Lab
from grader.scale import scaled
from grader.server import STARTUP_TIMEOUT, LabServer, ServerOutput, start_server


class Startups:
    """Server start-ups shared by checks running together.

    Start-up is CPU-bound imports: servers start one per core at a time, each ready sooner.
    An app that cannot start with some environment fails every check that needs it at once,
    rather than once per check.
    """

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(os.cpu_count() or 2)
        self._failures: dict[tuple[object, ...], AppDidNotStart] = {}

    async def start(
        self, source: Path, *, env: Mapping[str, str | None] | None, **options: Any
    ) -> LabServer:
        key = (source, tuple(sorted((env or {}).items())))
        async with self._slots:
            if failure := self._failures.get(key):
                raise AppDidNotStart(str(failure))
            try:
                return await start_server(source, env=env, **options)
            except AppDidNotStart as failure:
                self._failures[key] = failure
                raise


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
    servers: list[LabServer] = field(default_factory=list)
    """The servers running now (a timed-out check is asked where they are busy)."""
    outputs: list[ServerOutput] = field(default_factory=list)
    """What every server of this check printed, stopped ones included."""
    starting: int = 0
    startup_seconds: float = 0.0

    @property
    def time_limit(self) -> float:
        """The check's own time, server start-ups excluded (they have a limit of their own)."""
        return scaled(self.lab.check_timeout)

    @asynccontextmanager
    async def server(
        self, env: Mapping[str, str | None] | None = None, *, log_sleeps: bool = False
    ) -> AsyncIterator[LabServer]:
        """A fresh server of the app under test, stopped when the block ends."""
        began = time.perf_counter()
        self.starting += 1
        try:
            server = await self.startups.start(
                self.source,
                app=self.lab.app,
                shown_as=self.shown_as,
                env=env,
                log_sleeps=log_sleeps,
            )
        finally:
            self.starting -= 1
        self.startup_seconds += time.perf_counter() - began
        self.servers.append(server)
        self.outputs.append(server.output)
        try:
            yield server
        finally:
            self.servers.remove(server)
            await server.stop()

    def record_timing(self, label: str, seconds: float) -> None:
        """A figure for the lab summary's timing table."""
        self.timings[label] = seconds


@dataclass(frozen=True)
class Outcome:
    error: BaseException | None
    seconds: float


CheckFunction = Callable[[LabContext], Awaitable[None]]


async def run_check(function: CheckFunction, context: LabContext) -> Outcome:
    start = time.perf_counter()

    def deadline() -> float:
        starting = STARTUP_TIMEOUT if context.starting else 0.0
        return start + context.startup_seconds + starting + context.time_limit

    task = asyncio.create_task(function(context))
    while not task.done() and (remaining := deadline() - time.perf_counter()) > 0:
        await asyncio.wait({task}, timeout=remaining)
    if task.done():
        error = task.exception()
        if isinstance(error, httpx.TransportError):
            error = _connection_failed(error, context)
    else:
        error = await _stop_hanging(task, context)
    return Outcome(error, time.perf_counter() - start)


async def run_checks(checks: list[tuple[CheckFunction, LabContext]]) -> list[Outcome]:
    """Run checks together. Their servers start in the checks' order (when they share `Startups`),
    so a lab lists its longest check first, and its server is ready first."""
    return await asyncio.gather(*(run_check(function, context) for function, context in checks))


async def _stop_hanging(task: asyncio.Task[None], context: LabContext) -> CheckTimedOut:
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
    message += f", still waiting for an answer to {', '.join(waiting)}." if waiting else "."
    if busy:
        message += "\nYour app was busy at:\n" + "\n".join(busy)
    elif context.servers or waiting:
        message += "\nNone of your code was running: is something awaited that never finishes?"
    return CheckTimedOut(message)


def _connection_failed(error: httpx.TransportError, context: LabContext) -> CheckFailure:
    request = error.request
    output = f"\nYour app's last output:\n{context.outputs[-1].tail(15)}" if context.outputs else ""
    return CheckFailure(
        f"Sent {request.method} {request.url.path}\n"
        f"Got no answer: the connection failed ({type(error).__name__}: {error})\n"
        f"Expected an HTTP response{output}"
    )
