"""Every lab, proven honest: the starter fails, the solution passes, and every check can fail.

Each mutant (tests/labs/LAB.toml) is a small wrong answer that exactly one check must catch;
each mistake, a wrong answer that breaks what several checks depend on, each of them naming it;
each variant is another right answer the lesson allows, which every check must accept.

A failed test shows its grading's output beside the traceback (`shown`); its message, one line,
says what the grading came to.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from grader.manifest import ROOT, load_course
from tests.conftest import Grading, ahead_of_time, result_of, run_grading, shown, started
from tests.labcases import graded_with, load_cases, stages_of

LABS = load_course().labs
TITLE_WIDTH = 70


def cases(kind: str) -> list:
    params = []
    for lab in LABS:
        seen: dict[str, int] = {}
        for entry in load_cases(lab).get(kind, []):
            name = entry.get("check") or entry["name"]
            seen[name] = seen.get(name, 0) + 1
            suffix = f"-{seen[name]}" if seen[name] > 1 else ""
            params.append(pytest.param(lab, entry, id=f"{lab.id}-{name}{suffix}"))
    return params


def check_names(lab) -> list[str]:
    """The check functions the lab's grader file defines, in order."""
    tree = ast.parse((lab.workspace / f"test_{lab.id}.py").read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_manifest_lists_exactly_the_labs_checks(lab):
    assert [check.name for check in lab.checks] == check_names(lab)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_check_titles_fit_the_reports_line(lab):
    """The report prints `✗ 3. <title>` in 70 columns, then the points."""
    too_long = [c.title for c in lab.checks if len(f"✗ {c.task}. {c.title}") > TITLE_WIDTH]
    assert not too_long


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_stages_share_out_every_check_once(lab):
    """Each task in one stage, each check named in one at most, and every check in a stage."""
    stages = load_cases(lab).get("stages", {"all": sorted({check.task for check in lab.checks})})
    members = [member for stage in stages.values() for member in stage]
    tasks = [member for member in members if isinstance(member, int)]
    assert sorted(tasks) == sorted({check.task for check in lab.checks})
    named = [member for member in members if isinstance(member, str)]
    assert len(named) == len(set(named)) and set(named) <= {check.name for check in lab.checks}
    assert stages_of(lab) is None or set(stages_of(lab)) == {check.name for check in lab.checks}


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_every_check_has_a_mutant(lab):
    assert {m["check"] for m in load_cases(lab)["mutants"]} == {c.name for c in lab.checks}


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_solution_mirrors_the_starter_file_for_file(lab):
    def files(folder):
        return sorted(
            p.relative_to(folder)
            for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )

    assert files(lab.solution) == [
        f for f in files(lab.workspace) if not f.name.startswith("test_")
    ]


def learners_files() -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((ROOT / "labs").rglob("*")) if p.is_file()}


LEARNERS_FOLDER = learners_files()
"""labs/ as the session found it: read as the tests are collected, before any grading starts."""


@ahead_of_time("lab_grading")
def grade_lab(params: dict[str, Any], folder: Path) -> Grading:
    """A lab's starter (the learner's own folder, labs/LAB), or its solution on forked or
    spawned servers."""
    results = folder / "results.json"
    if "forkserver" not in params:
        return run_grading(params["lab"], results)
    env = {"GRADER_FORKSERVER": params["forkserver"]}
    return run_grading(params["lab"], results, "--solution", env=env)


@pytest.fixture
def lab_grading(request: pytest.FixtureRequest) -> Grading:
    return shown(result_of(request))


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_untouched_starter_fails_cleanly(lab, lab_grading):
    grading = lab_grading
    assert grading.exit_code == 1 and grading.results is not None, grading.outcome
    assert set(grading.statuses) == {check.name for check in lab.checks}
    assert set(grading.statuses.values()) <= {"pass", "fail"}, "a check errored: a grader bug"
    assert 0 < len(grading.failed) and grading.results["points"] < lab.max_points
    assert "error" not in grading.output.splitlines()[-1]  # no collection errors
    assert f"{lab.heading}: {grading.results['points']}/{lab.max_points}" in grading.output


SPAWNED = {"lab3", "lab7", "lab10"}
"""The labs whose solution is graded on spawned servers too: one for each kind of process the
grader starts (uvicorn, a Celery worker, gunicorn). How a process starts depends on its kind, not
on the lab."""
SOLUTION_GRADINGS = [
    pytest.param(lab, forkserver, id=f"{lab.id}-{way}")
    for lab in LABS
    for forkserver, way in (("1", "forked"), ("0", "spawned"))
    if forkserver == "1" or lab.id in SPAWNED
]


@pytest.mark.parametrize(("lab", "forkserver"), SOLUTION_GRADINGS)
def test_solution_gets_full_marks(lab, forkserver, lab_grading):
    """On servers forked (Linux) and spawned (elsewhere: grader/processes.py) alike."""
    grading = lab_grading
    assert grading.exit_code == 0, grading.outcome
    assert grading.results["points"] == lab.max_points
    assert f"{lab.heading}: {lab.max_points}/{lab.max_points}" in grading.output


@pytest.mark.parametrize(("lab", "mutant"), cases("mutants"))
def test_mutant_fails_only_its_check(lab, mutant, case_grading):
    """And the learner reads, under that check, what `says` names: the mistake made."""
    grading = case_grading
    graded = graded_with(lab, mutant) or [check.name for check in lab.checks]
    assert grading.results is not None, grading.outcome
    assert sorted(grading.statuses) == sorted(graded)
    only = f"{grading.outcome}, not only {mutant['check']}: {mutant['why']}"
    assert grading.failed == {mutant["check"]}, only
    assert grading.statuses[mutant["check"]] == "fail"
    result = next(test for test in grading.results["tests"] if test["test_code"] == mutant["check"])
    read = f"{result['message']}\n{result['hint']}"
    missing = [words for words in mutant.get("says", []) if words not in read]
    assert not missing, f"{mutant['why']}: the report lacks {missing}\n{read}"


@pytest.mark.parametrize(("lab", "mistake"), cases("mistakes"))
def test_mistake_fails_its_checks_each_naming_it(lab, mistake, case_grading):
    """A mistake that breaks what several checks depend on: each of them says what it is."""
    grading = case_grading
    assert grading.results is not None, grading.outcome
    expected = f"{grading.outcome}, not {', '.join(mistake['checks'])}: {mistake['why']}"
    assert grading.failed == set(mistake["checks"]), expected
    for result in grading.results["tests"]:
        if result["status"] == "pass":
            continue
        read = f"{result['message']}\n{result['hint']}"
        missing = [words for words in mistake["says"] if words not in read]
        assert not missing, f"{result['test_code']} lacks {missing}\n{read}"


@pytest.mark.parametrize(("lab", "variant"), cases("variants"))
def test_variant_gets_full_marks(lab, variant, case_grading):
    grading = case_grading
    assert grading.exit_code == 0, f"{grading.outcome}: {variant['name']}"
    assert grading.results["points"] == lab.max_points


@pytest.mark.after_works
def test_grading_leaves_the_learners_folder_untouched(grade):
    """Nothing writes into labs/ but the learner: not the grader, not the app, not pytest. The
    starters' gradings are gradings of labs/ itself: once they are done, labs/ is as it was (run
    alone, this test grades every lab's folder itself)."""
    starters = [
        future
        for test, future in started("lab_grading").items()
        if "test_untouched_starter_fails" in test
    ]
    for future in starters:
        future.result()
    if not starters:
        for lab in LABS:
            grade(lab)
    assert learners_files() == LEARNERS_FOLDER
