"""Helpers for the course's own tests: grade a lab as a learner would, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.manifest import ROOT, Lab
from tests.labcases import Edit


@dataclass(frozen=True)
class Grading:
    pid: int
    """The grading pytest process: its servers carry GRADER_PARENT_PID=pid."""
    exit_code: int
    output: str
    results: dict | None

    @property
    def statuses(self) -> dict[str, str]:
        return {test["test_code"]: test["status"] for test in self.results["tests"]}

    @property
    def failed(self) -> set[str]:
        return {check for check, status in self.statuses.items() if status != "pass"}


@pytest.fixture
def grade(tmp_path_factory: pytest.TempPathFactory):
    """`grade(lab, *pytest_options)`: run `pytest labs/LAB` and read its results file."""

    def run(lab: Lab, *options: str, env: dict[str, str] | None = None) -> Grading:
        results = tmp_path_factory.mktemp("grades") / f"{lab.id}.json"
        command = [sys.executable, "-m", "pytest", f"labs/{lab.id}", "-p", "no:cacheprovider"]
        process = subprocess.Popen(
            [*command, "--results", str(results), *options],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output, _ = process.communicate(timeout=300)
        loaded = json.loads(results.read_text()) if results.exists() else None
        return Grading(process.pid, process.returncode, output, loaded)

    return run


@pytest.fixture
def submission(tmp_path: Path):
    """`submission(lab, edits)`: a copy of the lab's solution, each edit applied exactly once."""

    def make(lab: Lab, edits: list[Edit]) -> Path:
        folder = tmp_path / "submission"
        shutil.copytree(lab.solution, folder)
        for edit in edits:
            path = folder / edit.file
            text = path.read_text()
            assert text.count(edit.replace) == 1, (
                f"{edit.replace!r} is not once in {lab.solution / edit.file}"
            )
            path.write_text(text.replace(edit.replace, edit.with_))
        return folder

    return make
