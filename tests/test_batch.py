"""Batch grading a class: every submission graded, the broken ones 0 with the reason."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys

from grader.batch import Limits, grade_submission
from grader.manifest import ROOT, load_course
from tests.conftest import processes_under
from tests.labcases import Edit

LAB = load_course().lab("lab3")
AFTER_SETTINGS = "settings = get_settings()\n"


def broken(code: str) -> list[Edit]:
    return [Edit("app/main.py", AFTER_SETTINGS, AFTER_SETTINGS + code)]


def test_batch_grades_a_mixed_class(tmp_path, submission):
    students = tmp_path / "class"
    submission(LAB, [], "class/ada")
    shutil.copytree(LAB.workspace / "app", students / "bob" / "app")  # the untouched starter
    submission(LAB, broken("raise RuntimeError('not finished')\n"), "class/cy")
    submission(LAB, broken("while True:\n    pass\n"), "class/dee")
    submission(LAB, broken("cache = bytearray(8 * 1024**3)\n"), "class/eve")
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    out = tmp_path / "grades.csv"
    batch = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(students), "--lab", LAB.id,
         "--out", str(out), "--jobs", "5", "--memory-mb", "4096"],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(sandboxes)}, capture_output=True, text=True,
    )  # fmt: skip
    assert batch.returncode == 0, batch.stdout + batch.stderr
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert sorted(rows) == ["ada", "bob", "cy", "dee", "eve"]
    ada = (tmp_path / "grades" / "ada.json").read_text()
    assert rows["ada"]["points"] == str(LAB.max_points) and not rows["ada"]["reason"], ada
    assert 0 < int(rows["bob"]["points"]) < LAB.max_points
    assert rows["bob"]["test_unknown_task_is_404"] == "fail"
    assert rows["cy"]["points"] == "0" and "RuntimeError: not finished" in rows["cy"]["reason"]
    assert rows["dee"]["points"] == "0" and "did not start" in rows["dee"]["reason"]
    assert rows["eve"]["points"] == "0" and "MemoryError" in rows["eve"]["reason"]
    for student, row in rows.items():
        results = json.loads((tmp_path / "grades" / f"{student}.json").read_text())
        assert results["points"] == int(row["points"])
    assert not processes_under(sandboxes)


def test_wall_clock_limit_stops_a_grading_and_its_servers(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    results = tmp_path / "results.json"
    limits = Limits(seconds=1.5, memory_mb=4096)
    graded = asyncio.run(grade_submission(LAB, LAB.solution, results, limits))
    assert (graded.points, graded.reason) == (0, "stopped after 1.5 s")
    assert json.loads(results.read_text())["status"] == "error"
    assert not processes_under(tmp_path)
