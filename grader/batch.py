"""Grade a class: every student's submission of one lab, several at a time, each boxed in.

A submission is a folder per student holding the lab's `app/`. Each is graded as a learner's own
grading would be (`pytest labs/LAB --submission FOLDER`), in a process group of its own, under a
wall-clock limit and a memory limit: one that crashes, hangs or eats memory gets 0 with the
reason, and the others are graded all the same.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.progress import Progress

from grader.manifest import ROOT, Lab

REASON_LENGTH = 200


@dataclass(frozen=True)
class Limits:
    seconds: float
    """Wall-clock time for one submission's whole grading."""
    memory_mb: int
    """Address space for each process of a grading: the grader and each server it starts."""


@dataclass(frozen=True)
class Graded:
    student: str
    points: int
    checks: dict[str, str]
    """Each check's status: pass, fail or error (none when the grading itself was stopped)."""
    seconds: float
    reason: str
    """Why the submission got no points, when it got none."""


def submissions(folder: Path) -> list[Path]:
    """The student folders: every folder under `folder` holding an `app/`."""
    return sorted(path for path in folder.iterdir() if (path / "app").is_dir())


def _limit_memory(memory_mb: int) -> None:
    """In the grading process, before it starts: inherited by every server it spawns."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


async def grade_submission(lab: Lab, folder: Path, results: Path, limits: Limits) -> Graded:
    command = [
        sys.executable, "-m", "pytest", str(lab.workspace), "--submission", str(folder),
        "--results", str(results), "-q", "-p", "no:cacheprovider", "--color", "no",
    ]  # fmt: skip
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=partial(_limit_memory, limits.memory_mb),
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limits.seconds)
    except TimeoutError:
        os.killpg(process.pid, signal.SIGKILL)  # its servers die with it (grader/launch.py)
        await process.wait()
        return _stopped(lab, folder, results, start, f"stopped after {limits.seconds:g} s")
    if process.returncode not in (0, 1) or not results.exists():
        last = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        why = f"grading ended with status {process.returncode}: {last[0]}"
        return _stopped(lab, folder, results, start, why)
    report = json.loads(results.read_text())
    checks = {test["test_code"]: test["status"] for test in report["tests"]}
    failures = [test["message"] for test in report["tests"] if test["status"] != "pass"]
    reason = "" if report["points"] else " ".join((failures[0] or "").split())[:REASON_LENGTH]
    return Graded(folder.name, report["points"], checks, time.perf_counter() - start, reason)


def _stopped(lab: Lab, folder: Path, results: Path, start: float, reason: str) -> Graded:
    """0 points, with the reason, in the results file too."""
    report = {"version": 3, "status": "error", "message": reason, "tests": [], "lab": lab.id}
    results.write_text(json.dumps({**report, "points": 0, "max_points": lab.max_points}) + "\n")
    return Graded(folder.name, 0, {}, time.perf_counter() - start, reason)


async def grade_class(
    lab: Lab, folders: list[Path], results_dir: Path, limits: Limits, jobs: int
) -> list[Graded]:
    results_dir.mkdir(parents=True, exist_ok=True)
    slots = asyncio.Semaphore(jobs)
    with Progress(transient=False) as progress:
        bar = progress.add_task(f"Grading {lab.heading}", total=len(folders))

        async def one(folder: Path) -> Graded:
            async with slots:
                graded = await grade_submission(
                    lab, folder, results_dir / f"{folder.name}.json", limits
                )
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
