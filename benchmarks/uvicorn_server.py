"""An app on a real uvicorn server on 127.0.0.1, for the benchmarks that measure through one.

One worker, no access log, warnings only: what is measured is the app, not uvicorn's logging.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

STARTUP_LIMIT = 20.0
"""Seconds a server may take to accept connections, imports included."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_uvicorn(
    target: str, app_dir: Path, env: dict[str, str], *, factory: bool = False
) -> tuple[subprocess.Popen, str]:
    """`uvicorn TARGET` from `app_dir`, with `env` added to this process's environment: the
    server, once it accepts connections, and its URL. Stopping it is the caller's."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, *(["--factory"] if factory else []),
        "--app-dir", str(app_dir), "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, **env})
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)
