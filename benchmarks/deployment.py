"""What Module 10's lesson claims about worker processes and shutting down, measured on real
servers on 127.0.0.1.

Throughput: requests per second on the two endpoints of examples/catalogue_workload.py, one that
computes (about 20 ms of pure Python per request) and one that waits (0.1 s, almost no CPU),
served by gunicorn with UvicornWorker workers (1, 2 and 4 of them) and by `uvicorn --workers 2`.
A load generator in this process keeps a fixed number of requests in flight (8 on the computing
endpoint, 32 on the waiting one) for a few seconds, after a warm-up, each request on a new
connection, so that whichever worker is free accepts the next one, as it would behind a load
balancer. Beside each figure: the CPU the server's processes used (user + system, from /proc,
master and workers), in cores, and the CPU of the load generator itself, which shares the
machine's cores with them.

Draining: examples/deploy/catalogue.py under gunicorn with its own gunicorn.conf.py (one
worker), its search index the fake upstream of examples/travel_upstreams.py, answering searches
after 1.8 s. SIGTERM is sent to the master 0.3 s into a search: how long the search, the last
served request and the master take after it, with no drain delay, with a drain delay of 1 s
(`/readyz` polled every 50 ms), and with a graceful timeout (1 s) shorter than the search; and
with no request in flight, without and with the drain delay.

Run:

    .venv/bin/python benchmarks/deployment.py
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from uvicorn_server import free_port, start_uvicorn, wait_until_listening

from grader.server import cpu_and_sleep

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEPLOY = EXAMPLES / "deploy"
sys.path.insert(0, str(EXAMPLES))
from travel_upstreams import Supplier, running  # noqa: E402

ENDPOINTS = {  # name: (path, requests kept in flight)
    "computes (CPU)": ("/books/7/similar", 8),
    "waits (I/O)": ("/books/7/availability", 32),
}
WARM_UP, MEASURE = 1.0, 4.0
SEARCH_SECONDS, SIGTERM_AFTER = 1.8, 0.3


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    pids = [pid]
    for parent in pids:
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return pids


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_and_sleep(pid)[0] for pid in pids)


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server; whatever of its tree is left after 30 s is killed."""
    pids = tree(server.pid)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.wait()


def start_gunicorn(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "catalogue_workload:app", "--chdir", str(EXAMPLES),
        "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command)
    wait_until_listening(server, port)
    return server, f"http://127.0.0.1:{port}"


async def load(port: int, path: str, in_flight: int, seconds: float) -> int:
    """Keeps `in_flight` requests going for `seconds`, each on a new connection: the 200s."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    deadline = time.perf_counter() + seconds
    answered = 0

    async def client() -> None:
        nonlocal answered
        while time.perf_counter() < deadline:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answer = await reader.read()  # to the end: the server closes the connection
            writer.close()
            answered += answer.startswith(b"HTTP/1.1 200")

    await asyncio.gather(*(client() for _ in range(in_flight)))
    return answered


def throughput(server: subprocess.Popen, url: str) -> dict[str, tuple[float, float, float]]:
    """Per endpoint: requests per second, the server's cores busy, the load generator's."""
    port = int(url.rpartition(":")[2])
    asyncio.run(load(port, "/books/1/availability", 4, 2.0))  # every worker has booted by then
    pids = tree(server.pid)
    results = {}
    for name, (path, in_flight) in ENDPOINTS.items():
        asyncio.run(load(port, path, in_flight, WARM_UP))
        began, server_cpu, own_cpu = time.perf_counter(), cpu_of(pids), time.process_time()
        answered = asyncio.run(load(port, path, in_flight, MEASURE))
        elapsed = time.perf_counter() - began
        server_cores = (cpu_of(pids) - server_cpu) / elapsed
        client_cores = (time.process_time() - own_cpu) / elapsed
        results[name] = (answered / elapsed, server_cores, client_cores)
    return results


@dataclass
class Catalogue:
    """The catalogue service under gunicorn, its output read by a thread as it comes."""

    process: subprocess.Popen
    url: str = ""
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, search_url: str, drain: float, *options: str) -> "Catalogue":
        env = {
            **os.environ, "HOST": "127.0.0.1", "PORT": "0", "WEB_CONCURRENCY": "1",
            "CATALOGUE_SEARCH_URL": search_url, "CATALOGUE_DRAIN_SECONDS": str(drain),
        }  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", *options],
            cwd=DEPLOY,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        catalogue = cls(process)
        threading.Thread(target=lambda: catalogue.lines.extend(process.stdout), daemon=True).start()
        deadline = time.monotonic() + 30
        while not any("Application startup complete" in line for line in catalogue.lines):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("gunicorn did not start:\n" + "".join(catalogue.lines))
            time.sleep(0.02)
        catalogue.url = next(
            match[1]
            for line in catalogue.lines
            if (match := re.search(r"Listening at: (http://\S+)", line))
        )
        return catalogue

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def drain(index: Supplier, search_url: str, delay: float, searching: bool, *options: str) -> dict:
    """SIGTERM to a catalogue (with a search in flight if `searching`): when things happened,
    in seconds after the signal."""
    catalogue = Catalogue.start(search_url, delay, *options)
    outcome: dict[str, object] = {}
    try:
        searches = len(index.calls_to("/search"))

        def search() -> None:
            try:
                response = httpx.get(f"{catalogue.url}/books?q=sea", timeout=30)
                outcome["search"] = response.status_code
            except httpx.HTTPError as error:
                outcome["search"] = type(error).__name__
            outcome["search at"] = time.monotonic() - sent

        searcher = threading.Thread(target=search)
        if searching:
            searcher.start()
            index.wait_until(lambda: len(index.calls_to("/search")) > searches)
            time.sleep(SIGTERM_AFTER)
        sent = time.monotonic()
        catalogue.process.send_signal(signal.SIGTERM)
        while catalogue.process.poll() is None:
            try:
                ready = httpx.get(f"{catalogue.url}/readyz", timeout=5).status_code
            except httpx.TransportError:
                break
            outcome["served until"] = time.monotonic() - sent
            if ready == 503:
                outcome.setdefault("503 from", time.monotonic() - sent)
            time.sleep(0.05)
        catalogue.process.wait(timeout=60)
        outcome["exit at"] = time.monotonic() - sent
        outcome["exit status"] = catalogue.process.returncode
        shutdown = any("Application shutdown complete" in line for line in catalogue.lines)
        outcome["lifespan shutdown ran"] = shutdown  # not when the worker was killed
        if searching:
            searcher.join()
    finally:
        catalogue.kill()
    return outcome


def main() -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    columns = f"{'requests/s':>10} {'server CPU':>11} {'client CPU':>11}"
    print(f"\n{'server':<28} {'endpoint':<15} {columns}")
    servers = [(f"gunicorn, {n} worker{'s' * (n > 1)}", n) for n in (1, 2, 4)]
    for name, workers in [*servers, ("uvicorn --workers 2", 0)]:
        if workers:
            server, url = start_gunicorn(workers)
        else:
            server, url = start_uvicorn(
                "catalogue_workload:app", EXAMPLES, {}, options=["--workers", "2"]
            )
        try:
            results = throughput(server, url)
        finally:
            stop(server)
        for endpoint, (rate, server_cores, client_cores) in results.items():
            print(
                f"{name:<28} {endpoint:<15} {rate:>10.0f}"
                f" {server_cores:>6.2f} cores {client_cores:>6.2f} cores"
            )

    index = Supplier()
    index.route("/health")
    index.route("/search", delay=SEARCH_SECONDS, body={"hits": [{"title": "The Sea"}]})
    print(f"\nSIGTERM to gunicorn (1 worker), {SIGTERM_AFTER} s into a {SEARCH_SECONDS} s search:")
    print("seconds after the signal")
    cases = [
        ("no request in flight", 0.0, False),
        ("no request in flight, drain delay 1 s", 1.0, False),
        ("search in flight, no drain delay", 0.0, True),
        ("search in flight, drain delay 1 s", 1.0, True),
        ("search in flight, graceful_timeout 1 s", 0.0, True, "--graceful-timeout", "1"),
    ]
    with running(index) as search_url:
        for label, delay, searching, *options in cases:
            outcome = drain(index, search_url, delay, searching, *options)
            shown = ", ".join(
                f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
                for key, value in outcome.items()
            )
            print(f"  {label:<40} {shown}")


if __name__ == "__main__":
    main()
