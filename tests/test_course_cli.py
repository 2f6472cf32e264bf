"""The `course` command, as a learner meets it: progress, hints, grading on save, a reset.

Commands that write into labs/ run in a clone of the course, never in this checkout.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.course import app
from grader.manifest import ROOT, load_course

LAB = load_course().lab("lab3")
runner = CliRunner()


@pytest.fixture
def grades(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COURSE_GRADES_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def clone(tmp_path) -> Path:
    """A clone of the committed course, where `course` may change labs/."""
    folder = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    return folder


def course(*args: str, cwd: Path = ROOT, **options) -> subprocess.CompletedProcess[str]:
    """Run `course` as its own process, from the course at `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    command = [sys.executable, "-m", "grader.course", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **options)


def test_unknown_lab_gets_a_friendly_error(grades):
    result = runner.invoke(app, ["hint", "lab99"])
    assert result.exit_code == 2
    assert "No lab 'lab99'" in result.output and "lab3" in result.output


def test_status_and_hint_follow_the_last_grading(grades):
    before = runner.invoke(app, ["status"])
    assert f"not yet: course check {LAB.id}" in before.output
    assert runner.invoke(app, ["hint", LAB.id]).exit_code == 1

    checked = course("check", LAB.id)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{LAB.heading}: " in checked.stdout
    points = json.loads((grades / f"{LAB.id}.json").read_text())["points"]

    assert f"{points}/{LAB.max_points}" in runner.invoke(app, ["status"]).output
    hints = runner.invoke(app, ["hint", LAB.id]).output
    unknown_task, control = (
        LAB.check("test_unknown_task_is_404"),
        LAB.check("test_slow_sync_blocks"),
    )
    assert unknown_task.title in hints and " ".join(unknown_task.hint.concept.split()) in hints
    assert control.title not in hints  # the starter passes it: no hint


def test_reset_restores_the_starter_and_keeps_a_backup(clone):
    main = clone / "labs" / LAB.id / "app" / "main.py"
    starter = main.read_text()
    main.write_text(starter + "\n# my work in progress\n")
    reset = course("reset", LAB.id, "--yes", cwd=clone)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert main.read_text() == starter
    (backup,) = (clone / ".backups").iterdir()
    assert (backup / "app" / "main.py").read_text().endswith("# my work in progress\n")


def test_reset_asks_first(clone):
    main = clone / "labs" / LAB.id / "app" / "main.py"
    main.write_text("# mine\n")
    refused = course("reset", LAB.id, cwd=clone, input="n\n")
    assert refused.returncode == 1 and main.read_text() == "# mine\n"


class Output:
    """A process's output lines, read by a thread so that waiting for one can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, seconds: float) -> None:
        """Until a line starts with `text`; fails after `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
            if self.seen[-1].startswith(text):
                return
        printed = "".join(self.seen[-20:])
        raise AssertionError(f"no line starting with {text!r} within {seconds} s:\n{printed}")


def test_watch_grades_again_when_a_file_is_saved(clone, grades):
    env = {**os.environ, "PYTHONPATH": str(clone)}
    watching = subprocess.Popen(
        [sys.executable, "-m", "grader.course", "watch", LAB.id],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = Output(watching)
        output.wait_for(f"{LAB.heading}: ", 120)
        output.wait_for("Watching", 30)
        main = clone / "labs" / LAB.id / "app" / "main.py"
        main.write_text(main.read_text() + "\n# saved again\n")
        output.wait_for(f"{LAB.heading}: ", 120)
    finally:
        watching.terminate()
        watching.wait(timeout=30)


def test_help_speaks_to_the_learner():
    shown = runner.invoke(app, ["--help"]).output
    assert "course hint lab3 --more" in shown
    assert "rustlings" not in shown and "exercism" not in shown  # notes for course developers


def test_bare_pytest_grades_the_labs_not_the_courses_own_tests():
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    files = {line.split("::")[0] for line in collected.splitlines() if "::" in line}
    assert files == {f"labs/{lab.id}/test_{lab.id}.py" for lab in load_course().labs}
