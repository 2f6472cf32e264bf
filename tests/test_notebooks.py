"""Every lab's notebook runs top to bottom against the reference solution, and grades it fully."""

from __future__ import annotations

import os
from concurrent.futures import Future

import nbformat
import pytest
from nbclient import NotebookClient

from grader.manifest import ROOT, Lab, load_course
from tests.conftest import ahead_of_time

LABS = load_course().labs


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_notebook_is_committed_without_outputs(lab):
    notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
    assert not [
        cell for cell in notebook.cells if cell.get("outputs") or cell.get("execution_count")
    ]


@pytest.fixture(scope="session")
def notebook_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Each selected lab's notebook, run on the reference solution ahead of the test that judges
    it: its kernel has an environment of its own, with its own grades folder."""

    def run(params: dict) -> nbformat.NotebookNode:
        lab: Lab = params["lab"]
        grades = tmp_path_factory.mktemp("grades")
        env = {**os.environ, "COURSE_NOTEBOOK_SOLUTIONS": "1", "COURSE_GRADES_DIR": str(grades)}
        notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
        resources = {"metadata": {"path": str(ROOT / "notebooks")}}
        NotebookClient(notebook, timeout=120, resources=resources).execute(env=env)
        return notebook

    return ahead_of_time(request, "notebook_run", run)


@pytest.fixture
def notebook_run(request: pytest.FixtureRequest, notebook_runs: dict[str, Future]):
    return notebook_runs[request.node.nodeid].result()


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_notebook_runs_and_grades_the_solution(lab, notebook_run):
    outputs = [output for cell in notebook_run.cells for output in cell.get("outputs", [])]
    printed = "".join(output.get("text", "") for output in outputs)
    assert f"{lab.heading}: {lab.max_points}/{lab.max_points}" in printed, printed
    assert not [output for output in outputs if output.get("name") == "stderr"], printed
