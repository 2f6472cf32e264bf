"""Every lab's notebook runs top to bottom against the reference solution, and grades it fully."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.manifest import ROOT, Lab, load_course
from tests.conftest import ahead_of_time, environment, result_of, served

LABS = load_course().labs


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_notebook_is_committed_without_outputs(lab):
    notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
    assert not [
        cell for cell in notebook.cells if cell.get("outputs") or cell.get("execution_count")
    ]


@ahead_of_time("notebook_run", served_by="round_trip_of")
def run_notebook(params: dict, folder: Path) -> nbformat.NotebookNode:
    """A lab's notebook, run on the reference solution: its kernel has an environment of its
    own, with its own grades folder."""
    lab: Lab = params["lab"]
    env = environment(COURSE_NOTEBOOK_SOLUTIONS="1", COURSE_GRADES_DIR=str(folder))
    notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
    resources = {"metadata": {"path": str(ROOT / "notebooks")}}
    NotebookClient(notebook, timeout=120, resources=resources).execute(env=env)
    return notebook


@pytest.fixture
def notebook_run(request: pytest.FixtureRequest) -> nbformat.NotebookNode:
    """The lab's notebook run on the solution: where the nbgrader round trip runs, its solution
    student's notebook, autograded (the same cells on the same app), rather than a second run."""
    round_trip = served(request, "round_trip_of")
    return round_trip.result().solution_notebook if round_trip else result_of(request)


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_notebook_runs_and_grades_the_solution(lab, notebook_run):
    outputs = [output for cell in notebook_run.cells for output in cell.get("outputs", [])]
    printed = "".join(output.get("text", "") for output in outputs)
    assert f"{lab.heading}: {lab.max_points}/{lab.max_points}" in printed, printed
    assert not [output for output in outputs if output.get("name") == "stderr"], printed
