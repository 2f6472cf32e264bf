"""Learners read the course's code as an example: it stays lint-clean and formatted."""

import subprocess
import sys

import pytest

from grader.manifest import ROOT

PYTHON = [
    "grader", "minilm", "labs", "solutions", "examples", "tests", "benchmarks", "mkdocs_hooks.py"
]  # fmt: skip


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_code_passes_ruff(command):
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PYTHON], cwd=ROOT, capture_output=True, text=True
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
