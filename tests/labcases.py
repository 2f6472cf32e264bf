"""Each lab's mutants (wrong answers) and variants (right answers): tests/labs/LAB.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from grader.manifest import ROOT, Lab

CASES = ROOT / "tests" / "labs"


@dataclass(frozen=True)
class Edit:
    file: str
    replace: str
    with_: str


def edits_of(entry: dict) -> list[Edit]:
    return [Edit(edit["file"], edit["replace"], edit["with"]) for edit in entry["edits"]]


def load_cases(lab: Lab) -> dict:
    return tomllib.loads((CASES / f"{lab.id}.toml").read_text())


def graded_with(lab: Lab, case: dict) -> list[str] | None:
    """The checks a mutant is graded with: those of its check's stage, where the lab's cases
    name stages (the capstone's: the project, then its deployment); None for every check.

    Why: the deployment checks start gunicorn masters, and grading each of the project's
    mutants under them too would spend a minute of `make test` on checks whose own mutants are
    graded apart. The solution, the starter, mistakes and variants are graded with every check."""
    stages = load_cases(lab).get("stages")
    if not stages or "check" not in case:
        return None
    task = lab.check(case["check"]).task
    tasks = next(tasks for tasks in stages.values() if task in tasks)
    return [check.name for check in lab.checks if check.task in tasks]
