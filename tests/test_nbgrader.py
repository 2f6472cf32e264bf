"""nbgrader round trip for every lab: generate, submit, autograde, export."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.manifest import load_course
from grader.nbgrader import tool_env

LABS = load_course().labs


@pytest.fixture
def nbgrader_env(tmp_path: Path) -> dict[str, str]:
    """Jupyter's state in a scratch folder, and this Python's tools (nbgrader runs alembic)."""
    jupyter = {
        name: str(tmp_path / name.lower())
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")
    }
    return {**tool_env(), **jupyter}


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_round_trip_scores_solution_full_and_starter_as_the_grader_does(
    lab, tmp_path, nbgrader_env, grade
):
    course = tmp_path / "course"

    def run(*command: str) -> None:
        done = subprocess.run(command, cwd=course, env=nbgrader_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    course.mkdir()
    run(sys.executable, "-m", "grader", "nbgrader", str(course), "--lab", lab.id)
    release = course / "release" / lab.id
    assert (release / f"{lab.id}.ipynb").is_file() and (release / "app").is_dir()
    assert not list(release.glob("test_*.py")), "the checks stay with the course"
    for student, app in [("starter-student", None), ("solution-student", lab.solution / "app")]:
        submitted = course / "submitted" / student / lab.id
        shutil.copytree(release, submitted)
        if app:
            shutil.rmtree(submitted / "app")
            shutil.copytree(app, submitted / "app")
    run("nbgrader", "autograde", lab.id)
    run("nbgrader", "export")

    scores = {
        row["student_id"]: float(row["score"])
        for row in csv.DictReader(course.joinpath("grades.csv").open())
    }
    assert scores["solution-student"] == lab.max_points
    assert scores["starter-student"] == grade(lab).results["points"]
    autograded = nbformat.read(
        course / "autograded" / "solution-student" / lab.id / f"{lab.id}.ipynb", 4
    )
    grade_cells = [
        cell for cell in autograded.cells if cell.metadata.get("nbgrader", {}).get("grade")
    ]
    assert [cell.metadata.nbgrader.grade_id for cell in grade_cells] == [c.name for c in lab.checks]
    assert not [out for cell in grade_cells for out in cell.outputs if out.get("name") == "stderr"]
