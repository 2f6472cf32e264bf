"""Lab 1 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab1`. Every check starts your app on a server of its own. The keys below are
fake: your app never calls the API, and ANTHROPIC_BASE_URL points any call it makes at a closed
local port, so nothing leaves this machine.
"""

import asyncio
import re

import httpx

from grader import AppDidNotStart, LabContext, expect_json_field, expect_status, fail, scaled
from grader.launch import fingerprint

ENV_KEY = "sk-ant-grader-from-the-environment"
DOTENV_KEY = "sk-ant-grader-from-dotenv"
KEYS = {fingerprint(ENV_KEY): "the environment's key", fingerprint(DOTENV_KEY): "the .env key"}
SLOW = scaled(2.0)
"""SLOW_SECONDS: how long GET /slow takes."""
SETTINGS = {
    "ANTHROPIC_API_KEY": ENV_KEY,
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    "SLOW_SECONDS": str(SLOW),
}
NO_KEY = {**SETTINGS, "ANTHROPIC_API_KEY": None}
DOTENV = {".env": f"ANTHROPIC_API_KEY={DOTENV_KEY}\n"}
NO_DOTENV = {".env": None}
"""Your own labs/lab1/.env, if any, stays out of the checks (the copy graded loses it)."""
ROUTES = ["/chat/client-id", "/rag/client-id", "/admin/client-id"]
SHUTDOWN_GRACE = SLOW + 5.0
UVICORN_OWN = re.compile(r"^INFO:\s+Application (startup|shutdown) complete\.$")


def own_lines(output: list[str], event: str) -> list[str]:
    """The app's own lines containing "<event> complete": uvicorn's lines don't count."""
    return [
        line
        for line in output
        if f"{event} complete" in line.lower() and not UVICORN_OWN.match(line)
    ]


def keys_used(server) -> str:
    """Which keys the app's clients were created with (how many clients is another check's job)."""
    created = {
        record["key"] for record in server.probed("anthropic") if record["event"] == "created"
    }
    return " and ".join(
        sorted(KEYS.get(key, "another key") if key else "no key" for key in created)
    )


async def test_one_client_shared_by_every_router(lab: LabContext):
    sent = f"GET {', '.join(ROUTES)}, twice each, then all of them 3 times at once"
    async with (
        lab.server(SETTINGS, files=NO_DOTENV, probes=["anthropic"]) as server,
        server.client() as client,
    ):
        responses = [await client.get(route) for route in ROUTES * 2]
        responses += await asyncio.gather(*(client.get(route) for route in ROUTES * 3))
        for response in responses:
            expect_status(response, 200)
        ids = {expect_json_field(response, "client_id") for response in responses}
        created = sum(record["event"] == "created" for record in server.probed("anthropic"))
    if len(ids) != 1:
        raise fail(sent, f"{len(ids)} different client ids", "one id: every router gets one client")
    if created != 1:
        raise fail(
            sent,
            f"one id, but {created} AsyncAnthropic clients were created (CPython reuses the memory "
            "of a freed object, so a new client can get the id of the last one)",
            "exactly one client, created at startup",
        )


async def test_env_file_is_found_from_any_directory(lab: LabContext):
    sent = (
        "GET /admin/health and /admin/client-id, the app started from another folder with "
        "ANTHROPIC_API_KEY only in the lab's .env"
    )
    try:
        async with (
            lab.server(NO_KEY, files=DOTENV, probes=["anthropic"], cwd_elsewhere=True) as server,
            server.client() as client,
        ):
            expect_status(await client.get("/admin/health"), 200)
            expect_status(await client.get("/admin/client-id"), 200)
            used = keys_used(server)
    except AppDidNotStart as stopped:
        raise fail(sent, str(stopped), "the app to start with the key from .env") from None
    if used != KEYS[fingerprint(DOTENV_KEY)]:
        raise fail(sent, f"a client created with {used or 'nothing'}", "a client with the .env key")


async def test_environment_overrides_env_file(lab: LabContext):
    async with (
        lab.server(SETTINGS, files=DOTENV, probes=["anthropic"]) as server,
        server.client() as client,
    ):
        expect_status(await client.get("/admin/client-id"), 200)
        used = keys_used(server)
    if used != KEYS[fingerprint(ENV_KEY)]:
        raise fail(
            "GET /admin/client-id, with one ANTHROPIC_API_KEY in the environment, another in .env",
            f"a client created with {used or 'nothing'}",
            "a client with the environment's key: environment variables override .env",
        )


async def test_missing_key_stops_startup(lab: LabContext):
    sent = "nothing: the app was started with no ANTHROPIC_API_KEY, in the environment or .env"
    try:
        async with lab.server(NO_KEY, files=NO_DOTENV) as server, server.client() as client:
            response = await client.get("/admin/health")
    except AppDidNotStart as stopped:
        printed = "\n".join(stopped.output)
        if stopped.exit_code is None or "anthropic_api_key" not in printed.lower():
            raise fail(
                sent,
                str(stopped),
                "the app to exit at once with a ValidationError naming anthropic_api_key",
            ) from None
    else:
        raise fail(
            sent,
            f"the app started and answered GET /admin/health with {response.status_code}",
            "the app to refuse to start: a required setting has no default",
        )


async def test_graceful_shutdown_finishes_the_request(lab: LabContext):
    sent = f"GET /slow (takes {SLOW:g} s), then SIGTERM to the server while it runs"
    async with lab.server(SETTINGS, files=NO_DOTENV) as server, server.client() as client:
        slow = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(SLOW / 4)  # the request is in flight
        signalled = len(server.output.lines)
        status = await server.terminate(grace=SHUTDOWN_GRACE)
        try:
            response = await slow
        except httpx.TransportError as error:
            raise fail(
                sent, f"the connection was cut ({error!r})", "a 200 before it stops"
            ) from None
        after = server.output.lines[signalled:]
    expect_status(response, 200)
    if status is None:
        raise fail(sent, f"still running {SHUTDOWN_GRACE:g} s later", "the process to end")
    if any("Traceback" in line for line in after):
        raise fail(sent, "an error while stopping:\n" + "\n".join(after), "a clean shutdown")
    if not own_lines(after, "shutdown"):
        raise fail(
            sent,
            "the request finished and the process ended, with no line of your own containing "
            '"shutdown complete" (uvicorn\'s "Application shutdown complete." does not count)',
            "the lifespan to print its own shutdown line after the last request",
        )


async def test_shutdown_closes_the_client(lab: LabContext):
    async with lab.server(SETTINGS, files=NO_DOTENV, probes=["anthropic"]) as server:
        await server.terminate(grace=SHUTDOWN_GRACE)
        events = [record["event"] for record in server.probed("anthropic")]
    if "closed" not in events:
        raise fail(
            "SIGTERM to the server",
            f"the process ended: {events.count('created')} client(s) created, none closed",
            "the lifespan to close the client after the yield: await client.close()",
        )


async def test_startup_line_printed_once_before_serving(lab: LabContext):
    async with lab.server(SETTINGS, files=NO_DOTENV) as server, server.client() as client:
        before = own_lines(server.output.lines, "startup")
        for route in ROUTES:
            await client.get(route)
        after = own_lines(server.output.lines, "startup")
    if len(before) != 1 or len(after) != 1:
        raise fail(
            f"GET {', '.join(ROUTES)}, once the server had started",
            f'{len(before)} line(s) of your own with "startup complete" before the first '
            f"request, {len(after)} after the requests",
            'one line of your own containing "startup complete", printed by the lifespan before '
            'serving (uvicorn\'s "Application startup complete." does not count)',
        )
