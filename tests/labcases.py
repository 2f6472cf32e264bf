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


def stages_of(lab: Lab) -> dict[str, str] | None:
    """Each check's stage, where the lab's cases name stages (None where they do not). A stage
    lists tasks, and checks by name: a check named in a stage belongs to it, not to its task's."""
    stages = load_cases(lab).get("stages")
    if not stages:
        return None
    listed = [(member, stage) for stage, members in stages.items() for member in members]
    named = {member: stage for member, stage in listed if isinstance(member, str)}
    by_task = {member: stage for member, stage in listed if isinstance(member, int)}
    return {check.name: named.get(check.name) or by_task[check.task] for check in lab.checks}


def graded_with(lab: Lab, case: dict) -> list[str] | None:
    """The checks a mutant is graded with: those of its check's stage, where the lab's cases
    name stages (the capstone's: the project, its CORS, its deployment, its load); None for every
    check.

    Why: the deployment checks start gunicorn masters, and the browser check Chromium (3.7 CPU-s
    a grading); grading each of the project's mutants under them too would spend minutes of
    `make test` on checks whose own mutants are graded apart. The solution, the starter, mistakes
    and variants are graded with every check."""
    stages = stages_of(lab)
    if stages is None or "check" not in case:
        return None
    own = stages[case["check"]]
    return [check for check, stage in stages.items() if stage == own]
