"""A failure the learner can reproduce: the app started by hand as the grader started it, and the
same requests sent to it, as CodeCrafters' testers print the request they sent.

A single request becomes a `curl` line; requests sent at once become a few lines of Python.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PORT = 8001
"""Where the learner's own server listens (`make serve` keeps 8000 for the site)."""
HTTPX_DEFAULTS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
"""Headers every request carries without the check asking: not worth a `-H`."""
REPEATS_SHOWN = 10


def described(env: Mapping[str, str | None], files: Mapping[str, str | None] | None = None) -> str:
    """`PORT=8123, no HOST, .env holding 'KEY=1'`: the variables a check set (None: removed) and
    the files it wrote (None: removed), in a sentence."""
    parts = [f"{name}={value}" for name, value in env.items() if value is not None]
    parts += [f"no {name}" for name, value in env.items() if value is None]
    for name, text in (files or {}).items():
        parts.append(f"no {name}" if text is None else f"{name} holding {text.strip()!r}")
    return ", ".join(parts) or "no settings of its own"


@dataclass(frozen=True)
class Launch:
    """How the grader started a server of the app, in the terms a learner can repeat."""

    app: str
    source: Path
    shown_as: str
    env: Mapping[str, str | None] = field(default_factory=dict)
    """Variables the check set (None: removed), on top of the grader's own environment."""
    files: Mapping[str, str | None] = field(default_factory=dict)
    """Files the check wrote into the graded copy (None: removed from it)."""
    cwd_elsewhere: bool = False
    gunicorn_workers: int | None = None
    """Served under gunicorn with the lab's gunicorn.conf.py and this many workers (Lab 10)."""
    celery_worker: bool = False
    """Not a server: a Celery worker of the Celery app `app` (Lab 7)."""

    def settings(self) -> str:
        """`SLEEP_SECONDS=0.75, TASK_SECONDS=0.5`, with removed variables and files named."""
        return described(self.env, self.files)

    def command(self) -> list[str]:
        """The shell lines that start the app as the grader did, on PORT."""
        lines = []
        for name, text in self.files.items():
            if text is None and (self.source / name).exists():
                lines.append(f"# The grader's copy had no {name}: move yours aside to match.")
            elif text is not None:
                lines.append(f"# The grader's copy had a {name} holding: {text.strip()}")
        words = []
        if unset := [name for name, value in self.env.items() if value is None]:
            words += ["env", *(f"-u {name}" for name in unset)]
        if self.celery_worker:
            words += [f"{k}={shlex.quote(v)}" for k, v in self.env.items() if v is not None]
            words += ["celery", "-A", self.app, "worker", "--loglevel", "INFO"]
        elif self.gunicorn_workers is None:
            words += [f"{k}={shlex.quote(v)}" for k, v in self.env.items() if v is not None]
            words += ["uvicorn", self.app, "--port", str(PORT)]
        else:
            env = {**self.env, "PORT": str(PORT)}
            words += [f"{k}={shlex.quote(v)}" for k, v in env.items() if v is not None]
            words += ["gunicorn", self.app, "-c", "gunicorn.conf.py"]
        if self.cwd_elsewhere:  # from another folder: uvicorn finds the app through --app-dir
            words = ["cd", "/tmp", "&&", *words, "--app-dir", shlex.quote(str(self.source))]
        else:
            words = ["cd", shlex.quote(self.shown_as), "&&", *words]
        return [*lines, " ".join(words)]


def variable(header: str) -> str:
    """The shell variable that holds a credential header's value by hand: X-API-Key, X_API_KEY."""
    return re.sub(r"\W", "_", header).upper()


def curl(request: httpx.Request, credentials: Mapping[str, str] | None = None) -> str:
    """The `curl` line that sends `request` to the learner's own server; the `credentials` it
    carries (header: value) sent from their shell variables."""
    words = ["curl", "-i"]
    if request.method != "GET" or request.content:
        words += ["-X", request.method]
    for name, value in _sent_headers(request).items():
        if _credential(name, value, credentials):
            words += ["-H", f'"{name}: ${variable(name)}"']
        else:
            words += ["-H", shlex.quote(f"{name}: {value}")]
    if request.content:
        words += ["--data-binary", shlex.quote(request.content.decode(errors="replace"))]
    words.append(shlex.quote(str(_on_learners_port(request.url))))
    return " ".join(words)


def burst_script(
    request: httpx.Request, count: int, credentials: Mapping[str, str] | None = None
) -> list[str]:
    """A few lines of Python that send `count` copies of `request` at once and time them; the
    `credentials` it carries read from the environment."""
    headers = [
        f'{json.dumps(name)}: os.environ["{variable(name)}"]'
        if _credential(name, value, credentials)
        else f"{json.dumps(name)}: {json.dumps(value)}"
        for name, value in _sent_headers(request).items()
    ]
    url = json.dumps(str(_on_learners_port(request.url)))
    options = f", headers={{{', '.join(headers)}}}" if headers else ""
    return [
        "python - <<'EOF'",
        "import asyncio, os, time, httpx",
        "async def main():",
        "    async with httpx.AsyncClient(timeout=None) as client:",
        f"        send = lambda: client.request({json.dumps(request.method)}, {url}{options})",
        "        start = time.perf_counter()",
        f"        answers = await asyncio.gather(*(send() for _ in range({count})))",
        '        print([a.status_code for a in answers], f"{time.perf_counter() - start:.2f} s")',
        "asyncio.run(main())",
        "EOF",
    ]


def requests_by_hand(
    requests: Sequence[httpx.Request],
    concurrent: bool,
    credentials: Mapping[str, str] | None = None,
) -> list[str]:
    """The lines that send `requests` again: a burst script, or curl lines, repeats folded. The
    `credentials` (header: value) a server's clients sent are sent from shell variables: their
    values were issued by a server the grader has stopped."""
    if concurrent:
        return burst_script(requests[0], len(requests), credentials)
    lines = []
    for line, group in itertools.groupby(curl(request, credentials) for request in requests):
        count = len(list(group))
        lines.append(f"for i in $(seq {count}); do {line}; done" if count > 1 else line)
    return lines[-REPEATS_SHOWN:]


def _sent_headers(request: httpx.Request) -> dict[str, str]:
    """The headers the check chose, spelt as it spelt them."""
    return {
        name.decode(): value.decode()
        for name, value in request.headers.raw
        if name.decode().lower() not in HTTPX_DEFAULTS
    }


def carries(request: httpx.Request, credentials: Mapping[str, str]) -> bool:
    """Whether `request` sends one of the `credentials` (header: value)."""
    return any(
        _credential(name, value, credentials) for name, value in _sent_headers(request).items()
    )


def _credential(name: str, value: str, credentials: Mapping[str, str] | None) -> bool:
    return any(
        name.lower() == header.lower() and value == issued
        for header, issued in (credentials or {}).items()
    )


def _on_learners_port(url: httpx.URL) -> httpx.URL:
    return url.copy_with(host="127.0.0.1", port=PORT)
