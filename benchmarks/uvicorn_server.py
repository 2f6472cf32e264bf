"""An app on a real uvicorn server on 127.0.0.1, for the benchmarks that measure through one.

One worker unless its options ask for more, no access log, warnings only: what is measured is
the app, not uvicorn's logging.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

STARTUP_LIMIT = 20.0
"""Seconds a server may take to accept connections, imports included."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(server: subprocess.Popen, port: int) -> None:
    """Returns once something accepts connections on 127.0.0.1:`port`; kills `server` and raises
    if nothing does within STARTUP_LIMIT."""
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)


def start_uvicorn(
    target: str,
    app_dir: Path,
    env: dict[str, str],
    *,
    factory: bool = False,
    options: Sequence[str] = (),
) -> tuple[subprocess.Popen, str]:
    """`uvicorn TARGET` from `app_dir`, with `env` added to this process's environment and
    uvicorn's `options` (such as `--workers 2`) added to its command line: the server, once it
    accepts connections, and its URL. Stopping it is the caller's."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, *(["--factory"] if factory else []),
        "--app-dir", str(app_dir), "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning", *options,
    ]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, **env})
    wait_until_listening(server, port)
    return server, f"http://127.0.0.1:{port}"
