"""Grade a class: every student's submission of one lab, several at a time, each boxed in.

A submission is a folder per student holding the lab's `app/`. Each is graded as a learner's own
grading would be (`pytest labs/LAB --submission FOLDER`), in a sandbox of its own
(grader/sandbox.py), under a wall-clock limit, a memory limit and, sandboxed, limits on processes
and on what it writes: one that crashes, hangs, eats memory or attacks gets 0 with the reason,
and the others are graded all the same.

The grader hands its results to this process over a pipe that the submission's code never holds
(`--results-fd`), and this process alone writes the CSV and each student's results file, once
that student's sandbox is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.progress import Progress

from grader.cgroups import Cgroup
from grader.manifest import ROOT, Lab
from grader.sandbox import Sandbox, Started, SubmissionRefused, inside

REASON_LENGTH = 200
RESULTS_LIMIT = 16 * 1024 * 1024
"""The most a grader's results may take: more is not a grader's."""
OUTPUT_KEPT = 64 * 1024
"""How much of the end of a grading's output is kept, to say why it stopped."""


@dataclass(frozen=True)
class Limits:
    seconds: float
    """Wall-clock time for one submission's whole grading."""
    memory_mb: int
    """Memory each process of a grading may write (RLIMIT_DATA): the grader, and each server it
    starts. Reserved address space does not count, so browsers run (Lab 2's check)."""
    processes: int = 128
    """Processes and threads a sandboxed submission's app may run at once."""
    tmp_mb: int = 256
    """Size of a sandbox's /tmp, and the largest file a sandboxed grading may write."""


@dataclass(frozen=True)
class Graded:
    student: str
    points: int
    checks: dict[str, str]
    """Each check's status: pass, fail or error (none when the grading itself was stopped)."""
    seconds: float
    reason: str
    """Why the submission got no points, when it got none."""
    results: dict[str, Any]
    """The student's results file, as a learner's own grading writes it."""


def submissions(folder: Path) -> list[Path]:
    """The student folders: every folder under `folder` holding an `app/`."""
    return sorted(path for path in folder.iterdir() if (path / "app").is_dir())


def _limit(limits: Limits, sandboxed: bool, cgroup: Cgroup | None) -> None:
    """In the grading's first process, before it starts: limits and a cgroup, which every process
    in it inherits (the sandbox's limit on processes binds the app's user alone: see
    grader/sandbox.py)."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sandboxed:
        written = limits.tmp_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (written, written))
    if cgroup is not None:
        cgroup.join()


def grader_command(lab: Lab, submission: Path, results_fd: int) -> list[str]:
    return [
        sys.executable, "-m", "pytest", f"labs/{lab.id}", "--submission", str(submission),
        "--results-fd", str(results_fd), "-q", "-p", "no:cacheprovider", "--color", "no",
    ]  # fmt: skip


async def grade_submission(
    lab: Lab, folder: Path, limits: Limits, sandbox: Sandbox | None
) -> Graded:
    start = time.perf_counter()
    results, theirs = os.pipe()
    try:
        grader = grader_command(lab, folder if sandbox is None else inside(folder), theirs)
        if sandbox is None:
            around = contextlib.nullcontext(Started(grader, (), dict(os.environ)))
        else:
            around = sandbox.around(folder, grader)
        with around as started:
            process = await _start(started, theirs, limits, sandbox is not None)
            ended = await _end(process, results, limits.seconds, started.cgroup)
            stopped = partial(sandbox.stopped, cgroup=started.cgroup) if sandbox else None
            return _graded(lab, folder, ended, stopped, time.perf_counter() - start)
    except SubmissionRefused as refused:
        os.close(theirs)
        return _stopped(lab, folder, time.perf_counter() - start, str(refused))
    finally:
        os.close(results)


async def _start(
    started: Started, results_fd: int, limits: Limits, sandboxed: bool
) -> asyncio.subprocess.Process:
    """The grading's first process (bwrap, or pytest), given the results pipe's writing end, which
    this process then closes: the pipe ends when the grading does.

    Interrupted while it starts, asyncio would kill that first process alone and wait for its
    output to end. bwrap's second process, the sandbox's init, may then not yet be bound to die
    with it: it lived on, holding the output, and the batch waited for ever (seen in `make
    test`). So the start is let finish, and the whole grading stopped."""
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *started.command,
            cwd=ROOT,
            env=started.env,
            pass_fds=(*started.pass_fds, results_fd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=partial(_limit, limits, sandboxed, started.cgroup),
        )
    )
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # one that could not start has nothing to stop
            _stop(await starting, started.cgroup)
        raise
    finally:
        os.close(results_fd)


def _stop(process: asyncio.subprocess.Process, cgroup: Cgroup | None) -> None:
    """Kill a grading: its first process's group (the sandbox, or the grader's), and everything
    in its sandbox's cgroup, where there is one."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill()


@dataclass(frozen=True)
class Ended:
    """How a grading ended: the sandbox, and everything in it, is gone."""

    status: int | None
    """Its exit status; None if it was stopped when its time was up."""
    results: bytes | None
    """What the grader handed over (None: more than a grader's results)."""
    output: str
    """The end of what it printed."""
    seconds: float


async def _end(
    process: asyncio.subprocess.Process, results_fd: int, seconds: float, cgroup: Cgroup | None
) -> Ended:
    """Wait for a grading to end, or stop it when its time is up."""
    results = asyncio.ensure_future(_read_results(results_fd))
    output = asyncio.ensure_future(_read_tail(process.stdout))
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        _stop(process, cgroup)
        await process.wait()
        results.cancel()
        output.cancel()
        return Ended(None, None, "", seconds)
    except asyncio.CancelledError:  # the batch was interrupted: its sandbox goes first
        _stop(process, cgroup)
        raise
    printed = (await output).decode(errors="replace")
    return Ended(process.returncode, await results, printed, seconds)


def _graded(
    lab: Lab,
    folder: Path,
    ended: Ended,
    stopped: Callable[[list[str]], str | None] | None,
    seconds: float,
) -> Graded:
    """A grading's points and each check's status, from its results, or 0 with the reason;
    `stopped` says what the sandbox stopped, from what went wrong."""
    if ended.status is None:
        return _stopped(lab, folder, seconds, f"stopped after {ended.seconds:g} s")
    report = _report(lab, ended.results) if ended.status in (0, 1) else None
    if report is None:
        last = ended.output.strip().splitlines()[-1:] or ["no output"]
        why = f"grading ended with status {ended.status}: {last[0]}"
        return _stopped(lab, folder, seconds, _reason(why, [ended.output], stopped))
    checks = {test["test_code"]: test["status"] for test in report["tests"]}
    failures = [test["message"] or "" for test in report["tests"] if test["status"] != "pass"]
    reason = "" if report["points"] else _reason(failures[0], failures, stopped)
    return Graded(folder.name, report["points"], checks, seconds, reason, report)


def _reason(
    failure: str, everything: list[str], stopped: Callable[[list[str]], str | None] | None
) -> str:
    """Why a submission got no points: `failure`, preceded by what the sandbox stopped, if
    anything, in `everything` that went wrong."""
    if stopped is not None and (what := stopped(everything)):
        failure = f"The sandbox stopped it ({what}): {failure}"
    return " ".join(failure.split())[:REASON_LENGTH]


async def _read_results(fd: int) -> bytes | None:
    """Everything written to the results pipe until its writers are gone; None if too much."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    pipe = open(os.dup(fd), "rb", buffering=0)  # noqa: SIM115 (the transport closes it)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    received = bytearray()
    try:
        while chunk := await reader.read(1 << 16):
            received += chunk if len(received) <= RESULTS_LIMIT else b""
    finally:
        transport.close()
    return bytes(received) if len(received) <= RESULTS_LIMIT else None


async def _read_tail(stream: asyncio.StreamReader | None) -> bytes:
    kept = b""
    while stream is not None and (chunk := await stream.read(1 << 16)):
        kept = (kept + chunk)[-OUTPUT_KEPT:]
    return kept


def _report(lab: Lab, received: bytes | None) -> dict[str, Any] | None:
    """The results a grader handed over, if they are a complete grading of `lab`; the points
    counted here again, from course.toml."""
    try:
        report = json.loads((received or b"").split(b"\n", 1)[0])
        statuses = {test["test_code"]: test["status"] for test in report["tests"]}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if sorted(statuses) != sorted(c.name for c in lab.checks) or report.get("lab") != lab.id:
        return None
    if not set(statuses.values()) <= {"pass", "fail", "error"}:
        return None
    report["points"] = sum(c.points for c in lab.checks if statuses[c.name] == "pass")
    return report


def _stopped(lab: Lab, folder: Path, seconds: float, reason: str) -> Graded:
    """0 points, with the reason, in the results file too."""
    report = {"version": 3, "status": "error", "message": reason, "tests": [], "lab": lab.id}
    results = {**report, "points": 0, "max_points": lab.max_points}
    return Graded(folder.name, 0, {}, seconds, reason, results)


async def grade_class(
    lab: Lab,
    folders: list[Path],
    results_dir: Path,
    limits: Limits,
    jobs: int,
    sandbox: Sandbox | None,
) -> list[Graded]:
    """Grade every folder, `jobs` at a time; each student's results file is written as soon as
    that student's grading, and sandbox, are over."""
    results_dir.mkdir(parents=True, exist_ok=True)
    slots = asyncio.Semaphore(jobs)
    with Progress(transient=False) as progress:
        bar = progress.add_task(f"Grading {lab.heading}", total=len(folders))

        async def one(folder: Path) -> Graded:
            async with slots:
                graded = await grade_submission(lab, folder, limits, sandbox)
            text = json.dumps(graded.results, indent=2, ensure_ascii=False) + "\n"
            (results_dir / f"{graded.student}.json").write_text(text)
            progress.advance(bar)
            return graded

        return await asyncio.gather(*(one(folder) for folder in folders))


def write_csv(lab: Lab, graded: list[Graded], path: Path) -> None:
    names = [check.name for check in lab.checks]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "points", "max_points", *names, "seconds", "reason"])
        for row in graded:
            checks = [row.checks.get(name, "") for name in names]
            seconds = f"{row.seconds:.1f}"
            writer.writerow([row.student, row.points, lab.max_points, *checks, seconds, row.reason])
