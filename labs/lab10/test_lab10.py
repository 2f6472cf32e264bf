"""Lab 10 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab10`. Checks of tasks 1 to 3 run your app as a deployment does, under a real
gunicorn master started with your gunicorn.conf.py (`gunicorn app.main:app -c gunicorn.conf.py`,
with HOST=127.0.0.1, PORT and WEB_CONCURRENCY set), and signal it as a platform would; the
configuration is read as gunicorn itself loads it (`gunicorn --print-config`). Task 4's checks
run your app on uvicorn. Task 5's read your Dockerfile, .dockerignore and Procfile with a real
Dockerfile parser: these machines have no container runtime, so the image is never built.
"""

import asyncio
import fnmatch
import json
import os
import re
import shlex
import signal
import time
from pathlib import Path

import httpx
from dockerfile_parse import DockerfileParser

from grader import LabContext, expect_status, fail
from grader.checks import deployment
from grader.expect import answer, observed
from grader.fakes.database import database
from grader.procfs import children, running
from grader.server import LabServer
from grader.services.gunicorn import Connection

SLOW = deployment.IN_FLIGHT
"""SLOW_SECONDS: how long GET /slow takes."""
EXIT_WAIT = 5.0
"""Real seconds a stopped worker may take to be gone, past what the rule allows, before the check
says it never went."""
WORKERS = deployment.WORKERS
WHOAMI_TRIES = 200
"""Requests, each on a new connection, for every worker to answer one."""
ALLOWED = "127.0.0.1,inventory.example.com,api.example.com"
REFERRER_POLICIES = {
    "no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin",
    "same-origin", "strict-origin", "strict-origin-when-cross-origin",
}  # fmt: skip
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|INDEX_URL", re.IGNORECASE)
GZIP_THRESHOLD = 1024


def production(**extra: str) -> dict[str, str]:
    return {"ENVIRONMENT": "production", "ALLOWED_HOSTS": "127.0.0.1", **extra}


def development(**extra: str) -> dict[str, str]:
    return {"ENVIRONMENT": "development", "ALLOWED_HOSTS": "127.0.0.1", **extra}


# --- Task 1: gunicorn.conf.py ---


async def test_config_worker_and_bind(lab: LabContext):
    await deployment.worker_class_and_bind(lab)


async def test_config_workers(lab: LabContext):
    await deployment.workers_from_the_platform(lab)


async def test_config_graceful_and_recycling(lab: LabContext):
    await deployment.graceful_and_recycling(lab)


async def test_workers_answer_and_log(lab: LabContext):
    async with lab.server(gunicorn_workers=WORKERS, probes=["stdout"]) as master:
        workers = children(master.process.pid)
        answered: set[int] = set()
        async with master.client() as client:
            for _ in range(WHOAMI_TRIES):
                response = await client.get("/whoami")
                expect_status(response, 200)
                answered.add(response.json()["pid"])
                if len(answered) >= len(workers):
                    break
        await asyncio.sleep(0.2)  # the access log line is written after the answer
        logged = [line for line in master.output.stdout if '"GET /whoami' in line]
    sent = f"GET /whoami (each on a new connection) to gunicorn with WEB_CONCURRENCY={WORKERS}"
    if len(workers) != WORKERS:
        raise fail(
            sent,
            f"{len(workers)} worker processes under the master",
            f"exactly {WORKERS}: the number WEB_CONCURRENCY asks for",
        )
    if answered != workers:
        strangers = answered - workers
        raise fail(
            f"{sent}, up to {WHOAMI_TRIES} times",
            f"answers from pids {sorted(answered)}; the workers are {sorted(workers)}",
            "every worker answering, each with its own pid (os.getpid())"
            + (": pids that are not the workers' answered" if strangers else ""),
        )
    if not logged:
        raise fail(
            sent,
            "no access log line for GET /whoami on stdout; the last lines printed:\n  "
            + deployment.output_tail(master),
            'an access log line such as `127.0.0.1:51234 - "GET /whoami HTTP/1.1" 200` on '
            'stdout (accesslog = "-"), where a platform collects logs',
        )


# --- Task 2: graceful shutdown ---


class SlowRequest(deployment.InFlight):
    """GET /slow, written on a connection of the check's own: it is in flight once the worker has
    read it."""

    env = {"SLOW_SECONDS": str(SLOW)}
    described = f"GET /slow (SLOW_SECONDS={SLOW:g})"
    whole = "200 once /slow has finished"

    async def send(self, server: LabServer) -> None:
        self.connection = await Connection.open(server.port)
        await self.connection.send("/slow")
        if not await self.connection.until_read(server.port):
            raise fail("GET /slow", "a request your app never read", "the worker to read it")

    async def answered(self) -> str | None:
        response = await self.connection.response()
        if response is None:
            return "the connection closed with no answer"
        return None if response.status == 200 else f"status {response.status}"

    async def close(self) -> None:
        await self.connection.close()


async def test_sigterm_drains(lab: LabContext):
    await deployment.sigterm_drains(lab, SlowRequest())


# --- Task 3: liveness and readiness ---


async def test_health_ignores_database(lab: LabContext):
    async with database(up=False) as db, lab.server(db.settings) as server:
        async with server.client() as client:
            response = await client.get("/health")
    if response.status_code != 200:
        raise fail(
            f"GET /health while the database ({db.host}:{db.port}) refused connections",
            answer(response),
            "200: liveness says the process can serve; a database outage is not cured by "
            "restarting it",
            response=response,
        )


async def test_ready_follows_database(lab: LabContext):
    async with database() as db, lab.server(db.settings) as server:
        async with server.client() as client:
            for state in ("up", "down", "up again"):
                if state == "down":
                    await db.stop()
                elif state == "up again":
                    await db.start()
                response = await client.get("/ready")
                expected = 503 if state == "down" else 200
                if response.status_code != expected:
                    raise fail(
                        f"GET /ready with the database ({db.host}:{db.port}) {state}",
                        answer(response),
                        f"status {expected}: readiness follows the database, asked on "
                        "every request",
                        response=response,
                    )


async def test_ready_turns_503_when_draining(lab: LabContext):
    async with database() as db:
        env = {**db.settings, "SLOW_SECONDS": str(SLOW)}
        async with lab.server(env, gunicorn_workers=1) as master:
            connection = await Connection.open(master.port)
            try:
                await connection.send("/whoami", "/ready")
                whoami, before = await connection.response(), await connection.response()
                if whoami is None or before is None:
                    raise fail(
                        "GET /whoami then GET /ready on one connection",
                        "the connection closed",
                        "both answered",
                    )
                if before.status != 200:
                    raise fail(
                        "GET /ready, the database up", f"status {before.status}", "status 200"
                    )
                worker = json.loads(whoami.body)["pid"]
                await connection.send("/slow", "/ready")
                if not await connection.until_read(master.port):
                    raise fail("GET /slow", "requests never read", "the worker to read them")
                os.kill(worker, signal.SIGTERM)
                slow, during = await connection.response(), await connection.response()
            finally:
                await connection.close()
            gone = await _gone(worker, SLOW + EXIT_WAIT)
    situation = (
        f"GET /slow then GET /ready on one connection to a worker (SLOW_SECONDS={SLOW:g}), then "
        "SIGTERM to that worker"
    )
    if slow is None or slow.status != 200:
        raise fail(
            situation,
            "no answer to /slow" if slow is None else f"status {slow.status} to /slow",
            "200: the worker finishes the request in flight",
        )
    if during is None:
        raise fail(situation, "no answer to /ready", "503 from /ready, answered while draining")
    if during.status != 503:
        raise fail(
            situation,
            f"status {during.status} to /ready, the database still up",
            "503: from SIGTERM on, the worker is draining and must get no new traffic",
        )
    if not gone:
        raise fail(
            situation,
            f"worker {worker} still running {SLOW + EXIT_WAIT:.1f} s later",
            "the worker to finish and exit: SIGTERM must still reach uvicorn's own handler",
        )


async def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        await asyncio.sleep(0.05)
    return False


# --- Task 4: production settings ---


async def test_docs_only_in_development(lab: LabContext):
    for env, expected in ((production(), 404), (development(), 200)):
        async with lab.server(env) as server, server.client() as client:
            for path in ("/docs", "/redoc", "/openapi.json"):
                response = await client.get(path)
                if response.status_code != expected:
                    raise fail(
                        f"GET {path} with ENVIRONMENT={env['ENVIRONMENT']}",
                        answer(response),
                        f"status {expected}: "
                        + (
                            "no docs or schema in production (docs_url, redoc_url and "
                            "openapi_url set to None)"
                            if expected == 404
                            else "the docs served in development"
                        ),
                        response=response,
                    )


async def test_security_headers(lab: LabContext):
    async with lab.server(production()) as server, server.client() as client:
        for path in ("/health", "/items/NO-SUCH-SKU", "/no-such-page"):
            response = await client.get(path)
            if problems := _header_problems(response.headers):
                raise fail(
                    f"GET {path} with ENVIRONMENT=production",
                    f"{response.status_code} with {'; '.join(problems)}",
                    "every response, errors included, with X-Content-Type-Options: nosniff, "
                    "X-Frame-Options: DENY, a Referrer-Policy and Strict-Transport-Security: "
                    "max-age=<seconds>",
                    response=response,
                )


def _header_problems(headers: httpx.Headers) -> list[str]:
    problems = []
    for name, valid, expected in (
        ("X-Content-Type-Options", lambda v: v.lower() == "nosniff", "nosniff"),
        ("X-Frame-Options", lambda v: v.upper() == "DENY", "DENY"),
        ("Referrer-Policy", lambda v: v.strip().lower() in REFERRER_POLICIES, "a policy"),
        (
            "Strict-Transport-Security",
            lambda v: bool(re.match(r"^\s*max-age=\"?([1-9]\d*)", v, re.IGNORECASE)),
            "max-age=<seconds>",
        ),
    ):
        value = headers.get(name)
        if value is None:
            problems.append(f"no {name}")
        elif not valid(value):
            problems.append(f"{name}: {value} (not {expected})")
    return problems


async def test_trusted_hosts(lab: LabContext):
    async with lab.server(production(ALLOWED_HOSTS=ALLOWED)) as server:
        async with server.client() as client:
            for host, expected in (
                ("evil.example.net", 400),
                ("api.example.com", 200),
                ("inventory.example.com", 200),
            ):
                response = await client.get("/items", headers={"Host": host})
                if response.status_code != expected:
                    raise fail(
                        f"GET /items with Host: {host}, ALLOWED_HOSTS={ALLOWED}",
                        answer(response),
                        f"status {expected}: "
                        + ("a Host not allowed is refused" if expected == 400 else "allowed"),
                        response=response,
                    )


async def test_gzip_large_only(lab: LabContext):
    gzip = {"Accept-Encoding": "gzip"}
    async with lab.server(development()) as server, server.client() as client:
        large = await client.get("/openapi.json", headers=gzip)
        small = await client.get("/health", headers=gzip)
    expect_status(large, 200)
    if len(large.content) <= GZIP_THRESHOLD:
        raise fail(
            "GET /openapi.json with ENVIRONMENT=development",
            f"{len(large.content)} bytes",
            f"the app's schema, over {GZIP_THRESHOLD} bytes: the lab's routes describe it",
        )
    if large.headers.get("Content-Encoding") != "gzip":
        raise fail(
            "GET /openapi.json with Accept-Encoding: gzip",
            f"{len(large.content)} bytes with Content-Encoding: "
            f"{large.headers.get('Content-Encoding', '(none)')}",
            "Content-Encoding: gzip for a response over 1 KB",
            response=large,
        )
    if "Content-Encoding" in small.headers:
        raise fail(
            "GET /health with Accept-Encoding: gzip",
            f"{len(small.content)} bytes, Content-Encoding: {small.headers['Content-Encoding']}",
            "no compression for a few bytes: it costs more than it saves (minimum_size)",
            response=small,
        )


# --- Task 5: the image ---


def _parsed_dockerfile(lab: LabContext) -> list[dict]:
    path = lab.source / "Dockerfile"
    if not path.exists():
        raise observed("Read Dockerfile", "no Dockerfile", "a Dockerfile beside app/")
    parser = DockerfileParser(fileobj=path.open("rb"))
    return parser.structure


def _final_stage(structure: list[dict]) -> list[dict]:
    starts = [index for index, step in enumerate(structure) if step["instruction"] == "FROM"]
    return structure[starts[-1] :] if starts else structure


def _shown(step: dict) -> str:
    return f"line {step['startline'] + 1}: {step['content'].strip()}"


async def test_dockerfile_stages_and_user(lab: LabContext):
    structure = _parsed_dockerfile(lab)
    stages = [step for step in structure if step["instruction"] == "FROM"]
    if len(stages) < 2:
        raise observed(
            "Read Dockerfile",
            f"{len(stages)} stage(s): " + ("; ".join(_shown(s) for s in stages) or "no FROM"),
            "two stages at least: one that builds the dependencies, and a final one that copies "
            "only what runs",
        )
    final = _final_stage(structure)
    cmd = next((i for i, step in enumerate(final) if step["instruction"] == "CMD"), len(final))
    users = [step for step in final[:cmd] if step["instruction"] == "USER"]
    user = users[-1]["value"].split(":")[0].strip() if users else None
    if user is None or user in {"root", "0"}:
        raise observed(
            "Read the Dockerfile's final stage",
            _shown(users[-1]) if users else "no USER before CMD: the app would run as root",
            "a USER other than root before CMD, so that a flaw in the app does not hand over "
            "root in the container",
        )


async def test_dockerfile_cmd_and_healthcheck(lab: LabContext):
    final = _final_stage(_parsed_dockerfile(lab))
    cmds = [step for step in final if step["instruction"] == "CMD"]
    if not cmds:
        raise observed("Read the Dockerfile's final stage", "no CMD", "a CMD that runs gunicorn")
    cmd = cmds[-1]
    try:
        words = json.loads(cmd["value"])
    except ValueError:
        words = None
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise observed(
            "Read the Dockerfile's CMD",
            f"{_shown(cmd)}, in shell form: /bin/sh runs as PID 1 and does not pass SIGTERM on",
            'the exec form, a JSON list: CMD ["gunicorn", "app.main:app", "-c", '
            '"gunicorn.conf.py"]',
        )
    if not deployment.runs_gunicorn(words):
        raise observed(
            "Read the Dockerfile's CMD",
            _shown(cmd),
            "gunicorn run with app.main:app and -c gunicorn.conf.py",
        )
    checks = [step for step in final if step["instruction"] == "HEALTHCHECK"]
    if not checks or "/health" not in checks[-1]["value"] or _healthcheck_off(checks[-1]):
        raise observed(
            "Read the Dockerfile's final stage",
            _shown(checks[-1]) if checks else "no HEALTHCHECK",
            "a HEALTHCHECK whose command requests /health, the liveness probe",
        )


def _healthcheck_off(step: dict) -> bool:
    return step["value"].strip().upper() == "NONE"


async def test_image_keeps_secrets_out(lab: LabContext):
    structure = _parsed_dockerfile(lab)
    for step in structure:
        if step["instruction"] in {"COPY", "ADD"}:
            sources = [w for w in shlex.split(step["value"]) if not w.startswith("--")][:-1]
            if any(Path(source).name.startswith(".env") for source in sources):
                raise observed(
                    "Read the Dockerfile",
                    _shown(step),
                    "no .env copied into the image: every layer keeps it, for anyone who pulls "
                    "the image; the platform gives the app its secrets at run time",
                )
        if step["instruction"] == "ENV":
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)[=\s]", step["value"])
            if secret := [name for name in names if SECRET_NAME.search(name)]:
                raise observed(
                    "Read the Dockerfile",
                    f"{_shown(step)}: {', '.join(secret)} kept in the image",
                    "no secret-looking ENV; a private index URL as a build ARG, which the final "
                    "image does not keep",
                )
    ignore = lab.source / ".dockerignore"
    patterns = ignore.read_text().splitlines() if ignore.exists() else []
    if not _ignored(".env", patterns):
        raise observed(
            "Read .dockerignore",
            ("patterns: " + ", ".join(p for p in patterns if p.strip())) if patterns else "none",
            "a pattern that keeps .env out of the build context (`COPY . .` would copy it)",
        )


def _ignored(name: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's `patterns` keep `name` out of the context: the last match wins."""
    ignored = False
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/").removeprefix("**/")
        if fnmatch.fnmatchcase(name, pattern):
            ignored = not keep
    return ignored


async def test_procfile_runs_gunicorn(lab: LabContext):
    await deployment.procfile_runs_gunicorn(lab)
