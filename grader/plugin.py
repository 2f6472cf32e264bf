"""The grader as a pytest plugin: `pytest labs/lab3` grades Lab 3 (see docs/grading.md).

pytest loads it in every run of this environment (an entry point in pyproject.toml); it acts only
on tests inside a lab's folder, each of which is a check named in course.toml. A lab's checks run
together on the first check's turn (grader/runner.py); pytest then reports them one by one, and
the session ends with each lab's summary and results file.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from pathlib import Path

import pytest

from grader.failures import AppDidNotStart, CheckFailure
from grader.manifest import Course, Lab, load_course, shown_as
from grader.report import CheckResult, LabReport, results_file
from grader.runner import LabContext, Outcome, Startups, run_checks
from grader.scale import TimeScaleError, time_scale


class LabRun:
    """One lab's checks in this session: the folder graded, and each check's outcome."""

    def __init__(self, lab: Lab, source: Path, shown_as: str, results_file: Path) -> None:
        self.lab = lab
        self.source = source
        self.shown_as = shown_as
        self.results_file = results_file
        self.items: list[pytest.Function] = []
        self.outcomes: dict[str, Outcome] | None = None
        self.results: list[CheckResult] = []
        self.startups = Startups()

    def add(self, item: pytest.Function) -> None:
        try:
            check = self.lab.check(item.originalname)
        except KeyError as error:
            raise pytest.UsageError(f"{item.nodeid}: {error.args[0]}") from None
        if list(inspect.signature(item.obj).parameters) != [
            "lab"
        ] or not inspect.iscoroutinefunction(item.obj):
            raise pytest.UsageError(
                f"{item.nodeid}: a check is `async def {item.originalname}(lab)`"
            )
        item.stash[CONTEXT] = LabContext(self.lab, check, self.source, self.shown_as, self.startups)
        self.items.append(item)

    def outcome(self, item: pytest.Function) -> Outcome:
        if self.outcomes is None:
            checks = [(each.obj, each.stash[CONTEXT]) for each in self.items]
            outcomes = asyncio.run(run_checks(checks))
            self.outcomes = {
                each.nodeid: outcome for each, outcome in zip(self.items, outcomes, strict=True)
            }
        return self.outcomes[item.nodeid]

    def report(self) -> LabReport:
        contexts = [item.stash[CONTEXT] for item in self.items]
        timings = {label: s for context in contexts for label, s in context.timings.items()}
        notes = list(dict.fromkeys(note for context in contexts for note in context.notes))
        attached = {
            name: text for context in contexts for name, text in context.attachments.items()
        }
        return LabReport(
            self.lab, self.shown_as, time_scale(), self.results, timings, notes, attached
        )


RUNS = pytest.StashKey[dict[str, LabRun]]()
CONTEXT = pytest.StashKey[LabContext]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course", "Production FastAPI grading")
    group.addoption(
        "--solution",
        action="store_true",
        help="grade the reference solution (solutions/LAB) instead of your copy (labs/LAB)",
    )
    group.addoption(
        "--submission",
        metavar="DIR",
        type=Path,
        help="grade the app in DIR (a folder holding app/) instead of labs/LAB",
    )
    group.addoption(
        "--results",
        metavar="FILE",
        type=Path,
        help="write the results file here (default: .grades/LAB.json, or COURSE_GRADES_DIR)",
    )
    group.addoption(
        "--results-fd",
        metavar="N",
        type=int,
        help="write the results, one JSON line per lab, to open file descriptor N instead of a "
        "file (how class grading receives them from its sandboxes)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Nothing writes into labs/ but the learner: no bytecode caches beside the lab's checks.
    sys.dont_write_bytecode = True
    config.stash[RUNS] = {}
    if (results_fd := config.getoption("results_fd")) is not None:
        os.set_inheritable(results_fd, False)  # no process the grader starts may write there
    try:
        time_scale()
    except TimeScaleError as error:
        raise pytest.UsageError(str(error)) from None


def graded_folder(config: pytest.Config, lab: Lab) -> tuple[Path, str, Path]:
    """The folder to grade, how to show it, and where its results file goes."""
    solution, submission = config.getoption("solution"), config.getoption("submission")
    if solution and submission:
        raise pytest.UsageError("use --solution or --submission, not both")
    if submission:
        source, graded = submission.resolve(), "submission"
    else:
        source, graded = (lab.solution, "solution") if solution else (lab.workspace, "workspace")
    shown = shown_as(source)
    if not (source / "app").is_dir():
        raise pytest.UsageError(f"{shown} holds no app/ folder to grade")
    return source, shown, config.getoption("results") or results_file(lab, graded)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    course = load_course()
    runs = config.stash[RUNS]
    for item in items:
        lab = course.lab_containing(item.path)
        if lab is None or not isinstance(item, pytest.Function):
            continue
        if lab.id not in runs:
            runs[lab.id] = LabRun(lab, *graded_folder(config, lab))
        runs[lab.id].add(item)
    if runs and all(CONTEXT in item.stash for item in items) and config.option.tbstyle == "auto":
        # A grading run: the lab summary explains each failure, so skip pytest's tracebacks.
        config.option.tbstyle = "no"


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> LabContext:
    """The check's view of the lab: `async with lab.server(env) as server: ...`."""
    return request.node.stash[CONTEXT]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if CONTEXT not in pyfuncitem.stash:
        return None
    run = pyfuncitem.config.stash[RUNS][pyfuncitem.stash[CONTEXT].lab.id]
    outcome = run.outcome(pyfuncitem)
    if outcome.error is not None:
        raise outcome.error
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report = yield
    if CONTEXT not in item.stash or call.when != "call":
        return report
    run = item.config.stash[RUNS][item.stash[CONTEXT].lab.id]
    error = call.excinfo.value if call.excinfo else None
    hint = did_not_start = None
    if report.passed:
        status, message = "pass", ""
    elif isinstance(error, CheckFailure):
        status, message, hint = "fail", error.report, error.hint
        did_not_start = str(error) if isinstance(error, AppDidNotStart) else None
    elif isinstance(error, AssertionError):
        status, message = "fail", str(error) or report.longreprtext
    else:
        status, message = "error", report.longreprtext
    if status == "fail":
        report.longrepr = message
    seconds = run.outcomes[item.nodeid].seconds if run.outcomes else 0.0
    check = item.stash[CONTEXT].check
    run.results.append(CheckResult(check, status, message, seconds, hint, did_not_start))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    course: Course = load_course()
    for run in config.stash[RUNS].values():
        if not run.results:
            continue
        report = run.report()
        terminalreporter.write_sep("=", run.lab.heading, bold=True)
        for text, markup in report.summary(course):
            terminalreporter.write_line(text, **markup)
        if report.complete and (results_fd := config.getoption("results_fd")) is not None:
            with open(results_fd, "w", encoding="utf-8", closefd=False) as stream:
                stream.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
            terminalreporter.write_line(f"Results: file descriptor {results_fd}")
        elif report.complete or config.getoption("results"):  # a selection, where asked
            report.write(run.results_file)
            terminalreporter.write_line(f"Results: {run.results_file}")
            for path in report.attachment_paths(run.results_file).values():
                terminalreporter.write_line(f"Beside them: {path}")
