"""Helpers for the lab notebooks: look at your app, run it, grade it, all from Jupyter.

Notebooks never write into labs/: they read your app and run copies of it, so your app file stays
the one place your work lives. With COURSE_NOTEBOOK_SOLUTIONS=1 (the course's own tests) they
use the reference solutions instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from IPython.display import Code, display

from grader.manifest import ROOT, Lab, load_course
from grader.report import results_file
from grader.server import LabServer, serve


def _solutions() -> bool:
    return os.environ.get("COURSE_NOTEBOOK_SOLUTIONS") == "1"


def _graded(lab_id: str) -> tuple[Lab, Path]:
    lab = load_course().lab(lab_id)
    return lab, lab.solution if _solutions() else lab.workspace


def show_app(lab_id: str, file: str = "app/main.py") -> None:
    """Display the current text of one of the lab's app files."""
    _, source = _graded(lab_id)
    display(Code((source / file).read_text(encoding="utf-8"), language="python"))


@asynccontextmanager
async def lab_server(
    lab_id: str, env: dict[str, str | None] | None = None
) -> AsyncIterator[LabServer]:
    """Your app on a real uvicorn server (a sandbox copy), stopped when the block ends."""
    lab, source = _graded(lab_id)
    async with serve(
        source, app=lab.app, shown_as=str(source.relative_to(ROOT)), env=env
    ) as server:
        yield server


def check(lab_id: str) -> dict[str, object]:
    """Grade the lab as `pytest labs/LAB` does, print its summary and return its results.

    Grading runs in a process of its own (this notebook's event loop is busy running the notebook),
    and everything it prints goes to stdout, as nbgrader wants.
    """
    lab = load_course().lab(lab_id)
    graded = "solution" if _solutions() else "workspace"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(lab.workspace),
        "-p",
        "no:cacheprovider",
        "--color",
        "no",
    ]
    if _solutions():
        command.append("--solution")
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    output = completed.stdout + completed.stderr
    summary = output.find(f" {lab.heading} ")
    print(output[output.rfind("\n", 0, summary) + 1 :] if summary >= 0 else output)
    results = results_file(lab, graded)
    return (
        json.loads(results.read_text())
        if completed.returncode in (0, 1) and results.exists()
        else {}
    )
