"""nbgrader round trip for every lab: generate, submit, autograde, export."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.manifest import Lab, load_course
from grader.nbgrader import tool_env
from grader.processes import TEMPLATE
from tests.conftest import (
    ahead_of_time,
    environment,
    fork_server_template,
    result_of,
    run_grading,
    started_with,
)

LABS = load_course().labs


@dataclass(frozen=True)
class RoundTrip:
    scores: dict[str, float]
    """grades.csv: each student's score."""
    starter_points: int
    """What the grader itself gives the starter."""
    solution_notebook: nbformat.NotebookNode
    """The solution student's notebook, autograded."""


def round_trip(lab: Lab, folder: Path) -> RoundTrip:
    """Generate the lab's assignment, submit the starter and the solution as two students,
    autograde and export, with Jupyter's state in `folder`."""
    course = folder / "course"
    jupyter = {
        name: str(folder / name.lower())
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")
    }
    # nbgrader runs alembic, from this Python's bin/; the notebooks' gradings and servers fork
    # their fork servers from the lab's template, as the cases' gradings do.
    template = {TEMPLATE: fork_server_template(lab)}
    env = {**tool_env(environment(**template)), **jupyter}

    def run(*command: str) -> None:
        done = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    course.mkdir()
    run(sys.executable, "-m", "grader", "nbgrader", str(course), "--lab", lab.id)
    release = course / "release" / lab.id
    assert (release / f"{lab.id}.ipynb").is_file() and (release / "app").is_dir()
    assert not list(release.glob("test_*.py")), "the checks stay with the course"
    for student, work in [("starter-student", None), ("solution-student", lab.solution)]:
        submitted = course / "submitted" / student / lab.id
        shutil.copytree(release, submitted)
        if work:  # the solution's files in place of the starter's: its app/ and, say, Dockerfile
            shutil.rmtree(submitted / "app")
            shutil.copytree(work, submitted, dirs_exist_ok=True)
    run("nbgrader", "autograde", lab.id)
    run("nbgrader", "export")
    scores = {
        row["student_id"]: float(row["score"])
        for row in csv.DictReader(course.joinpath("grades.csv").open())
    }
    starter = started_with("lab_grading", {"lab": lab})  # test_labs grades the starter too
    grading = starter.result() if starter else run_grading(lab, folder / "starter.json")
    notebook = course / "autograded" / "solution-student" / lab.id / f"{lab.id}.ipynb"
    return RoundTrip(scores, grading.results["points"], nbformat.read(notebook, 4))


@ahead_of_time("round_trip_of")
def run_round_trip(params: dict[str, Any], folder: Path) -> RoundTrip:
    """A lab's round trip: it autogrades two students, their notebooks' experiments and
    gradings included, mostly waiting on servers."""
    return round_trip(params["lab"], folder)


@pytest.fixture
def round_trip_of(request: pytest.FixtureRequest) -> RoundTrip:
    return result_of(request)


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_round_trip_scores_solution_full_and_starter_as_the_grader_does(lab, round_trip_of):
    assert round_trip_of.scores["solution-student"] == lab.max_points
    assert round_trip_of.scores["starter-student"] == round_trip_of.starter_points
    grade_cells = [
        cell
        for cell in round_trip_of.solution_notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    ]
    assert [cell.metadata.nbgrader.grade_id for cell in grade_cells] == [c.name for c in lab.checks]
    assert not [out for cell in grade_cells for out in cell.outputs if out.get("name") == "stderr"]
