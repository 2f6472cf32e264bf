"""Class grading's sandbox against hostile submissions, graded in one batch with honest ones.

Each hostile submission is Lab 3's starter with an attack run at import, in every server the
grading starts. Those whose attacks fail quietly must get exactly the starter's grade; the others
0, with a reason that names what stopped them. Nothing outside a submission's own copy may change
and nothing may outlive the batch; honest submissions get the grades they get unsandboxed. The
sandbox takes Linux and root: elsewhere these tests skip, except in CI, which must run them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from grader import sandbox
from grader.cgroups import Cgroups
from grader.manifest import ROOT, Lab, load_course
from grader.nbgrader import NOT_HANDED_OUT
from tests.conftest import (
    Grading,
    ahead_of_time,
    result_of,
    run_reaped,
    started_with,
)
from tests.test_labs import grade_lab

if (unavailable := sandbox.unavailable()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the sandbox's tests, but {unavailable}")
    pytest.skip(f"no sandbox here: {unavailable}", allow_module_level=True)

CGROUPS = isinstance(Cgroups.find(), Cgroups)
LAB = load_course().lab("lab3")
AFTER_SETTINGS = "settings = get_settings()\n"
FAKE_RESULTS = {
    "version": 3,
    "status": "pass",
    "lab": LAB.id,
    "points": LAB.max_points,
    "tests": [{"test_code": check.name, "status": "pass"} for check in LAB.checks],
}

# Each attack reports what it got away with by raising LEAKED, which the test looks for.
# The reference solution, found from grader.__file__, the machine's paths or a link, run instead.
CHEAT = """
def _solution():
    import pathlib
    import grader
    course = pathlib.Path(grader.__file__).resolve().parent.parent
    for path in [course / "solutions/lab3/app/main.py", pathlib.Path({solution!r}),
                 pathlib.Path({other_student!r}), pathlib.Path(__file__).with_name("answer.py")]:
        try:
            return path.read_text()
        except OSError:
            pass


if _stolen := _solution():  # the reference solution's routes, registered before the starter's
    exec(compile(_stolen, "stolen", "exec"), globals())
"""
# Writes into another student's folder, the instructor's files, the grades and the checks.
VANDAL = """
import os

for _path in [{other_student!r}, {instructor!r}, {csv!r}]:
    try:
        with open(_path, "a") as _file:
            _file.write("# vandalised")
    except OSError:
        pass
    try:
        os.remove(_path)
    except OSError:
        pass
for _path in [{checks!r}, {solution!r}, "/submissions/vandal/app/main.py"]:
    try:
        open(_path, "r+").close()  # writable? (changes nothing)
    except OSError:
        pass
    else:
        raise RuntimeError(f"LEAKED: could write {{_path}}")
"""
# Looks for the grader's secrets and results, forges results, prints fake ones, reaches out.
SNOOP = """
import ctypes
import glob
import json
import os
import socket
import sys

_found = []
_fake = {fake!r}
print("Lab 3 — Async safety: 10/10", flush=True)
print(_fake, file=sys.stderr, flush=True)
_libc = ctypes.CDLL(None, use_errno=True)
if _libc.unshare(0x10000000) == 0:
    _found.append("a user namespace of its own")
if _libc.syscall({add_key}, b"user", b"grade", b"10/10", 5, -4) >= 0:  # the user keyring
    _found.append("a key in the kernel's keyring, which outlives the sandbox")
if _libc.syscall({shmget}, 0, 1 << 30, 0o1600) >= 0:  # System V: no process's memory
    _found.append("a gigabyte of System V shared memory")
try:  # its parent, the fork server, runs as the same user
    _found.append(f"the fork server's descriptors: {{os.listdir(f'/proc/{{os.getppid()}}/fd')}}")
except OSError:
    pass
for _attempt in [
    lambda: open("/etc/shadow").read(),
    lambda: socket.create_connection(("127.0.0.1", {port}), timeout=1),
    lambda: socket.socket(socket.AF_UNIX).connect({abstract!r}),
]:
    try:
        _found.append(repr(_attempt())[:100])
    except OSError:
        pass
for _process in glob.glob("/proc/[0-9]*"):
    for _part in ("environ", "cmdline"):
        try:
            _text = open(f"{{_process}}/{{_part}}", "rb").read()
        except OSError:
            continue
        if b"GRADER_TEST_SECRET" in _text or {csv!r}.encode() in _text:
            _found.append(f"{{_process}}/{{_part}}")
    try:
        if os.stat(_process).st_uid == os.getuid():
            continue  # its own servers, which it may reach: only the grader's side may not be
    except OSError:
        continue
    for _fd in glob.glob(f"{{_process}}/fd/*"):
        try:
            with open(_fd, "w") as _stream:
                _stream.write(_fake + "\\n")
            _found.append(f"wrote to {{_fd}} ({{os.readlink(_fd)}})")
        except OSError:
            pass
    if ctypes.CDLL(None).syscall(101, 16, int(_process.rsplit("/", 1)[1]), 0, 0) == 0:
        _found.append(f"traced {{_process}}")
if _found:
    raise RuntimeError("LEAKED: " + "; ".join(_found))
"""
# Processes that get away from their server, rewriting the grades CSV as long as they live.
DAEMON = """
import os
import subprocess

_script = "while :; do echo forged 2>/dev/null >{csv}; sleep 0.5; done  # {marker}"
_quiet = {{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}}
subprocess.Popen(["/bin/sh", "-c", _script], start_new_session=True, **_quiet)
if os.fork() == 0:  # a daemon: fork twice, in a session of its own, its output closed
    os.setsid()
    if os.fork() == 0:
        os.dup2(_devnull := os.open(os.devnull, os.O_WRONLY), 1)
        os.dup2(_devnull, 2)
        os.execv("/bin/sh", ["/bin/sh", "-c", _script])
    os._exit(0)
"""
# Kills every process it sees: its grader, the fork server, bwrap.
KILLER = """
import os
import signal

for _pid in filter(str.isdigit, os.listdir("/proc")):
    if int(_pid) != os.getpid():
        try:
            os.kill(int(_pid), signal.SIGKILL)  # its grader, the fork server, bwrap...
        except OSError:
            pass
"""
# Forks until it cannot.
BOMB = """
import os
import time

while True:
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
"""
# Keeps both cores busy with processes of their own session, which its server's end leaves.
SPINNER = """
import os

for _ in range(40):
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
raise RuntimeError("spinning")
"""
# Takes memory in many processes, each under the limit of one process.
HOG = """
import os
import time

for _ in range(12):
    if os.fork() == 0:
        _memory = b"x" * (100 * 1024 * 1024)
        time.sleep(600)
time.sleep(2)
raise RuntimeError("hogging")
"""
# Writes until the disk is full.
FILLER = """
with open("/tmp/filler", "wb") as _file:
    while True:
        _file.write(bytes(1 << 20))
"""
QUIET = ["cheater", "vandal", "snoop", "daemon"]
"""Hostile submissions whose attacks fail without a trace: graded as the starter they are."""
STARTER_PASSES = {
    "test_slow_sync_blocks",
    "test_slow_async_waits_without_a_thread",
    "test_task_finishes_in_the_background",
    "test_shutdown_waits_for_the_task",
}
"""All Lab 3's starter can earn: the blocking mistake it shows, a /slow-async that waits on no
worker thread (it blocks the event loop instead: another check's business), and work that ends
and is not lost, since it runs before the answer. (On a very busy machine a timing check can
fail it, never pass it.)"""


def starter_with(folder: Path, code: str) -> Path:
    shutil.copytree(LAB.workspace / "app", folder / "app")
    main = folder / "app" / "main.py"
    text = main.read_text()
    assert text.count(AFTER_SETTINGS) == 1
    main.write_text(text.replace(AFTER_SETTINGS, AFTER_SETTINGS + code))
    return folder


def fingerprints(*folders: Path) -> dict[str, str]:
    """Every file and symbolic link under `folders`, and what it holds or points to."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                found[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def canaries():
    """A TCP listener and an abstract unix socket on the host: no sandbox may reach them."""
    with socket.create_server(("127.0.0.1", 0)) as tcp, socket.socket(socket.AF_UNIX) as unix:
        unix.bind(f"\0grader-test-{uuid.uuid4().hex}")
        unix.listen()
        for listener in (tcp, unix):
            listener.setblocking(False)
        yield tcp, unix


def running_with(marker: str) -> list[str]:
    """The command lines of the machine's processes that hold `marker`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone
        if marker in command:
            found.append(command)
    return found


def reached(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return False
    return True


@pytest.mark.after_works  # a class of attackers at once, a CPU spinner and a memory hog among them
def test_hostile_submissions_get_nothing_they_did_not_earn(tmp_path, canaries):
    tcp, unix = canaries
    students, out = tmp_path / "class", tmp_path / "grades.csv"
    instructor = tmp_path / "home" / "notes.txt"
    instructor.parent.mkdir()
    instructor.write_text("the instructor's own file\n")
    shutil.copytree(LAB.solution, students / "ada")
    shutil.copytree(LAB.workspace / "app", students / "bob" / "app")
    marker = f"daemon-{uuid.uuid4().hex}"
    places = {
        "solution": str(LAB.solution / "app" / "main.py"),
        "other_student": str(students / "ada" / "app" / "main.py"),
        "instructor": str(instructor),
        "csv": str(out),
        "checks": str(LAB.workspace / "test_lab3.py"),
        "fake": json.dumps(FAKE_RESULTS),
        "port": tcp.getsockname()[1],
        "abstract": unix.getsockname(),
        "marker": marker,
        "add_key": {"x86_64": 248, "aarch64": 217}[platform.machine()],
        "shmget": {"x86_64": 29, "aarch64": 194}[platform.machine()],
    }
    attacks = {"cheater": CHEAT, "vandal": VANDAL, "snoop": SNOOP, "daemon": DAEMON}
    attacks |= {"killer": KILLER, "bomb": BOMB, "filler": FILLER}
    if CGROUPS:  # without, limits are per process: the batch warns, and the docs say so
        attacks |= {"spinner": SPINNER, "hog": HOG}
    for name, code in attacks.items():
        starter_with(students / name, code.format(**places))
    (students / "cheater" / "app" / "answer.py").symlink_to(LAB.solution / "app" / "main.py")
    (students / "mallory").symlink_to(LAB.solution)  # a student folder that is the solution
    before = fingerprints(students, instructor.parent, LAB.solution, LAB.workspace)

    batch = run_reaped(
        [sys.executable, "-m", "grader", "batch", str(students), "--lab", LAB.id,
         "--out", str(out), "--jobs", str(len(attacks) + 3), "--tmp-mb", "64",
         "--processes", "100", "--sandbox-memory-mb", "768", "--timeout", "30"],
        cwd=ROOT, env={**os.environ, "GRADER_TEST_SECRET": "s3cret"},
    )  # fmt: skip

    assert batch.returncode == 0, batch.output
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    results = {name: (tmp_path / "grades" / f"{name}.json").read_text() for name in rows}
    assert not [name for name, text in results.items() if "LEAKED" in text], results
    ada = (rows["ada"]["points"], rows["ada"]["reason"])
    assert ada == (str(LAB.max_points), ""), results["ada"]
    for name in ["bob", *QUIET]:
        passed = {check.name for check in LAB.checks if rows[name][check.name] == "pass"}
        assert passed <= STARTER_PASSES, results[name]
        tests = {test["test_code"]: test for test in json.loads(results[name])["tests"]}
        unknown_task = tests["test_unknown_task_is_404"]["message"]  # the starter's own answer:
        assert "Got 200 OK" in unknown_task, results[name]  # its app served, attack or not
    assert rows["killer"]["points"] == "0"
    assert rows["bomb"]["points"] == "0"
    assert "100 processes" in rows["bomb"]["reason"], results["bomb"]
    assert rows["filler"]["points"] == "0"
    assert "/tmp (64 MB)" in rows["filler"]["reason"], results["filler"]
    if CGROUPS:
        assert rows["spinner"]["points"] == "0"
        assert rows["hog"]["points"] == "0"
        assert "ran out of memory: 768 MB" in rows["hog"]["reason"], results["hog"]
    assert rows["mallory"]["points"] == "0"
    assert "symbolic link" in rows["mallory"]["reason"]
    assert fingerprints(students, instructor.parent, LAB.solution, LAB.workspace) == before
    assert not batch.left_running
    assert not running_with(marker)
    assert "forged" not in out.read_text()
    assert not reached(tcp) and not reached(unix)


def graded_as_a_class(lab: Lab, folder: Path, *options: str) -> tuple[dict[str, dict], str]:
    """A class of two, the lab's solution (ada) and its starter (bob), graded by `grader batch`
    (in the sandbox, unless `options` say otherwise): each student's row of the CSV, and what the
    batch printed."""
    students = folder / "class"
    shutil.copytree(lab.solution, students / "ada")
    shutil.copytree(lab.workspace, students / "bob", ignore=shutil.ignore_patterns(*NOT_HANDED_OUT))
    out = folder / "grades.csv"
    batch = run_reaped(
        [sys.executable, "-m", "grader", "batch", str(students), "--lab", lab.id,
         "--out", str(out), *options],
        cwd=ROOT,
    )  # fmt: skip
    assert batch.returncode == 0, batch.output
    assert ("Grading without a sandbox" in batch.output) == ("--no-sandbox" in options)
    assert not batch.left_running
    rows = {row.pop("student"): row for row in csv.DictReader(out.open())}
    return rows, batch.output + failures_reported(folder / "grades")


def failures_reported(reports: Path) -> str:
    """Each check that failed in a student's report, with its message: what a failing comparison
    shows beside the batch's summary."""
    lines = []
    for report in sorted(reports.glob("*.json")):
        for test in json.loads(report.read_text())["tests"]:
            if test["status"] != "pass":
                lines.append(f"\n{report.stem}: {test['test_code']} {test['status']}")
                lines.append(test["message"] or "")
    return "\n".join(lines)


@ahead_of_time("class_graded")
def grade_class(params: dict[str, Any], folder: Path) -> tuple[dict[str, dict], str]:
    """A lab's class (its solution and starter as two students), graded in the sandbox, or
    without one if the test says so."""
    return graded_as_a_class(params["lab"], folder, *params.get("options", ()))


@pytest.fixture
def class_graded(request: pytest.FixtureRequest) -> tuple[dict[str, dict], str]:
    return result_of(request)


def graded_outside(lab: Lab, params: dict[str, Any], folder: Path) -> Grading:
    """The grading tests/test_labs.py makes of the lab's solution or starter (`params`), as a
    learner runs it, outside any sandbox; made here, once every other grading is over, when that
    test is not selected."""
    params = {"lab": lab, **params}
    started = started_with("lab_grading", params)
    return started.result() if started else grade_lab(params, folder)


@pytest.mark.after_works  # when tests/test_labs.py is not selected, it grades each lab twice
@pytest.mark.parametrize("lab", load_course().labs, ids=lambda lab: lab.id)
def test_honest_submissions_get_the_same_grades_in_the_sandbox_as_outside(
    lab, class_graded, tmp_path
):
    """Each lab's solution and starter: what a lab's checks need (Lab 2's: a browser) is in the
    sandbox. The points and each check's status are those of the same code graded as a learner
    grades it; a reason is given for no points only (not compared: reasons name free ports)."""
    rows, printed = class_graded
    for student, params in [("ada", {"forkserver": "1"}), ("bob", {})]:
        (tmp_path / student).mkdir()
        outside = graded_outside(lab, params, tmp_path / student)
        row = rows[student]
        assert row["points"] == str(outside.results["points"]), printed
        assert {check: row[check] for check in outside.statuses} == outside.statuses, printed
        assert bool(row["reason"]) == (row["points"] == "0"), printed
    assert rows["ada"]["points"] == str(lab.max_points), printed


@pytest.mark.parametrize(("lab", "options"), [(LAB, ("--no-sandbox",))], ids=[LAB.id])
def test_without_a_sandbox_batch_grades_when_told_to(lab, options, class_graded):
    rows, printed = class_graded
    assert rows["ada"]["points"] == str(lab.max_points), printed
    assert rows["bob"]["points"] != str(lab.max_points), printed


def test_without_a_sandbox_batch_refuses_to_grade_unless_told_to(tmp_path):
    shutil.copytree(LAB.solution, tmp_path / "class" / "ada")
    out = tmp_path / "grades.csv"
    refused = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(tmp_path / "class"), "--lab", LAB.id,
         "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PATH": str(Path(sys.executable).parent)},
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "bwrap is missing" in refused.stderr, refused.stderr
    assert "--no-sandbox" in refused.stderr
    assert not out.exists()


def test_private_copy_holds_the_submission_and_nothing_that_leads_out(tmp_path):
    folder = tmp_path / "sue"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "main.py").write_text("app = None\n")
    (folder / "app" / "main.py").chmod(0o600)  # unreadable by the sandbox's users, as it came
    (folder / "app" / "inside.py").symlink_to("main.py")
    (folder / "app" / "outside.py").symlink_to(LAB.solution / "app" / "main.py")
    (folder / "app" / "up.py").symlink_to("../../../solutions/lab3/app/main.py")
    os.mkfifo(folder / "app" / "pipe")
    copy = tmp_path / "copy"
    sandbox.private_copy(folder, copy, 1 << 20)
    assert sorted(path.name for path in (copy / "app").iterdir()) == ["inside.py", "main.py"]
    assert (copy / "app" / "main.py").read_text() == "app = None\n"
    assert (copy / "app" / "main.py").stat().st_mode & 0o777 == 0o644
    assert os.readlink(copy / "app" / "inside.py") == "main.py"
    (folder / "app" / "big.bin").write_bytes(bytes(1 << 20))
    with pytest.raises(sandbox.SubmissionRefused, match=r"larger than the sandbox's /tmp"):
        sandbox.private_copy(folder, tmp_path / "too big", 1 << 20)
