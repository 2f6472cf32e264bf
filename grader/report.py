"""A lab's grade: the summary learners read and the results file tools read.

The results file follows exercism's results.json (version 3), plus points, the lab and the time
scale, so that progress tools, notebooks and batch grading read one format.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from grader.manifest import ROOT, Check, Course, Lab

Status = Literal["pass", "fail", "error"]
MARKS = {"pass": "✓", "fail": "✗", "error": "!"}
NOT_STARTED = "Your app did not start: fix that error first, and every check will run."


def attachment_path(results: Path, name: str) -> Path:
    """Where the attachment `name` of the results file `results` is: `.grades/capstone.json`'s
    `load.svg` is `.grades/capstone-load.svg`."""
    return results.with_name(f"{results.stem}-{name}")


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
    """Why it failed (what was sent, what came back, what was expected, what the app printed, how
    to reproduce it), or the grader's error."""
    seconds: float
    hint: str | None = None
    """Advice for this very failure, in place of the check's own hint."""
    did_not_start: str | None = None
    """The app's start-up failure, when that is why the check could not run."""

    @property
    def points(self) -> int:
        return self.check.points if self.status == "pass" else 0

    @property
    def shown_hint(self) -> str:
        """The hint the failure calls for: its own, or the idea behind the check."""
        return " ".join((self.hint or self.check.hint.concept).split())


@dataclass(frozen=True)
class LabReport:
    lab: Lab
    graded: str
    """The folder graded, as the learner knows it (labs/lab3, solutions/lab3, a submission)."""
    time_scale: float
    results: list[CheckResult]
    timings: dict[str, float]
    notes: list[str]
    attachments: dict[str, str] = field(default_factory=dict)
    """Files for the learner, by name, written beside the results file (`LabContext.attach`)."""

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
                    "hint": self.hint_for(result),
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
            "attachments": sorted(self.attachments),
            "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def write(self, path: Path) -> None:
        """The results file at `path`, and the attachments beside it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        for name, attached in self.attachment_paths(path).items():
            attached.write_text(self.attachments[name], encoding="utf-8")

    def attachment_paths(self, results: Path) -> dict[str, Path]:
        """Where each attachment goes, beside the results file `results`."""
        return {name: attachment_path(results, name) for name in self.attachments}

    def summary(self, course: Course) -> list[tuple[str, dict[str, bool]]]:
        """The summary's lines, each with its terminal markup."""
        lines: list[tuple[str, dict[str, bool]]] = [
            (f"Graded {self.graded} at COURSE_TIME_SCALE {self.time_scale:g}", {}),
        ]
        shared = self._shared_startup_failures()
        for failure, results in shared.items():
            lines += self._startup_failure(course, failure, results)
        first_told: dict[str, Check] = {}
        for result in sorted(self.results, key=lambda r: r.check.task):
            check = result.check
            title = f"{MARKS[result.status]} {check.task}. {check.title}"
            score = f"{result.points}/{check.points}"
            passed = result.status == "pass"
            lines.append((f"{title:<70} {score:>5}", {"green": passed, "red": not passed}))
            if passed:
                continue
            if result.did_not_start in shared:
                continue  # the start-up failure above says why
            if result.status == "error":
                lines.append(
                    ("    The grader itself failed on this check; please report it:", {"red": True})
                )
            if told := first_told.get(result.message):
                lines.append((f"    The same failure as “{told.title}” above.", {}))
                continue
            first_told[result.message] = check
            lines += [(f"    {line}", {}) for line in result.message.splitlines()]
            lines += self._advice(course, result.shown_hint, check)
        if self.timings:
            table = "   ".join(
                f"{label} {seconds:.1f} s" for label, seconds in self.timings.items()
            )
            lines.append((f"Timing: {table}", {"bold": True}))
        lines += [(f"Note: {note}", {"yellow": True}) for note in self.notes]
        if self.status != "pass":
            lines.append(
                (
                    f"More help: `course hint {self.lab.id}` repeats the hints, "
                    f"`course hint {self.lab.id} --more` shows how the code goes.",
                    {"yellow": True},
                )
            )
        if not self.complete:
            lines.append(
                (
                    "Only some checks ran (a -k or node selection): no results file written, "
                    "unless --results names one.",
                    {"yellow": True},
                )
            )
        total = f"{self.lab.heading}: {self.points}/{self.lab.max_points}"
        lines.append(
            (total, {"bold": True, "green": self.status == "pass", "red": self.status != "pass"})
        )
        return lines

    def _shared_startup_failures(self) -> dict[str, list[CheckResult]]:
        """Start-up failures that stopped several checks: each is reported once, as what it is."""
        stopped: dict[str, list[CheckResult]] = {}
        for result in self.results:
            if result.did_not_start:
                stopped.setdefault(result.did_not_start, []).append(result)
        return {failure: results for failure, results in stopped.items() if len(results) > 1}

    def covering(self, failure: str) -> list[Check]:
        """The checks about a setting that a start-up failure names: their hints explain it."""
        return [
            check
            for check in self.lab.checks
            if any(setting.lower() in failure.lower() for setting in check.settings)
        ]

    def hint_for(self, result: CheckResult) -> str | None:
        """The hint a failed check's result carries: for a check stopped by a start-up failure
        several checks share, the advice on that failure."""
        if result.status == "pass":
            return None
        if result.did_not_start not in self._shared_startup_failures():
            return result.shown_hint
        concepts = [check.hint.concept for check in self.covering(result.did_not_start)]
        return " ".join(" ".join(concepts or [NOT_STARTED]).split())

    def _startup_failure(
        self, course: Course, failure: str, results: list[CheckResult]
    ) -> list[tuple[str, dict[str, bool]]]:
        first = min(results, key=lambda result: result.check.task)
        lines: list[tuple[str, dict[str, bool]]] = [
            (f"✗ Your app did not start, so {len(results)} checks could not run:", {"red": True})
        ]
        lines += [(f"    {line}", {}) for line in first.message.splitlines()]
        covering = self.covering(failure)
        if not covering:
            return [*lines, (f"    Hint: {NOT_STARTED}", {"yellow": True})]
        for check in covering:
            label = f"Hint, from check {check.task}. “{check.title}”"
            lines += self._advice(course, check.hint.concept, check, label)
        return lines

    def _advice(
        self, course: Course, hint: str, check: Check, label: str = "Hint"
    ) -> list[tuple[str, dict[str, bool]]]:
        """A hint, and where the lesson explains it."""
        reading = course.reading(self.lab.lesson_of(check), check.lesson_section)
        return [
            (f"    {label}: {' '.join(hint.split())}", {"yellow": True}),
            (f"    Read: {reading}", {"cyan": True}),
        ]
