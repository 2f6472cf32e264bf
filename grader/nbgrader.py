"""Hand labs out with nbgrader: each lab becomes a source assignment, its notebook and starter app.

The assignment's notebook is the lab's own notebook, set to work on the app beside it, with one
locked autograder cell per check, worth that check's points. Those cells only read the results of
the notebook's single grading run, so autograding costs one grading per submission and the cells
write nothing to stderr (nbgrader scores a cell that does 0).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from grader.manifest import ROOT, Lab, load_course

NOT_HANDED_OUT = ("test_*.py", "__pycache__", ".pytest_cache", ".env")
"""The checks (they stay with the course), caches and a local .env."""

CONFIG = '''\
"""nbgrader configuration of the Production FastAPI course (`python -m grader nbgrader`)."""

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "production-fastapi"
c.CourseDirectory.root = {root!r}
c.Exchange.root = {exchange!r}
# Grading starts real servers and waits on them: far longer than nbgrader's 30 s default per cell.
c.ExecutePreprocessor.timeout = 900
# Autograding puts the source's copy of every file back, except these: the students' apps.
c.Autograde.exclude_overwriting = {students_files!r}
'''


def _locked(cell: nbformat.NotebookNode, grade_id: str, points: int | None = None) -> None:
    cell.metadata["nbgrader"] = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": True,
        "schema_version": 3,
        "solution": False,
        **({"points": points} if points is not None else {}),
    }


def assignment_notebook(lab: Lab) -> nbformat.NotebookNode:
    notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
    if not any(f'check("{lab.id}")' in cell.source for cell in notebook.cells):
        raise ValueError(f'{lab.notebook} has no cell calling check("{lab.id}")')
    setup = new_code_cell("from grader.notebook import passed, work_here\n\nwork_here()")
    _locked(setup, "setup")
    notebook.cells.insert(0, setup)
    notebook.cells.append(
        new_markdown_cell(
            "## Autograded checks\n\nEach cell below is one check of the grading above, "
            "worth its points."
        )
    )
    for check in lab.checks:
        cell = new_code_cell(f'passed(results, "{check.name}")  # {check.title}')
        _locked(cell, check.name, check.points)
        notebook.cells.append(cell)
    return notebook


def write_source_assignment(lab: Lab, course: Path) -> Path:
    """course/source/LAB: the notebook, and the starter (the learner's files, not the checks)."""
    source = course / "source" / lab.id
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(lab.workspace, source, ignore=shutil.ignore_patterns(*NOT_HANDED_OUT))
    nbformat.write(assignment_notebook(lab), source / f"{lab.id}.ipynb")
    return source


def learner_files(lab: Lab) -> list[str]:
    """What a student gets, edits and submits: the lab's folder, less what is not handed out."""
    files = []
    for path in lab.workspace.rglob("*"):
        relative = path.relative_to(lab.workspace)
        excluded = any(
            fnmatch(part, pattern) for part in relative.parts for pattern in NOT_HANDED_OUT
        )
        if path.is_file() and not excluded:
            files.append(str(relative))
    return sorted(files)


def write_config(course: Path) -> None:
    """The course's nbgrader_config.py, covering every lab, whichever are generated now."""
    students_files = {lab.id: learner_files(lab) for lab in load_course().labs}
    config = CONFIG.format(
        root=str(course), exchange=str(course / "exchange"), students_files=students_files
    )
    (course / "nbgrader_config.py").write_text(config)
    (course / "exchange").mkdir(exist_ok=True)


def generate(labs: list[Lab], course: Path) -> None:
    """Write the course's nbgrader folder and generate each lab's student version (release/LAB)."""
    course.mkdir(parents=True, exist_ok=True)
    write_config(course)
    for lab in labs:
        write_source_assignment(lab, course)
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", lab.id, "--force"],
            cwd=course,
            env=tool_env(),
            check=True,
        )


def tool_env(environment: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`environment` as nbgrader needs it: it runs `alembic` by name, from this Python's bin/."""
    path = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    return {**environment, "PATH": path}
