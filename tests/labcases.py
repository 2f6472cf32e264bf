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
