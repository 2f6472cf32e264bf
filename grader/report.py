"""A lab's grade: the summary learners read and the results file tools read.

The results file follows exercism's results.json (version 3), plus points, the lab and the time
scale, so that progress tools, notebooks and batch grading read one format.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from grader.manifest import ROOT, Check, Course, Lab

Status = Literal["pass", "fail", "error"]
MARKS = {"pass": "✓", "fail": "✗", "error": "!"}


def results_file(lab: Lab, graded: Literal["workspace", "solution", "submission"]) -> Path:
    """Where a grading's results go by default: .grades/ at the course root (git-ignored), or
    COURSE_GRADES_DIR; the learner's own work as LAB.json, the others beside it."""
    folder = Path(os.environ.get("COURSE_GRADES_DIR") or ROOT / ".grades")
    return folder / (f"{lab.id}.json" if graded == "workspace" else f"{lab.id}-{graded}.json")


@dataclass(frozen=True)
class CheckResult:
    check: Check
    status: Status
    message: str
    """Why it failed (what was sent, what came back, what was expected), or the grader's error."""
    seconds: float

    @property
    def points(self) -> int:
        return self.check.points if self.status == "pass" else 0


@dataclass(frozen=True)
class LabReport:
    lab: Lab
    graded: str
    """The folder graded, as the learner knows it (labs/lab3, solutions/lab3, a submission)."""
    time_scale: float
    results: list[CheckResult]
    timings: dict[str, float]
    notes: list[str]

    @property
    def points(self) -> int:
        return sum(result.points for result in self.results)

    @property
    def complete(self) -> bool:
        """Every check of the lab ran (not a `-k` selection)."""
        return {result.check.name for result in self.results} == {c.name for c in self.lab.checks}

    @property
    def status(self) -> Status:
        statuses = {result.status for result in self.results}
        return "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"

    def to_json(self) -> dict[str, object]:
        return {
            "version": 3,
            "status": self.status,
            "message": None,
            "tests": [
                {
                    "name": result.check.title,
                    "test_code": result.check.name,
                    "task_id": result.check.task,
                    "status": result.status,
                    "message": result.message or None,
                    "points": result.points,
                    "max_points": result.check.points,
                    "seconds": round(result.seconds, 3),
                }
                for result in self.results
            ],
            "lab": self.lab.id,
            "title": self.lab.heading,
            "graded": self.graded,
            "points": self.points,
            "max_points": self.lab.max_points,
            "time_scale": self.time_scale,
            "timings": {label: round(seconds, 3) for label, seconds in self.timings.items()},
            "notes": self.notes,
            "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")

    def summary(self, course: Course) -> list[tuple[str, dict[str, bool]]]:
        """The summary's lines, each with its terminal markup."""
        lines: list[tuple[str, dict[str, bool]]] = [
            (f"Graded {self.graded} at COURSE_TIME_SCALE {self.time_scale:g}", {}),
        ]
        first_told: dict[str, Check] = {}
        for result in sorted(self.results, key=lambda r: r.check.task):
            check = result.check
            mark = MARKS[result.status]
            score = f"{result.points}/{check.points}"
            title = f"{mark} {check.task}. {check.title}"
            lines.append(
                (
                    f"{title:<70} {score:>5}",
                    {"green": result.status == "pass", "red": result.status != "pass"},
                )
            )
            if result.status == "pass":
                continue
            if result.status == "error":
                lines.append(
                    ("    The grader itself failed on this check; please report it:", {"red": True})
                )
            if told := first_told.get(result.message):
                lines.append((f"    The same failure as “{told.title}” above.", {}))
                continue
            first_told[result.message] = check
            lines += [(f"    {line}", {}) for line in result.message.splitlines()]
            lines.append((f"    Hint: {' '.join(check.hint.split())}", {"yellow": True}))
            lines.append(
                (
                    f"    Read: {course.page_url(self.lab.lesson, check.lesson_section)}",
                    {"cyan": True},
                )
            )
        if self.timings:
            table = "   ".join(
                f"{label} {seconds:.1f} s" for label, seconds in self.timings.items()
            )
            lines.append((f"Timing: {table}", {"bold": True}))
        lines += [(f"Note: {note}", {"yellow": True}) for note in self.notes]
        if not self.complete:
            lines.append(
                (
                    "Only some checks ran (a -k or node selection): no results file written.",
                    {"yellow": True},
                )
            )
        total = f"{self.lab.heading}: {self.points}/{self.lab.max_points}"
        lines.append(
            (total, {"bold": True, "green": self.status == "pass", "red": self.status != "pass"})
        )
        return lines
