"""Liveness and readiness of the catalogue service (examples/deploy/catalogue.py), and how it
learns that SIGTERM arrived without taking the signal away from the server.

The search index it depends on is the fake upstream of Module 6 (examples/travel_upstreams.py),
on a real uvicorn server in a thread. Most tests run the app in-process, through its lifespan;
the last two start it under a real uvicorn, once as it is and once with the mistake this lesson
warns about: `loop.add_signal_handler`, which replaces uvicorn's own SIGTERM handler.

Module 10's lesson (sections "Liveness and readiness" and "Readiness while draining") includes
parts of this file. Run its tests with `pytest examples/catalogue_probes.py`.
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import FrameType

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from travel_upstreams import Supplier, running

DEPLOY = Path(__file__).parent / "deploy"
sys.path.insert(0, str(DEPLOY))  # the service's own folder, its image's build context
from catalogue import Health, Settings, make_app  # noqa: E402


@asynccontextmanager
async def catalogue_client(search_url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The catalogue, its lifespan running, and a client that calls it in-process."""
    app = make_app(Settings(search_url=search_url, **settings))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        base_url = "http://catalogue.example.org"
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def closed_port_url() -> str:
    """The URL of a port where nothing listens: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# --8<-- [start:probe-tests]
@pytest.mark.asyncio
async def test_liveness_holds_while_the_search_index_is_down() -> None:
    async with catalogue_client(closed_port_url()) as client:
        live, ready = await client.get("/livez"), await client.get("/readyz")
    assert live.status_code == 200  # the process is fine: restarting it would fix nothing
    assert ready.status_code == 503  # but it cannot search: send its traffic elsewhere
    assert ready.json() == {"status": "search index unavailable"}


@pytest.mark.asyncio
async def test_readiness_follows_the_search_index() -> None:
    index = Supplier()
    index.route("/health", statuses=[200, 503])  # up, then down
    with running(index) as url:
        async with catalogue_client(url) as client:
            assert (await client.get("/readyz")).json() == {"status": "ready"}
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/livez")).status_code == 200
    assert len(index.calls_to("/health")) == 2  # readiness asked; liveness never did


# --8<-- [end:probe-tests]


class ServerHandler:
    """Stands in for the SIGTERM handler a server installs: records the signals it is passed."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)


@pytest.fixture
def server_handler() -> Iterator[ServerHandler]:
    handler = ServerHandler()
    original = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, original)


# --8<-- [start:draining-tests]
@pytest.mark.asyncio
async def test_sigterm_turns_readiness_to_503_then_reaches_the_server(server_handler) -> None:
    index = Supplier()
    index.route("/health")
    with running(index) as url:
        async with catalogue_client(url, drain_seconds=0.3) as client:
            assert (await client.get("/readyz")).status_code == 200
            sent = time.monotonic()
            signal.raise_signal(signal.SIGTERM)
            assert server_handler.received == []  # not yet: the server keeps serving while we drain
            ready, live = await client.get("/readyz"), await client.get("/livez")
            assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
            assert live.status_code == 200
            while not server_handler.received and time.monotonic() - sent < 10:
                await asyncio.sleep(0.02)
            assert server_handler.received == [signal.SIGTERM]  # passed on, once...
            assert time.monotonic() - sent >= 0.3  # ...after the drain delay
        assert signal.getsignal(signal.SIGTERM) is server_handler  # the server's, back


def test_under_testclient_nothing_is_chained(server_handler) -> None:
    # TestClient runs the lifespan in another thread, where signal.signal raises ValueError.
    with TestClient(make_app(Settings(search_url=closed_port_url()))) as client:
        client.headers["host"] = "catalogue.example.org"
        assert client.get("/livez").status_code == 200  # the lifespan started all the same
        assert signal.getsignal(signal.SIGTERM) is server_handler  # left as it was


# --8<-- [end:draining-tests]


# --8<-- [start:replaced]
@asynccontextmanager
async def replace_the_servers_handler(app: FastAPI) -> AsyncIterator[dict[str, Health]]:
    health = Health()
    loop = asyncio.get_running_loop()
    # The mistake: this replaces uvicorn's SIGTERM handler instead of adding to it.
    loop.add_signal_handler(signal.SIGTERM, lambda: setattr(health, "draining", True))
    yield {"health": health}


replaced = FastAPI(lifespan=replace_the_servers_handler)


@replaced.get("/readyz")
async def draining_or_ready(request: Request, response: Response) -> dict[str, str]:
    if request.state.health.draining:
        response.status_code = 503
        return {"status": "draining"}
    return {"status": "ready"}


# --8<-- [end:replaced]


@contextmanager
def uvicorn_serving(target: str, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str]]:
    """`uvicorn TARGET` from examples/, on a free port: the process and its URL. Whatever the
    test does, the server does not outlive it."""
    command = [sys.executable, "-m", "uvicorn", target, "--port", "0", "--no-access-log"]
    process = subprocess.Popen(
        command,
        cwd=Path(__file__).parent,
        env={**os.environ, "PYTHONPATH": str(DEPLOY), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in process.stdout:
            if match := re.search(r"Uvicorn running on (http://\S+)", line):
                break
        else:
            raise RuntimeError(f"uvicorn did not start: exit status {process.wait()}")
        yield process, match[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def poll_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "still not, after ten seconds"
        time.sleep(0.05)


# --8<-- [start:server-tests]
def test_with_the_handler_chained_uvicorn_shuts_down() -> None:
    index = Supplier()
    index.route("/health")
    with running(index) as url:
        settings = {"CATALOGUE_SEARCH_URL": url, "CATALOGUE_DRAIN_SECONDS": "0.2"}
        with uvicorn_serving("catalogue:app", settings) as (server, _):
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=10)  # it exits by itself
    assert "Application shutdown complete." in output


def test_add_signal_handler_takes_sigterm_away_from_uvicorn() -> None:
    with uvicorn_serving("catalogue_probes:replaced", {}) as (server, url):
        server.send_signal(signal.SIGTERM)
        poll_until(lambda: httpx.get(f"{url}/readyz").status_code == 503)  # our callback ran
        time.sleep(0.5)  # uvicorn, had it been told, would have closed its socket within 0.1 s
        assert httpx.get(f"{url}/readyz").json() == {"status": "draining"}  # a new connection
        assert server.poll() is None  # still serving: only SIGKILL will stop it now


# --8<-- [end:server-tests]
