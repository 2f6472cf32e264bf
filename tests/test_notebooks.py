"""Every lab's notebook runs top to bottom against the reference solution, and grades it fully."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from grader.manifest import ROOT, load_course

LABS = load_course().labs


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_notebook_is_committed_without_outputs(lab):
    notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
    assert not [
        cell for cell in notebook.cells if cell.get("outputs") or cell.get("execution_count")
    ]


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_notebook_runs_and_grades_the_solution(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_NOTEBOOK_SOLUTIONS", "1")
    monkeypatch.setenv("COURSE_GRADES_DIR", str(tmp_path))
    notebook = nbformat.read(ROOT / lab.notebook, as_version=4)
    NotebookClient(
        notebook, timeout=120, resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    printed = "".join(output.get("text", "") for output in outputs)
    assert f"{lab.heading}: {lab.max_points}/{lab.max_points}" in printed, printed
    assert not [output for output in outputs if output.get("name") == "stderr"], printed
