"""GitHub Classroom: a workflow that grades every push to a student's repository, check by check.

One workflow per lab (a Classroom assignment is one lab). Each check is one step of GitHub's
command grader, `pytest labs/LAB/test_LAB.py::CHECK`, worth that check's points: the command grader
only sees an exit status, so one step per check is how a student gets partial credit. The
reporter step then adds the points up.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from grader.manifest import ROOT, Lab
from grader.server import STARTUP_LIMIT

FOLDER = ROOT / "classroom"
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"


def step_id(lab: Lab, check_name: str) -> str:
    return f"{lab.id}-{check_name.removeprefix('test_').replace('_', '-')}"


def workflow(lab: Lab) -> dict[str, object]:
    # A check's limit doubles at most while the runner's machine is busy (grader/runner.py).
    minutes = math.ceil((STARTUP_LIMIT + 2 * lab.check_timeout) / 60) + 1
    checks = [
        {
            "name": f"{check.task}. {check.title}",
            "id": step_id(lab, check.name),
            "uses": COMMAND_GRADER,
            "with": {
                "test-name": f"{check.task}. {check.title}",
                "setup-command": "",
                "command": f".venv/bin/pytest labs/{lab.id}/test_{lab.id}.py::{check.name}",
                "timeout": minutes,
                "max-score": check.points,
            },
        }
        for check in lab.checks
    ]
    ids = [step["id"] for step in checks]
    report = {
        "name": "Report the grade",
        "uses": REPORTER,
        "env": {
            f"{id_.upper().replace('-', '_')}_RESULTS": f"${{{{ steps.{id_}.outputs.result }}}}"
            for id_ in ids
        },
        "with": {"runners": ",".join(ids)},
    }
    setup = [
        {"name": "Check out the student's work", "uses": "actions/checkout@v4"},
        {
            "name": "Set up Python",
            "uses": "actions/setup-python@v5",
            "with": {"python-version": "3.11"},
        },
        {"name": "Install the course", "run": "make setup"},
    ]
    if lab.system_packages:  # GitHub's runners are not root: `make setup` cannot install them
        packages = " ".join(lab.system_packages)
        setup.insert(2, {
            "name": f"Install Debian's {packages}",
            "run": f"sudo apt-get update -qq && sudo apt-get install -y -qq {packages}",
        })  # fmt: skip
    return {
        "name": f"Autograding: {lab.heading}",
        "on": ["push", "repository_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "grade": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "steps": [*setup, *checks, report],
            }
        },
    }


def render(lab: Lab) -> str:
    header = (
        f"# GitHub Classroom autograding for {lab.heading}, generated from course.toml by\n"
        f"# `python -m grader classroom`. Copy it into the lab's template repository as\n"
        f"# .github/workflows/classroom.yml.\n"
    )
    return header + yaml.safe_dump(workflow(lab), sort_keys=False, allow_unicode=True, width=100)


def write(lab: Lab, folder: Path = FOLDER) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{lab.id}.yml"
    path.write_text(render(lab))
    return path
