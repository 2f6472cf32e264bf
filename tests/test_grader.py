"""The grader against apps that crash, hang or misbehave: clear messages, no leftover servers.

Each broken app is the Lab 3 solution with one edit, graded through `--submission` as a learner's
copy would be.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import LabContext, alone, procfs
from grader.apptrace import busy_frames, crash_location, library_frames
from grader.failures import CheckTimedOut
from grader.manifest import ROOT, load_course
from grader.procfs import children, command_line, running
from grader.runner import Startups, run_checks
from tests.labcases import Edit

LAB = load_course().lab("lab3")
MAIN = "app/main.py"
AFTER_SETTINGS = "settings = get_settings()\n"


def servers_of(pid: int) -> list[int]:
    """Processes started by the grader running as `pid`: its fork server and servers carry the
    tag in their environment."""
    tag = f"GRADER_PARENT_PID={pid}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if tag in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            pass  # gone, or not ours to read
    return found


def line_of(folder: Path, text: str) -> int:
    lines = (folder / MAIN).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def located_in(grading_output: str, folder: Path, code: str, function: str) -> bool:
    """Whether the grader named a line of `code` in app/main.py: a stack dump catches a loop on
    either of its lines (`while True:` or `pass`)."""
    lines = code.strip().splitlines()
    first = line_of(folder, lines[0].strip())
    return any(
        f"{folder}/{MAIN}, line {line}, in {function}" in grading_output
        for line in range(first, first + len(lines))
    )


def test_app_that_crashes_on_import_fails_every_check_with_its_own_error(grade, submission):
    folder = submission(
        LAB,
        [
            Edit(
                MAIN, AFTER_SETTINGS, AFTER_SETTINGS + 'limits = {"per_minute": 60}["per_second"]\n'
            )
        ],
    )
    grading = grade(LAB, "--submission", str(folder))
    assert grading.exit_code == 1
    assert set(grading.statuses.values()) == {"fail"}
    assert "Your app stopped before it served anything" in grading.output
    assert "KeyError: 'per_second'" in grading.output
    assert f"{folder}/{MAIN}, line {line_of(folder, 'per_second')}, in <module>" in grading.output
    assert not servers_of(grading.pid)


def test_a_start_up_failure_is_reported_once_with_the_hint_of_its_setting(grade, submission):
    """Lab 2 with CORS_ORIGINS declared as a plain list: pydantic-settings then reads the
    grader's comma-separated value as JSON, and the app cannot start."""
    lab = load_course().lab("lab2")
    config = "app/config.py"
    folder = submission(
        lab,
        [
            Edit(config, "cors_origins: Annotated[list[str], NoDecode]", "cors_origins: list[str]"),
            Edit(config, '@field_validator("cors_origins", mode="before")', ""),
            Edit(config, "    def split_commas(", "    def unused("),
        ],
    )
    grading = grade(lab, "--submission", str(folder))
    assert set(grading.statuses.values()) == {"fail"}
    checks = len(lab.checks)
    assert grading.output.count("Your app did not start") == 1, grading.output
    assert f"Your app did not start, so {checks} checks could not run" in grading.output
    assert 'error parsing value for field "cors_origins"' in grading.output
    assert f"{folder}/{config}, line" in grading.output
    assert "The grader started it with" in grading.output and "CORS_ORIGINS=" in grading.output
    covering = lab.check("test_cors_allows_only_listed_origins")
    assert f"Hint, from check {covering.task}. “{covering.title}”" in grading.output
    hints = {test["hint"] for test in grading.results["tests"]}
    assert hints == {" ".join(covering.hint.concept.split())}  # what `course hint` shows
    assert not servers_of(grading.pid)


def test_a_500_shows_the_apps_own_traceback(grade, submission):
    """`to_thread(time.sleep(s))` calls time.sleep at once and hands to_thread its result, None."""
    call = "await asyncio.to_thread(time.sleep, settings.sleep_seconds)"
    mistake = "await asyncio.to_thread(time.sleep(settings.sleep_seconds))"
    folder = submission(LAB, [Edit(MAIN, call, mistake)])
    grading = grade(LAB, "--submission", str(folder))
    result = next(
        t for t in grading.results["tests"] if t["test_code"] == "test_slow_fixed_is_concurrent"
    )
    message = result["message"]
    assert "Got 500 Internal Server Error" in message
    assert "Your app raised, while answering it:" in message
    assert f"{MAIN}, line {line_of(folder, mistake)}, in slow_fixed: {mistake}" in message
    assert "TypeError: 'NoneType' object is not callable" in message


def test_syntax_error_names_the_file_and_line(grade, submission):
    folder = submission(
        LAB, [Edit(MAIN, "tasks: dict[str, TaskStatus] = {}", "tasks: dict[str, TaskStatus] = {")]
    )
    grading = grade(LAB, "--submission", str(folder))
    assert set(grading.statuses.values()) == {"fail"}
    assert "SyntaxError: '{' was never closed" in grading.output
    assert f"{folder}/{MAIN}, line {line_of(folder, 'tasks: dict')}" in grading.output


ONE_CHECK = ["-k", "test_slow_sync_blocks"]
"""A busy app is stopped after STARTUP_CPU seconds of CPU in each of the lab's five start-up
environments (25 CPU-s for the whole lab): one check, in one environment, shows the same."""


@pytest.mark.parametrize(
    ("hang", "spent", "options"),
    [
        ("while True:\n    pass\n", "s of CPU time", ONE_CHECK),
        ("time.sleep(3600)\n", "s waiting", []),
    ],
    ids=["busy", "asleep"],
)
def test_app_that_hangs_on_import_is_stopped_and_located(hang, spent, options, grade, submission):
    folder = submission(LAB, [Edit(MAIN, AFTER_SETTINGS, AFTER_SETTINGS + hang)])
    grading = grade(LAB, "--submission", str(folder), *options)
    assert grading.statuses and set(grading.statuses.values()) == {"fail"}
    assert "Your app did not start: still not ready after" in grading.output
    assert spent in grading.output
    assert located_in(grading.output, folder, hang, "<module>"), grading.output
    assert not servers_of(grading.pid)


def test_hanging_endpoint_fails_only_its_checks_and_is_located(grade, submission):
    fine = """    await asyncio.sleep(settings.sleep_seconds)
    return {"endpoint": "slow-async"}"""
    hang = "    while True:\n        pass"
    folder = submission(LAB, [Edit(MAIN, fine, hang)])
    grading = grade(LAB, "--submission", str(folder))
    slow_async_checks = {"test_slow_async_is_concurrent", "test_slow_async_waits_without_a_thread"}
    assert grading.failed == slow_async_checks, grading.output
    assert "still waiting for an answer to GET /slow-async (3 requests)" in grading.output
    assert "still waiting for an answer to GET /slow-async (1 request)" in grading.output
    assert located_in(grading.output, folder, hang, "slow_async"), grading.output
    assert not servers_of(grading.pid)


def test_app_writing_into_its_folder_leaves_the_graded_copy_untouched(grade, submission):
    write = "Path(__file__).with_name('written.txt').write_text('by the app')\n"
    folder = submission(
        LAB, [Edit(MAIN, AFTER_SETTINGS, AFTER_SETTINGS + "from pathlib import Path\n" + write)]
    )
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    grading = grade(LAB, "--submission", str(folder))
    assert grading.exit_code == 0, grading.output
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def redis_servers_of(pid: int) -> list[int]:
    """The redis-servers the grader running as `pid` started itself (Lab 7's checks)."""
    return [child for child in children(pid) if "redis-server" in command_line(child)]


DRAINING = ["-k", "test_sigterm_drains"]
"""Lab 10's check that holds a request in flight while gunicorn drains it. At SLOW's scale, its
master and the worker draining the request live for 8 s, long enough to be seen and killed on a
busy machine; the whole lab's gunicorn servers overlap for under a second."""
SLOW = {"COURSE_TIME_SCALE": "4"}


@pytest.mark.parametrize(
    ("signum", "lab", "options", "env", "processes"),
    [
        pytest.param(signal.SIGINT, "lab3", [], {}, 2, id="ctrl-c"),
        pytest.param(signal.SIGKILL, "lab3", [], {}, 2, id="killed"),
        # the fork server, a gunicorn master and (at least) the worker that drains the request
        pytest.param(signal.SIGINT, "lab10", DRAINING, SLOW, 3, id="ctrl-c-gunicorn"),
        pytest.param(signal.SIGKILL, "lab10", DRAINING, SLOW, 3, id="killed-gunicorn"),
        # the fork server, an API, a Celery worker and its two pool processes, and the Redis the
        # grader starts itself
        pytest.param(signal.SIGKILL, "lab7", [], {}, 5, id="killed-celery"),
    ],
)
def test_no_server_outlives_an_interrupted_grading(signum, lab, options, env, processes, tmp_path):
    """Nor, after Ctrl-C, a temporary folder (a killed grading cannot remove its own: they are
    kept in the test's folder)."""
    grading = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"labs/{lab}", "--solution", "-p", "no:cacheprovider"]
        + options,
        cwd=ROOT,
        env={**os.environ, "COURSE_GRADES_DIR": os.devnull + ".d", "TMPDIR": str(tmp_path), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(servers_of(grading.pid)) < processes:
            assert grading.poll() is None, f"the grading ended before it ran {processes} servers"
            assert time.monotonic() < deadline, f"the grading never ran {processes} servers"
            time.sleep(0.05)
        redis = redis_servers_of(grading.pid)
        assert redis or lab != "lab7", "the grading started no Redis"
        grading.send_signal(signum)
        grading.wait(timeout=30)
        deadline = time.monotonic() + 10
        while servers_of(grading.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not servers_of(grading.pid)
        assert not [pid for pid in redis if running(pid)]
        if signum == signal.SIGINT:
            assert not list(tmp_path.iterdir())
    finally:
        grading.kill()
        grading.wait()


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        (["--solution", "--submission", "."], {}, "use --solution or --submission, not both"),
        (["--submission", "docs"], {}, "holds no app/ folder"),
        ([], {"COURSE_TIME_SCALE": "0.1"}, "below 0.17"),
        ([], {"COURSE_TIME_SCALE": "fast"}, "is not a number"),
    ],
)
def test_usage_mistakes_are_reported_before_grading(grade, options, env, message):
    grading = grade(LAB, *options, env=env)
    assert grading.exit_code == pytest.ExitCode.USAGE_ERROR
    assert message in grading.output
    assert grading.results is None


def test_a_selection_writes_the_checks_it_ran_to_the_results_file_named(grade):
    """Without --results it writes none: .grades/ keeps the last whole grading."""
    first = LAB.checks[0].name
    grading = grade(LAB, "--solution", "-k", first)
    assert grading.statuses == {first: "pass"}, grading.output
    assert "Only some checks ran" in grading.output


@pytest.mark.asyncio
async def test_checks_marked_alone_run_after_the_others_one_at_a_time():
    """A load test must not share the machine with the lab's other checks, nor with another."""
    events: list[str] = []

    def check(name: str, seconds: float):
        async def run(lab: LabContext) -> None:
            events.append(f"{name} starts")
            await asyncio.sleep(seconds)
            events.append(f"{name} ends")

        return run

    checks = [
        alone(check("load 1", 0.05)),
        check("quick", 0.01),
        alone(check("load 2", 0.01)),
        check("slow", 0.1),
    ]
    context = LabContext(LAB, LAB.checks[0], LAB.solution, "solution", Startups())
    outcomes = await run_checks([(function, context) for function in checks])
    assert [outcome.error for outcome in outcomes] == [None] * 4
    assert events == [
        "quick starts", "slow starts", "quick ends", "slow ends",
        "load 1 starts", "load 1 ends", "load 2 starts", "load 2 ends",
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_a_busy_machine_gives_a_check_its_time_back_up_to_its_limit(monkeypatch):
    """A machine whose tasks wait for CPUs all the time (the pressure clock runs as fast as the
    wall's): a check that never ends is stopped all the same, after twice its limit."""
    began = time.perf_counter()
    monkeypatch.setattr(procfs, "cpu_waited_seconds", lambda: time.perf_counter() - began)

    async def never_ends(lab: LabContext) -> None:
        await asyncio.Event().wait()

    lab = dataclasses.replace(LAB, check_timeout=2.0)
    context = LabContext(lab, lab.checks[0], lab.solution, "solution", Startups())
    [outcome] = await run_checks([(never_ends, context)])
    assert isinstance(outcome.error, CheckTimedOut)
    assert outcome.seconds >= 2 * context.time_limit
    assert f"stopped after {context.time_limit:.1f} s of its own time (" in str(outcome.error)
    assert "s more while the machine was busy)" in str(outcome.error)


def test_crash_location_reads_the_last_traceback():
    output = [
        "INFO:     Started server process [1]",
        "Traceback (most recent call last):",
        '  File "/venv/uvicorn/importer.py", line 19, in import_from_string',
        '  File "labs/lab3/app/main.py", line 7, in <module>',
        "    settings = Settings()",
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings",
        "anthropic_api_key",
        "  Field required [type=missing]",
        "INFO:     Stopping",
    ]
    exception, frame = crash_location(output, "labs/lab3")
    assert exception.splitlines() == output[5:8]
    assert (frame.file, frame.line, frame.function) == ("labs/lab3/app/main.py", 7, "<module>")


def test_busy_frames_takes_each_threads_innermost_learner_frame():
    dump = [
        "Thread 0x00007f01 (most recent call first):",
        '  File "labs/lab3/app/main.py", line 30 in slow_fixed',
        '  File "labs/lab3/app/main.py", line 12 in helper',
        "",
        "Current thread 0x00007f02 (most recent call first):",
        '  File "/usr/lib/python3.11/selectors.py", line 468 in select',
    ]
    assert [(f.line, f.function) for f in busy_frames(dump, "labs/lab3")] == [(30, "slow_fixed")]


def test_library_frames_name_the_busy_threads_outside_the_learners_code():
    """Where a hanging check says the app was busy when none of its own code runs: an embedding
    model in a worker thread, while the event loop idles."""
    dump = [
        "Thread 0x00007f03 (most recent call first):",
        '  File "/usr/lib/python3.11/threading.py", line 327 in wait',
        "Thread 0x00007f01 (most recent call first):",
        '  File "/venv/lib/python3.11/site-packages/minilm/model.py", line 100 in _linear',
        '  File "/venv/lib/python3.11/site-packages/chromadb/api/models/Collection.py", line 5',
        "",
        "Current thread 0x00007f02 (most recent call first):",
        '  File "/usr/lib/python3.11/asyncio/runners.py", line 118 in run',
    ]
    assert [(f.line, f.function, loop) for f, loop in library_frames(dump)] == [
        (100, "_linear", False)
    ]
    dump[-1] = '  File "/venv/lib/python3.11/site-packages/numpy/linalg.py", line 9 in norm'
    assert [loop for _, loop in library_frames(dump)] == [False, True]
