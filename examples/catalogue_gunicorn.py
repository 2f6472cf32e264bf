"""The catalogue service under gunicorn, with its own examples/deploy/gunicorn.conf.py.

The first tests load that file with gunicorn's own loader, the one `gunicorn --config` uses, and
read the settings it produces. The last two start a real gunicorn master with UvicornWorker
workers: one kills a worker and watches the master replace it, the other sends the master SIGTERM
with a search in flight and watches the service drain. The master is started in a process group
of its own, which is killed, workers and all, whatever the test does.

Module 10's lesson (sections "A process manager", "gunicorn.conf.py", "Timeouts and recycling"
and "Graceful shutdown") includes parts of this file. Run its tests with
`pytest examples/catalogue_gunicorn.py`.
"""

import os
import re
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from gunicorn.app.base import Application
from gunicorn.config import Config
from travel_upstreams import Supplier, running
from uvicorn_worker import UvicornWorker

DEPLOY = Path(__file__).parent / "deploy"
CONFIG = DEPLOY / "gunicorn.conf.py"
sys.path.insert(0, str(DEPLOY))  # the service's own folder, its image's build context
from catalogue import SEARCH_TIMEOUT, Settings  # noqa: E402


class ConfigFile(Application):
    """gunicorn's settings from a config file, loaded as `gunicorn --config FILE` loads them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__()

    def load_config(self) -> None:
        self.load_config_from_file(str(self.path))

    def load(self) -> None:
        raise AssertionError("only the settings are read here; nothing is served")


# --8<-- [start:config-tests]
def test_the_platform_sets_the_address_and_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    assert ConfigFile(CONFIG).cfg.bind == ["0.0.0.0:8000"]
    assert ConfigFile(CONFIG).cfg.workers == 2

    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    cfg = ConfigFile(CONFIG).cfg
    assert (cfg.bind, cfg.workers) == (["0.0.0.0:9000"], 3)


def test_the_file_sets_only_settings_gunicorn_knows() -> None:
    names = {name for name, value in runpy.run_path(str(CONFIG)).items()}
    ours = {name for name in names if not name.startswith("_") and name != "os"}
    assert ours <= Config().settings.keys()  # gunicorn ignores a misspelt name without a word
    cfg = ConfigFile(CONFIG).cfg
    assert cfg.worker_class is UvicornWorker and cfg.accesslog == "-"


def test_the_drain_and_the_slowest_search_fit_in_the_graceful_timeout() -> None:
    cfg = ConfigFile(CONFIG).cfg
    slowest_search = SEARCH_TIMEOUT.connect + SEARCH_TIMEOUT.read  # then the client gives up
    assert Settings().drain_seconds + slowest_search < cfg.graceful_timeout
    assert 0 < cfg.max_requests_jitter < cfg.max_requests


# --8<-- [end:config-tests]


@dataclass
class Master:
    process: subprocess.Popen
    url: str = ""
    lines: list[str] = field(default_factory=list)
    """Everything gunicorn and its workers printed so far (a thread keeps reading)."""

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        """The first `count` matches of `pattern` in the output, once there are that many."""
        deadline = time.monotonic() + timeout
        while len(found := [m for line in self.lines if (m := re.search(pattern, line))]) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {count} × {pattern!r} in:\n{''.join(self.lines)}")
            time.sleep(0.02)
        return [match[1] if match.groups() else match[0] for match in found[:count]]


@contextmanager
def gunicorn(workers: int, **settings: str) -> Iterator[Master]:
    """`gunicorn --config gunicorn.conf.py` from the service's folder, on a free port, once
    `workers` workers have started the app. Killed with its process group at the end."""
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": "0", "WEB_CONCURRENCY": str(workers)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", CONFIG.name],
        cwd=DEPLOY,
        env={**env, **settings},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: one killpg stops master and workers
    )
    master = Master(process)
    reader = threading.Thread(target=lambda: master.lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        master.url = master.wait_for(r"Listening at: (http://\S+)")[0]
        master.wait_for("Application startup complete", count=workers)
        yield master
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it exited, and so did its workers
        process.wait()
        reader.join(timeout=5)


# --8<-- [start:master-test]
def test_the_master_replaces_a_worker_that_dies() -> None:
    with gunicorn(workers=2) as master:  # no search index: only the probes are used here
        first, second = master.wait_for(r"Booting worker with pid: (\d+)", count=2)
        os.kill(int(first), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        master.wait_for(rf"Worker \(pid:{first}\) was sent SIGKILL")
        third = master.wait_for(r"Booting worker with pid: (\d+)", count=3)[2]
        master.wait_for("Application startup complete", count=3)
        assert third not in (first, second)
        assert httpx.get(f"{master.url}/livez").status_code == 200  # two workers again


# --8<-- [end:master-test]


# --8<-- [start:drain-test]
def test_sigterm_drains_then_lets_the_search_in_flight_finish() -> None:
    index = Supplier()
    index.route("/search", delay=1.5, body={"hits": [{"title": "The Sea"}]})
    with running(index) as url:
        with gunicorn(workers=1, CATALOGUE_SEARCH_URL=url, CATALOGUE_DRAIN_SECONDS="1") as master:
            answer: list[httpx.Response] = []
            search = threading.Thread(
                target=lambda: answer.append(httpx.get(f"{master.url}/books?q=sea", timeout=30))
            )
            search.start()
            index.wait_until(lambda: index.calls_to("/search"))  # the search is in flight
            master.process.send_signal(signal.SIGTERM)

            seen = []  # readiness, then liveness, until new connections fail
            while master.process.poll() is None:
                try:
                    ready = httpx.get(f"{master.url}/readyz").status_code
                    seen.append((ready, httpx.get(f"{master.url}/livez").status_code))
                except httpx.TransportError:  # refused, or accepted just as the listener closed
                    break
            search.join(timeout=30)
            exit_status = master.process.wait(timeout=30)

    assert (503, 200) in seen  # draining: not ready, yet alive and serving
    assert answer and answer[0].status_code == 200  # the search in flight finished...
    assert answer[0].json()["books"] == [{"title": "The Sea"}]  # ...in full
    assert exit_status == 0  # the master stopped by itself, which alone proves little; but:
    output = "".join(master.lines)
    assert output.index("GET /books?q=sea") < output.index("Application shutdown complete")


# --8<-- [end:drain-test]
