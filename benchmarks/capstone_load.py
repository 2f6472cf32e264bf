"""The capstone under load: what docs/capstone/index.md says of running it on one worker, measured
with locust against the reference solution (solutions/capstone) under its own gunicorn.conf.py.

The grader's fake Anthropic API answers at once (grader/fakes/anthropic.py), so what is measured
is the service: the question's embedding, the search, the request to the model, the answer. For
each run, locust (headless) keeps USERS users sending `POST /rag/ask` with the help desk's
questions back to back (benchmarks/capstone_locustfile.py), each with one of KEYS keys the admin
API issued. Reported: requests, requests per second, the median, p95 and slowest response, and the
worker's resident memory before and after. The last run is long enough to cross the worker's
`max_requests`: gunicorn replaces it, and the slowest request is one that waited for the new
worker to start.

Run (about a minute and a half):

    .venv/bin/python benchmarks/capstone_load.py
"""

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import httpx
from uvicorn_server import free_port

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic
from grader.helpdesk import DOCUMENTS
from grader.procfs import children, resident_bytes

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "capstone"
LOCUSTFILE = Path(__file__).with_name("capstone_locustfile.py")
RUNS = ((1, 10), (10, 10), (20, 10), (10, 30))
"""(users, seconds) of each run."""
KEYS = 4
ADMIN = "benchmark-admin-key"
STARTUP_LIMIT = 60.0


def main() -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, locust {version('locust')}")
    print(f"\n{'users':>5} {'seconds':>7} {'requests':>8} {'req/s':>6} {'p50':>7} {'p95':>7} "
          f"{'slowest':>8}  worker RSS (MB)")  # fmt: skip
    for users, seconds in RUNS:
        with fake_anthropic() as api, tempfile.TemporaryDirectory() as scratch:
            print(measure(api, Path(scratch), users, seconds), flush=True)


def measure(api: FakeAnthropic, scratch: Path, users: int, seconds: int) -> str:
    """One run on a fresh copy of the solution, with its own database and store."""
    project = scratch / "capstone"
    shutil.copytree(SOLUTION, project, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    env = {
        **os.environ, **api.settings, "ADMIN_API_KEY": ADMIN, "HOST": "127.0.0.1",
        "PORT": str(port), "WEB_CONCURRENCY": "1", "RATE_LIMIT_PER_MINUTE": "1000000",
        "DATABASE_PATH": str(scratch / "capstone.db"), "CHROMA_PATH": str(scratch / "chroma"),
        "MIN_RELEVANCE": "0.3", "PYTHONDONTWRITEBYTECODE": "1",
    }  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "app.main:app", "-c", "gunicorn.conf.py"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # the access log
    master = subprocess.Popen(command, cwd=project, env=env, **quiet)
    try:
        url = f"http://127.0.0.1:{port}"
        keys = ready_with_documents(url)
        before = worker_of(master.pid)
        rss_before = rss_mb(before)
        locust = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", url,
            "--csv", str(scratch / "load"),
        ]  # fmt: skip
        subprocess.run(
            locust,
            env={**os.environ, "LOAD_KEYS": ",".join(keys)},
            capture_output=True,
            check=True,
            timeout=seconds + 60,
        )
        after = worker_of(master.pid)
        memory = f"{rss_before:.0f} → {rss_mb(after):.0f}"
        if after != before:
            memory += " (a new worker)"
    finally:
        master.send_signal(signal.SIGTERM)
        master.wait(timeout=30)
    total = aggregated(scratch / "load_stats.csv")
    return (
        f"{users:>5} {seconds:>7} {total['Request Count']:>8} "
        f"{float(total['Requests/s']):>6.1f} {total['50%']:>5} ms {total['95%']:>5} ms "
        f"{float(total['Max Response Time']):>6.0f} ms  {memory}"
    )


def ready_with_documents(url: str) -> list[str]:
    """Once the worker answers: KEYS keys from the admin API, and the help desk's notes stored."""
    deadline = time.monotonic() + STARTUP_LIMIT
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            try:
                if client.get("/admin/health").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        body = {"owner": "benchmark", "scopes": ["ask", "documents:write"]}
        admin = {"X-API-Key": ADMIN}
        keys = [
            client.post("/admin/api-keys", json=body, headers=admin).json()["api_key"]
            for _ in range(KEYS)
        ]
        notes = [{"id": id, "text": text} for id, text in DOCUMENTS.items()]
        client.post("/rag/documents", json=notes, headers={"X-API-Key": keys[0]}).raise_for_status()
    return keys


def worker_of(master: int) -> int:
    """The master's one worker."""
    return min(children(master))


def rss_mb(pid: int) -> float:
    """The process's resident memory in MiB; NaN (printed "nan") if it has ended meanwhile."""
    resident = resident_bytes(pid)
    return float("nan") if resident is None else resident / 2**20


def aggregated(stats: Path) -> dict[str, str]:
    """locust's row for all requests together, from its `_stats.csv`."""
    with stats.open() as file:
        return next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")


if __name__ == "__main__":
    main()
