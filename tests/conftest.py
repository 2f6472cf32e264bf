"""Helpers for the course's own tests: grade a lab as a learner would, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.browser import chromium_path
from grader.manifest import ROOT, Lab, page_path
from grader.processes import TEMPLATE, start_template
from tests.labcases import Edit, edits_of, graded_with


@dataclass(frozen=True)
class Site:
    folder: Path
    returncode: int
    output: str

    def page(self, source: str) -> str:
        """The HTML built from docs/`source` (MkDocs' directory URLs: a/b.md → a/b/index.html,
        a/index.md → a/index.html)."""
        built = self.folder / url_of(source) / "index.html"
        assert built.is_file(), f"{source} was not built:\n{self.output}"
        return built.read_text(encoding="utf-8")


def url_of(page: str) -> str:
    """docs/`page` as MkDocs builds it: a/b.md → a/b/, a/index.md → a/."""
    return page_path(page)


def require_chromium() -> None:
    """Skip the calling test module where chromium is missing, except in CI, which must run it."""
    if chromium_path() is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the browser tests: install chromium (make setup does)")
        pytest.skip("chromium is not installed (make setup installs it)", allow_module_level=True)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("site"))


def build_site(folder: Path, timeout: float = 300, *, idle: bool = False) -> Site:
    """`mkdocs build --strict` into `folder`; in Linux's idle scheduling class if `idle`."""
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        env=environment(NO_MKDOCS_2_WARNING="1"),
        preexec_fn=idle_class if idle else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Site(folder, build.returncode, build.stdout + build.stderr)


@dataclass(frozen=True)
class Grading:
    pid: int
    """The grading pytest process: its servers carry GRADER_PARENT_PID=pid."""
    exit_code: int
    output: str
    results: dict | None

    @property
    def statuses(self) -> dict[str, str]:
        return {test["test_code"]: test["status"] for test in self.results["tests"]}

    @property
    def failed(self) -> set[str]:
        return {check for check, status in self.statuses.items() if status != "pass"}

    @property
    def outcome(self) -> str:
        """What the grading came to, in one line: for a failed assertion's message, which CI's
        summary prints in full (the output itself goes to `shown`)."""
        if self.results is None:
            return f"exit code {self.exit_code}, no results"
        return f"exit code {self.exit_code}, failed: {', '.join(sorted(self.failed)) or 'none'}"


def run_grading(
    lab: Lab, results: Path, *options: str, env: dict[str, str] | None = None
) -> Grading:
    """`pytest labs/LAB *options` in a process of its own, as a learner runs it; its results."""
    command = [sys.executable, "-m", "pytest", f"labs/{lab.id}", "-p", "no:cacheprovider"]
    process = subprocess.Popen(
        [*command, "--results", str(results), *options],
        cwd=ROOT,
        env=environment(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = process.communicate(timeout=300)
    loaded = json.loads(results.read_text()) if results.exists() else None
    return Grading(process.pid, process.returncode, output, loaded)


@pytest.fixture
def grade(tmp_path_factory: pytest.TempPathFactory):
    """`grade(lab, *pytest_options)`: run `pytest labs/LAB` and read its results file."""

    def run(lab: Lab, *options: str, env: dict[str, str] | None = None) -> Grading:
        results = tmp_path_factory.mktemp("grades") / f"{lab.id}.json"
        return run_grading(lab, results, *options, env=env)

    return run


def make_submission(lab: Lab, edits: list[Edit], folder: Path) -> Path:
    """A copy of the solution at `folder`, each edit applied exactly once."""
    shutil.copytree(lab.solution, folder)
    for edit in edits:
        path = folder / edit.file
        text = path.read_text()
        assert text.count(edit.replace) == 1, f"{edit.replace!r} is not once in {edit.file}"
        path.write_text(text.replace(edit.replace, edit.with_))
    return folder


@pytest.fixture
def submission(tmp_path: Path):
    """`submission(lab, edits, name)`: a copy of the solution, each edit applied exactly once."""

    def make(lab: Lab, edits: list[Edit], name: str = "submission") -> Path:
        return make_submission(lab, edits, tmp_path / name)

    return make


CASE_KINDS = ("mutant", "mistake", "variant")
JOBS = int(os.environ.get("COURSE_TEST_JOBS", "3"))
"""Works run at once ahead of the tests (below), from the first test to the last work. A
grading waits on its servers for about 40 % of its time (1,430 CPU-s in 2,400 s of gradings in
one `make test`), so three keep two cores busy; two left a quarter of the machine's CPU time
unused over the run. Each lab holds its correct answers to their timing rules under two busy CPU
loops, and a check gets back the time the machine made it wait (grader/runner.py).

One more runs once the tests that need no work are done: the main thread then only waits for
works, and three alone left the machine idle for 99 of the 1,080 CPU-s of those nine minutes
(/proc/stat, sampled every 5 s; 54 with four)."""
BACKGROUND_WAIT = 900
"""Seconds a background work may wait for one step (a build, a page): it runs one at a time,
beside the JOBS, and starts its processes in Linux's idle scheduling class (SCHED_IDLE,
`idle_class`). Such a process gets a core only where no other wants it: it uses the CPU time
that gradings leave idle (waiting on their servers), slows none of them down, and, on a machine
kept busy, waits. Chromium, which sets its processes' niceness itself, keeps the class.

The class is the processes', never the thread's: a thread of this session in it would hold the
session's interpreter lock while the machine kept it off the CPU, and every other thread (the
examples' event loops, the fakes they serve from threads) would wait for it. So did the audit's
Playwright client, run in that thread: event loops stalled half a second, in CI."""

Work = Callable[[dict[str, Any], Path], Any]
"""Ahead-of-time work: given a test's parameters and an empty folder of its own, the result the
test judges (or an exception it raises)."""
_works: dict[str, Work] = {}
_environment: dict[str, str] = {}
"""os.environ as it was when the works started, before any test ran: see `environment`."""
_served_by: dict[str, str] = {}
_in_background: set[str] = set()
_by_params: dict[tuple[str, str], Future] = {}
_futures: dict[str, dict[str, Future]] = {}
_pool: ThreadPoolExecutor | None = None
_slots = threading.Semaphore(JOBS)
"""A work runs in a slot (`_start_next`); the pool has a thread more than slots, which waits."""
_queued: deque[Callable[[], None]] = deque()
"""The works not yet started, in the order they are to start."""
_slot_added = False
_background: ThreadPoolExecutor | None = None
_scratch: Path | None = None
STARTING_ORDER = (
    "lab_grading", "round_trip_of", "notebook_run", "class_graded", "case_grading", "site_audit"
)  # fmt: skip
"""Which works start first: a lab's gradings before its round trip, which reads the starter's
(`started_with`), then the longest kinds (a round trip grades two students and runs their
notebooks), so that short ones fill the end, when a slot left idle is time lost. Within a kind,
the later labs first, for the same reason: they bring more services and take longer (the
capstone's cases took 17 s each here, Lab 1's 5 s). Background works keep this order in their
own pool."""


def ahead_of_time(
    fixture: str, served_by: str | None = None, *, background: bool = False
) -> Callable[[Work], Work]:
    """Registers `work` for every selected test that uses the fixture named `fixture`: all of
    them start, JOBS at a time, as soon as the session has collected its tests, and run beside
    the tests that need none (the site, the style, the examples, ...), which would otherwise
    leave a core idle; once those are done, JOBS + 1 at a time. The fixture itself is
    `result_of(request)`: it waits for its test's work. Where a selected test with the same
    parameters uses `served_by`, whose work does this one's too, this one is not started: its
    fixture reads the other's result (`served(request, served_by)`).

    A `background` work runs in the background thread instead (BACKGROUND_WAIT): for work with
    no timing to hold that loads the machine, as a browser auditing every page does."""

    def register(work: Work) -> Work:
        _works[fixture] = work
        if served_by:
            _served_by[fixture] = served_by
        if background:
            _in_background.add(fixture)
        return work

    return register


def result_of(request: pytest.FixtureRequest) -> Any:
    """The result of the work registered for the requesting fixture, for the requesting test."""
    return _futures[request.fixturename][request.node.nodeid].result()


def served(request: pytest.FixtureRequest, by: str) -> Future | None:
    """The work started for `by` with this test's parameters, if any."""
    return started_with(by, request.node.callspec.params)


def scratch() -> Path:
    """The session's scratch folder, which holds every work's folder and goes at its end: for what
    works share (a work runs once its tests are collected, so the folder exists by then)."""
    assert _scratch is not None, "no ahead-of-time work was started"
    return _scratch


def started_with(fixture: str, params: dict[str, Any]) -> Future | None:
    """The work started for `fixture` with `params`, if any. A work may wait for another one
    that comes before it in STARTING_ORDER: the pool starts works in the order they came."""
    return _by_params.get((fixture, params_key(params)))


def params_key(params: dict[str, Any]) -> str:
    """A test's parameters as a key: the same for two tests parametrised alike."""
    return repr(sorted(params.items()))


def started(fixture: str) -> dict[str, Future]:
    """By test id, the futures of the works started for `fixture`."""
    return _futures.get(fixture, {})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "after_works: run once the ahead-of-time works are judged, because the test waits for"
        " works it does not name, or loads the machine enough to starve a grading",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that need no ahead-of-time work first, while the works run; then those that
    judge the works, whose results are ready by then or soon. A stable sort: each group keeps
    its order."""

    items.sort(key=judges_works)


def judges_works(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & set(_works)) or item.get_closest_marker("after_works") is not None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The first test that judges works: the main thread's own tests are done, so its core goes
    to one more work."""
    global _slot_added
    if judges_works(item) and not _slot_added:
        _slot_added = True
        _slots.release()


def pytest_collection_finish(session: pytest.Session) -> None:
    global _pool, _background, _scratch
    wanted = [
        (fixture, item)
        for fixture in STARTING_ORDER
        for item in sorted(session.items, key=later_labs_first)
        if fixture in getattr(item, "fixturenames", ())
    ]
    if not wanted:
        return
    assert set(_works) <= set(STARTING_ORDER), f"give {set(_works) - set(STARTING_ORDER)} an order"
    _scratch = Path(tempfile.mkdtemp(prefix="course-tests-"))
    _environment.update(os.environ)
    _pool = ThreadPoolExecutor(JOBS + 1, thread_name_prefix="ahead-of-time")
    _background = ThreadPoolExecutor(1, thread_name_prefix="background")
    chosen = {(fixture, params_key(item.callspec.params)) for fixture, item in wanted}
    for number, (fixture, item) in enumerate(wanted):
        params = params_key(item.callspec.params)
        if (_served_by.get(fixture), params) in chosen:
            continue
        folder = _scratch / str(number)
        folder.mkdir()
        if fixture in _in_background:
            future = _background.submit(_works[fixture], item.callspec.params, folder)
        else:
            future = _queue(_works[fixture], item.callspec.params, folder)
        _futures.setdefault(fixture, {})[item.nodeid] = future
        _by_params[(fixture, params)] = future


def environment(**changes: str) -> dict[str, str]:
    """The environment, with `changes`, for a process a test starts. In a work's thread, the
    session's as the works started: the main thread's tests change os.environ meanwhile (pytest
    sets PYTEST_CURRENT_TEST for each test, examples monkeypatch PORT or WEB_CONCURRENCY), and a
    copy made then could miss a variable removed halfway through (a KeyError, seen once) or hand
    an example's PORT to a grading."""
    if threading.current_thread() is threading.main_thread():
        return {**os.environ, **changes}
    return {**_environment, **changes}


def _queue(work: Work, params: dict[str, Any], folder: Path) -> Future:
    """`work`'s future: it starts when every work queued before it has started and a slot is
    free."""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(work(params, folder))
            except BaseException as error:  # the test that judges the work raises it
                future.set_exception(error)

    _queued.append(run)
    _pool.submit(_start_next)
    return future


def _start_next() -> None:
    """Whichever thread gets a free slot runs the next work: works start in the order queued."""
    with _slots:
        _queued.popleft()()


def idle_class() -> None:
    """A `preexec_fn`: the process (and the processes it starts, which inherit it) in Linux's
    idle scheduling class, for a background work (BACKGROUND_WAIT)."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def later_labs_first(item: pytest.Item) -> int:
    callspec = getattr(item, "callspec", None)
    lab = callspec.params.get("lab") if callspec else None
    return -lab.module if isinstance(lab, Lab) else 0


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Works not started are dropped (a session stopped early); those running are waited for."""
    for pool in (_pool, _background):
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for _, template in _templates.values():
        template.kill()
        template.wait()
    if _scratch is not None:
        shutil.rmtree(_scratch, ignore_errors=True)


@ahead_of_time("case_grading")
def grade_case(params: dict[str, Any], folder: Path) -> Grading:
    """A mutant, mistake or variant (tests/labs/LAB.toml): a submission of the solution with the
    case's edits, graded as a learner grades."""
    lab = params["lab"]
    case = next(params[kind] for kind in CASE_KINDS if kind in params)
    copy = make_submission(lab, edits_of(case), folder / "submission")
    selected = graded_with(lab, case)
    only = ["-k", " or ".join(selected)] if selected else []
    env = {TEMPLATE: fork_server_template(lab)}
    return run_grading(lab, folder / "results.json", "--submission", str(copy), *only, env=env)


_templates: dict[tuple[str, ...], tuple[str, subprocess.Popen]] = {}
"""By the modules they import, the fork server templates started, and where each listens."""
_templates_starting = threading.Lock()


def fork_server_template(lab: Lab) -> str:
    """Where a fork server template with `lab`'s modules listens (grader/forkserver.py), started
    on first use. The cases' gradings and the round trips' notebooks fork their fork servers
    from it: each would otherwise import FastAPI and the lab's modules again (0.3 CPU-s, 1.9 for
    Lab 9's), hundreds of times a run. The labs' own gradings (test_labs.py) start theirs as a
    learner's grading does."""
    with _templates_starting:
        if lab.preload not in _templates:
            path = str(scratch() / f"forkserver-{len(_templates)}.sock")
            template = start_template(path, lab.preload, env=environment())
            _templates[lab.preload] = (path, template)
        return _templates[lab.preload][0]


def shown(grading: Grading) -> Grading:
    """`grading`, its output printed: pytest shows a failed test's printed output beside its
    traceback, so that the assertions' messages can stay short (CI's summary prints each in
    full, and a page of grading output would push the others off the end)."""
    print(grading.output)
    return grading


@pytest.fixture
def case_grading(request: pytest.FixtureRequest) -> Grading:
    """The grading of this test's case, started ahead of time; its output printed."""
    return shown(result_of(request))


@dataclass(frozen=True)
class Reaped:
    returncode: int
    output: str
    left_running: list[str]
    """Command lines of the processes it started that were still running after it ended."""


REAPED_WAIT = 600
"""Seconds a command run under the reaper may take: one that hangs fails its test, with what it
printed, instead of holding `make test` up until CI's limit (a batch did, interrupted as a
sandbox started)."""


def run_reaped(
    command: list[str], *, interrupt_once: Callable[[], bool] | None = None, **options: Any
) -> Reaped:
    """Run `command` (with Popen's `options`) under tests/reaper.py, which catches any process it
    leaves behind, however detached; Ctrl-C it once `interrupt_once()` is true, if given."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "left.json"
        reaper = subprocess.Popen(
            [sys.executable, "-m", "tests.reaper", str(report), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **{"env": environment(), **options},
        )
        if interrupt_once is not None:
            while reaper.poll() is None and not interrupt_once():
                time.sleep(0.1)
            os.killpg(reaper.pid, signal.SIGINT)
        try:
            output, _ = reaper.communicate(timeout=REAPED_WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(reaper.pid, signal.SIGKILL)
            output, _ = reaper.communicate()
            raise AssertionError(f"still running after {REAPED_WAIT} s:\n{output}") from None
        left = json.loads(report.read_text()) if report.exists() else ["(the reaper failed)"]
    return Reaped(reaper.returncode, output, left)
