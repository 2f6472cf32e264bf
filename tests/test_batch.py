"""Batch grading a class: every submission graded, the broken ones 0 with the reason.

Each submission in a sandbox of its own where there can be one (Linux, as root: CI), as the batch
command does by default; tests/test_sandbox.py grades hostile ones.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys

from grader import sandbox
from grader.manifest import ROOT, load_course
from tests.conftest import run_reaped
from tests.labcases import Edit

LAB = load_course().lab("lab3")
AFTER_SETTINGS = "settings = get_settings()\n"
WHERE = [] if sandbox.unavailable() is None else ["--no-sandbox"]


def broken(code: str) -> list[Edit]:
    return [Edit("app/main.py", AFTER_SETTINGS, AFTER_SETTINGS + code)]


def test_batch_grades_a_mixed_class(tmp_path, submission):
    students = tmp_path / "class"
    submission(LAB, [], "class/ada")
    shutil.copytree(LAB.workspace / "app", students / "bob" / "app")  # the untouched starter
    submission(LAB, broken("raise RuntimeError('not finished')\n"), "class/cy")
    # asleep, not busy: a busy start-up burns 5 CPU-s in each of the lab's five environments
    # before it is stopped (tests/test_grader.py and the sandbox's spinner grade that one)
    submission(LAB, broken("import time\ntime.sleep(3600)\n"), "class/dee")
    submission(LAB, broken("cache = bytearray(8 * 1024**3)\n"), "class/eve")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "grades.csv"
    batch = run_reaped(
        [sys.executable, "-m", "grader", "batch", str(students), "--lab", LAB.id,
         "--out", str(out), "--jobs", "5", "--memory-mb", "4096", *WHERE],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert batch.returncode == 0, batch.output
    assert ("each in a sandbox" in batch.output) == (not WHERE)
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
    assert not batch.left_running
    assert not list(scratch.iterdir()), "the batch left its scratch folder behind"


def test_wall_clock_limit_stops_a_grading_and_everything_it_started(tmp_path, submission):
    submission(LAB, broken("import time\nwhile True:\n    time.sleep(0.1)\n"), "class/ann")
    out = tmp_path / "grades.csv"
    batch = run_reaped(
        [sys.executable, "-m", "grader", "batch", str(tmp_path / "class"), "--lab", LAB.id,
         "--out", str(out), "--timeout", "3", *WHERE],
        cwd=ROOT,
    )  # fmt: skip
    assert batch.returncode == 0, batch.output
    (row,) = csv.DictReader(out.open())
    assert (row["points"], row["reason"]) == ("0", "stopped after 3 s")
    assert json.loads((tmp_path / "grades" / "ann.json").read_text())["status"] == "error"
    assert not batch.left_running


def test_an_interrupted_batch_leaves_nothing_behind(tmp_path, submission):
    submission(LAB, broken("import time\ntime.sleep(60)\n"), "class/ann")  # a slow start-up
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    batch = run_reaped(
        [sys.executable, "-m", "grader", "batch", str(tmp_path / "class"), "--lab", LAB.id,
         "--out", str(tmp_path / "grades.csv"), *WHERE],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)},
        interrupt_once=lambda: any(scratch.rglob("app")),  # a copy to grade: under way
    )  # fmt: skip
    assert batch.returncode == 130, batch.output
    assert not batch.left_running
    if not WHERE:  # unsandboxed, a grader stopped dead leaves its servers' copies in TMPDIR
        assert not list(scratch.iterdir()), "the batch left its scratch folder behind"
