"""The GitHub Classroom workflows: up to date with course.toml, well formed, and runnable."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest
import yaml

from grader import classroom
from grader.manifest import ROOT, load_course
from tests.test_labs import check_names

LABS = load_course().labs


def steps(lab) -> list[dict]:
    return yaml.safe_load((classroom.FOLDER / f"{lab.id}.yml").read_text())["jobs"]["grade"][
        "steps"
    ]


def test_one_workflow_per_lab_and_each_up_to_date():
    expected = sorted(f"{lab.id}.yml" for lab in LABS)
    assert sorted(path.name for path in classroom.FOLDER.iterdir()) == expected
    for lab in LABS:
        assert (classroom.FOLDER / f"{lab.id}.yml").read_text() == classroom.render(lab), (
            "run `python -m grader classroom`"
        )


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_workflow_grades_each_check_for_its_points_and_reports_them_all(lab):
    workflow = yaml.safe_load((classroom.FOLDER / f"{lab.id}.yml").read_text())
    assert "push" in workflow["on"]
    graders = [step for step in steps(lab) if step.get("uses") == classroom.COMMAND_GRADER]
    nodes = [shlex.split(step["with"]["command"])[-1] for step in graders]
    assert nodes == [f"labs/{lab.id}/test_{lab.id}.py::{name}" for name in check_names(lab)]
    assert sum(step["with"]["max-score"] for step in graders) == lab.max_points
    assert all(step["with"]["timeout"] >= 1 for step in graders)
    reporter = steps(lab)[-1]
    assert reporter["uses"] == classroom.REPORTER
    ids = [step["id"] for step in graders]
    assert reporter["with"]["runners"].split(",") == ids
    for id_ in ids:
        results = f"{id_.upper().replace('-', '_')}_RESULTS"
        assert reporter["env"][results] == f"${{{{ steps.{id_}.outputs.result }}}}"


@pytest.mark.parametrize(
    "graded, exit_code", [([], 1), (["--solution"], 0)], ids=["starter", "solution"]
)
def test_a_check_step_passes_on_the_solution_and_fails_on_the_starter(graded, exit_code, tmp_path):
    lab = load_course().lab("lab3")
    step = next(s for s in steps(lab) if s.get("id") == "lab3-unknown-task-is-404")
    pytest_args = shlex.split(step["with"]["command"])[1:]  # after .venv/bin/pytest
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, *graded, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "COURSE_GRADES_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == exit_code, done.stdout + done.stderr
