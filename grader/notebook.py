"""Helpers for the lab notebooks: look at your app, run it, grade it, all from Jupyter.

Notebooks never write into labs/: they read your app and run copies of it, so your app file stays
the one place your work lives. With COURSE_NOTEBOOK_SOLUTIONS=1 (the course's own tests) they
use the reference solutions instead; after `work_here()` (nbgrader assignments), the app beside
the notebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.display import SVG, Code, display

from grader.manifest import ROOT, Lab, load_course, shown_as
from grader.report import attachment_path, results_file
from grader.server import LabServer, serve, start_worker

_here: Path | None = None


def work_here() -> None:
    """Use the app in this notebook's folder (an nbgrader assignment holds both) from now on."""
    global _here
    _here = Path.cwd()


@dataclass(frozen=True)
class _Graded:
    lab: Lab
    source: Path
    """The folder holding the app/ the notebook works on."""
    options: list[str]
    """How `pytest labs/LAB` is told to grade it."""
    results: Path | None
    """Where that grading's results file goes by default (None: give it one)."""


def _graded(lab_id: str) -> _Graded:
    lab = load_course().lab(lab_id)
    if _here is not None:
        return _Graded(lab, _here, ["--submission", str(_here)], None)
    if os.environ.get("COURSE_NOTEBOOK_SOLUTIONS") == "1":
        return _Graded(lab, lab.solution, ["--solution"], results_file(lab, "solution"))
    return _Graded(lab, lab.workspace, [], results_file(lab, "workspace"))


def show_app(lab_id: str, file: str = "app/main.py") -> None:
    """Display the current text of one of the lab's app files."""
    source = _graded(lab_id).source
    display(Code((source / file).read_text(encoding="utf-8"), language="python"))


@asynccontextmanager
async def lab_server(lab_id: str, **options: Any) -> AsyncIterator[LabServer]:
    """Your app on a real uvicorn server (a sandbox copy), stopped when the block ends.

    Options are `start_server`'s (grader/server.py): `env`, `files`, `probes`, `cwd_elsewhere`.
    """
    graded = _graded(lab_id)
    lab = graded.lab
    async with serve(
        graded.source, app=lab.app, shown_as=shown_as(graded.source), preload=lab.preload, **options
    ) as server:
        yield server


@asynccontextmanager
async def lab_worker(lab_id: str, env: dict[str, str] | None = None) -> AsyncIterator[LabServer]:
    """Your Celery app's worker (`celery -A app.worker worker`, on a sandbox copy), stopped when
    the block ends; `kill()` it to see what a crash does."""
    graded = _graded(lab_id)
    source, lab = graded.source, graded.lab
    worker = await start_worker(
        source, app=lab.worker, shown_as=shown_as(source), env=env, preload=lab.preload
    )
    try:
        yield worker
    finally:
        await worker.stop()


def check(lab_id: str) -> dict[str, Any]:
    """Grade the lab as `pytest labs/LAB` does, print its summary and return its results.

    Grading runs in a process of its own (this notebook's event loop is busy running the notebook),
    and everything it prints goes to stdout, as nbgrader wants.
    """
    graded = _graded(lab_id)
    with tempfile.TemporaryDirectory() as scratch:
        results = graded.results or Path(scratch) / f"{lab_id}.json"
        command = [
            sys.executable, "-m", "pytest", str(graded.lab.workspace), *graded.options,
            "--results", str(results), "-p", "no:cacheprovider", "--color", "no",
        ]  # fmt: skip
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        output = completed.stdout + completed.stderr
        summary = output.find(f" {graded.lab.heading} ")
        print(output[output.rfind("\n", 0, summary) + 1 :] if summary >= 0 else output)
        graded_fully = completed.returncode in (0, 1) and results.exists()
        if not graded_fully:
            return {"tests": [], "points": 0}
        loaded = json.loads(results.read_text())
        for name in loaded.get("attachments", []):
            if name.endswith(".svg"):  # a chart: shown here, as the summary names its file
                display(SVG(attachment_path(results, name).read_text()))
        return loaded


def passed(results: dict[str, Any], check: str) -> None:
    """An autograder cell's test: raises the check's own message unless it passed."""
    for test in results["tests"]:
        if test["test_code"] == check:
            if test["status"] != "pass":
                raise AssertionError(test["message"])
            return
    raise AssertionError(f"{check} was not graded: see the output of check() above")
