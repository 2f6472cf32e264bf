"""A forked server is the same process a spawned one is: what an app can see of its process, how it
ends, and nothing of the fork server's left in it (grader/processes.py, grader/forkserver.py); and
so is one whose fork server a template forked, as in `make test`'s gradings of the cases."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import processes
from grader.failures import AppDidNotStart
from grader.forkserver import ALWAYS_PRELOADED
from grader.manifest import load_course
from grader.server import LabServer, serve

# An app that reports what it can see of its own process.
INTROSPECTING_APP = """
import os
import sys

from fastapi import FastAPI

app = FastAPI()


def descriptors() -> dict[str, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the one listdir used
    return found


@app.get("/process")
def process() -> dict[str, object]:
    open_now = descriptors()
    return {
        "environment": dict(os.environ),
        "cwd": os.getcwd(),
        "path": sys.path[:2],
        "stdin": open_now["0"],
        "descriptors": sorted(open_now.values()),
        "session": os.getsid(0),
        "group": os.getpgid(0),
        "pid": os.getpid(),
    }
"""
WAYS = {"forked": "1", "spawned": "0", "templated": "1"}


@pytest.fixture
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A fork server template (no modules beyond FastAPI's): where it listens, and its pid."""
    path = str(tmp_path_factory.mktemp("template") / "forkserver.sock")
    process = processes.start_template(path, ())
    yield path, process.pid
    process.kill()
    process.wait()


@pytest.fixture(params=list(WAYS))
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Servers started by forking (the default on Linux), by spawning (elsewhere), and by a fork
    server a template forked."""
    monkeypatch.setenv("GRADER_FORKSERVER", WAYS[request.param])
    if request.param != "templated":
        yield request.param
        return
    monkeypatch.setenv(processes.TEMPLATE, request.getfixturevalue("template")[0])
    monkeypatch.setattr(processes, "_fork_server", None)  # this test's own
    yield request.param
    processes.fork_server().stop()


def app_folder(tmp_path: Path, main: str) -> Path:
    (tmp_path / "app").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "main.py").write_text(main)
    return tmp_path


async def seen_by_app(folder: Path, **options: object) -> dict:
    async with serve(folder, app="app.main:app", shown_as="lab", **options) as server:
        return await ask(server)


async def ask(server: LabServer) -> dict:
    async with server.client() as client:
        seen = (await client.get("/process")).json()
    return {**seen, "server pid": server.process.pid}


async def seen_beside_another(folder: Path) -> tuple[dict, set[str]]:
    """What the second of two servers sees, and what the fork server holds while they both run:
    its control socket, and a status socket and pidfd per server."""
    options = {"app": "app.main:app", "shown_as": "lab"}
    async with serve(folder, **options), serve(folder, **options) as second:
        fork_server = processes.fork_server().process.pid
        held = {os.readlink(fd) for fd in Path(f"/proc/{fork_server}/fd").iterdir()}
        return await ask(second), held


def test_server_sees_a_process_of_its_own(way, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TEST_REMOVED", "yes")
    folder = app_folder(tmp_path / "lab", INTROSPECTING_APP)
    env = {"GRADER_TEST_ADDED": "yes", "GRADER_TEST_REMOVED": None}
    seen = asyncio.run(seen_by_app(folder, env=env, cwd_elsewhere=True))
    assert seen["pid"] == seen["server pid"] == seen["session"] == seen["group"]
    assert seen["environment"]["GRADER_TEST_ADDED"] == "yes"
    assert "GRADER_TEST_REMOVED" not in seen["environment"]
    assert seen["environment"]["PATH"] == os.environ["PATH"]
    assert Path(seen["cwd"]).name == "elsewhere"
    sandbox = Path(seen["cwd"]).parent
    assert seen["path"] == [str(sandbox / "lab"), seen["cwd"]]  # --app-dir, then as `python -m`
    assert seen["stdin"] == os.devnull


def test_forked_server_keeps_none_of_the_fork_servers_descriptors(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_FORKSERVER", "1")
    folder = app_folder(tmp_path / "lab", INTROSPECTING_APP)
    seen, held = asyncio.run(seen_beside_another(folder))
    sockets = {link for link in held if link.startswith("socket:")}
    assert len(sockets) >= 3, held
    assert not sockets & set(seen["descriptors"])
    assert "anon_inode:[pidfd]" in held
    assert "anon_inode:[pidfd]" not in seen["descriptors"]


def test_exit_status_is_the_apps(way, tmp_path):
    folder = app_folder(tmp_path / "lab", "raise SystemExit(3)\n")
    with pytest.raises(AppDidNotStart) as stopped:
        asyncio.run(seen_by_app(folder))
    assert stopped.value.exit_code == 3


@pytest.mark.parametrize(
    "module",
    sorted({*ALWAYS_PRELOADED, *(name for lab in load_course().labs for name in lab.preload)}),
)
def test_preloaded_module_exists(module):
    """The fork server skips what it cannot import, so a misspelt name would only cost time; and
    a `module:function` entry names a function of that module."""
    name, _, function = module.partition(":")
    assert importlib.util.find_spec(name) is not None
    assert not function or callable(getattr(importlib.import_module(name), function, None))


def test_fork_server_goes_on_when_work_ahead_fails(tmp_path, monkeypatch):
    """A `module:function` preload that raises (here a TypeError: no text to load) is work the
    servers then do themselves: the fork server still starts them."""
    monkeypatch.setenv("GRADER_FORKSERVER", "1")
    folder = app_folder(tmp_path / "lab", INTROSPECTING_APP)
    seen = asyncio.run(seen_by_app(folder, preload=["json:loads"]))
    assert seen["pid"] == seen["server pid"]


# A grader that starts a server through a template's fork server, says so, and waits to be killed.
GRADER = """
import asyncio, sys
from pathlib import Path
from grader.server import serve

async def main():
    async with serve(Path(sys.argv[1]), app="app.main:app", shown_as="lab") as server:
        print(server.process.pid, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_templated_fork_server_and_its_servers_end_with_their_grader(template, tmp_path):
    """The template's fork server is no child of the grader, so PDEATHSIG cannot end it: it ends
    when the grader's end of its socket closes, even with the grader killed, and its servers
    with it. The template goes on, for the next grading."""
    path, template_pid = template
    folder = app_folder(tmp_path / "lab", INTROSPECTING_APP)
    for _ in range(2):
        grader = subprocess.Popen(
            [sys.executable, "-c", GRADER, str(folder)],
            env={**os.environ, processes.TEMPLATE: path},
            stdout=subprocess.PIPE,
            text=True,
        )
        server = Path(f"/proc/{grader.stdout.readline().strip()}")
        assert server.exists() and len(children(template_pid)) == 1
        grader.kill()
        grader.wait()
        deadline = time.monotonic() + 10
        while (children(template_pid) or server.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not children(template_pid), "the fork server outlived its grader"
        assert not server.exists(), "the server outlived its grader"
