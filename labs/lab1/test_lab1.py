"""Lab 1 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab1`. Every check starts your app on a server of its own. The keys below are
fake: your app never calls the API, and ANTHROPIC_BASE_URL points any call it makes at a closed
local port, so nothing leaves this machine. The grader's `anthropic` probe records each
AsyncAnthropic client your app creates (with a fingerprint of its key) and each one it closes.
"""

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from grader import (
    AppDidNotStart,
    CheckFailure,
    LabContext,
    expect_json_field,
    expect_status,
    fail,
    scaled,
)
from grader.apptrace import crash_location
from grader.fakes.upstream import NOWHERE
from grader.launch import fingerprint
from grader.server import LabServer

ENV_KEY = "sk-ant-grader-from-the-environment"
DOTENV_KEY = "sk-ant-grader-from-dotenv"
FROM_ENV, FROM_DOTENV = "the environment's key", "the .env key"
KEYS = {fingerprint(ENV_KEY): FROM_ENV, fingerprint(DOTENV_KEY): FROM_DOTENV}
SLOW = scaled(2.0)
"""SLOW_SECONDS: how long GET /slow takes."""
SETTINGS = {
    "ANTHROPIC_API_KEY": ENV_KEY,
    "ANTHROPIC_BASE_URL": NOWHERE,
    "SLOW_SECONDS": str(SLOW),
}
NO_KEY = {**SETTINGS, "ANTHROPIC_API_KEY": None}
DOTENV = {".env": f"ANTHROPIC_API_KEY={DOTENV_KEY}\n"}
NO_DOTENV = {".env": None}
"""Your own labs/lab1/.env, if any, stays out of the checks (the copy graded loses it)."""
ROUTES = ["/chat/client-id", "/rag/client-id", "/admin/client-id"]
SHUTDOWN_GRACE = SLOW + 5.0
WAITED = 0.95
"""GET /slow answers after 0.95·SLOW_SECONDS at the soonest, however busy the machine."""
UVICORN_OWN = re.compile(r"^INFO:\s+Application (startup|shutdown) complete\.$")
STARTUP_BEGINS = re.compile(r"^INFO:\s+Waiting for application startup\.$")
"""What uvicorn prints just before it runs the lifespan: anything printed earlier ran at import."""
A_CONNECTION_EACH = httpx.Limits(max_keepalive_connections=0)
"""After an error it did not handle, uvicorn closes the connection: a request sent next on the
same one would fail for that reason, not for its own."""

NOTHING_AT_STARTUP = """Your app did nothing at startup: it created no client and printed no
"startup complete" line before it served. In this lab the lifespan reads the settings, creates the
client and says so (task 2), and it runs only when it is passed to the app:
`FastAPI(..., lifespan=lifespan)`."""
CREATED_ON_FIRST_USE = """A client built on first use (an @lru_cache'd dependency, or one put on
app.state when missing) is shared, but only from the first request on: that request pays for it,
a bad key shows only then, and shutdown may never hear of it. Create it in the lifespan, before
its yield."""
ONE_PER_REQUEST = """Each request built a client of its own, with a connection pool of its own:
get_llm_client must hand out the one client the lifespan created (`request.app.state.llm`), never
build one."""
NO_ENV_FILE = """Your app reads no .env, from any folder: pydantic-settings reads one only when
`model_config` names it (`env_file=...`), and only where that path points. The lab's .env is next
to app/, so from app/config.py: `Path(__file__).resolve().parent.parent / ".env"`."""
NOT_A_SETTINGS_ERROR = """Your app stopped, but Settings did not stop it: with a required field
(no default, not even None), creating Settings() raises a ValidationError that names the missing
setting before anything uses it. Declare `anthropic_api_key: SecretStr`, and create the settings
at startup."""


@dataclass(frozen=True)
class Startup:
    """What the app did before it served its first request."""

    clients: int
    """AsyncAnthropic clients created."""
    lines: list[str]
    """Its own lines saying "startup complete"."""

    @property
    def silent(self) -> bool:
        return not self.clients and not self.lines


def own_lines(output: list[str], event: str) -> list[str]:
    """The app's own lines containing "<event> complete": uvicorn's lines don't count."""
    return [
        line
        for line in output
        if f"{event} complete" in line.lower() and not UVICORN_OWN.match(line)
    ]


def clients(server: LabServer, event: str = "created") -> list[dict]:
    return [record for record in server.probed("anthropic") if record["event"] == event]


def keys_used(server: LabServer) -> set[str]:
    """Which keys the app's clients were created with (how many clients is another check's job)."""
    return {
        KEYS.get(record["key"], "another key") if record["key"] else "no key"
        for record in clients(server)
    }


def created_with(keys: set[str]) -> str:
    if not keys:
        return "no AsyncAnthropic client created, at startup or for the request"
    return f"a client created with {' and '.join(sorted(keys))}"


@asynccontextmanager
async def serving(
    lab: LabContext,
    env: Mapping[str, str | None],
    *,
    files: Mapping[str, str | None] = NO_DOTENV,
    cwd_elsewhere: bool = False,
) -> AsyncIterator[tuple[LabServer, Startup]]:
    """A server of the app, its clients probed, and what it did at startup. A failure in the
    block, from an app that did nothing at startup, is put down to a lifespan that never ran."""
    async with lab.server(
        env, files=files, probes=["anthropic"], cwd_elsewhere=cwd_elsewhere
    ) as server:
        startup = Startup(len(clients(server)), own_lines(server.output.lines, "startup"))
        try:
            yield server, startup
        except CheckFailure as failure:
            if startup.silent and failure.hint is None:
                failure.hint = NOTHING_AT_STARTUP
            raise


async def test_one_client_shared_by_every_router(lab: LabContext):
    sent = f"GET {', '.join(ROUTES)}, twice each, then all of them 3 times at once"
    async with (
        serving(lab, SETTINGS) as (server, startup),
        server.client(limits=A_CONNECTION_EACH) as client,
    ):
        responses = []
        for route in ROUTES * 2:
            responses.append(response := await client.get(route))
            expect_status(response, 200)
        responses += await asyncio.gather(*(client.get(route) for route in ROUTES * 3))
        for response in responses:
            expect_status(response, 200)
        ids = {str(expect_json_field(response, "client_id")) for response in responses}
        created = len(clients(server))
        if len(ids) != 1 or created > 1:
            raise fail(
                sent,
                f"{len(ids)} different client id(s) from {len(responses)} requests, and {created} "
                "AsyncAnthropic clients created"
                + (
                    " (CPython reuses the memory of a freed object, so a new client can get the "
                    "id of the last one)"
                    if len(ids) == 1
                    else ""
                ),
                "one client, created once at startup and handed to every request",
                response=responses[0],
                hint=ONE_PER_REQUEST if created >= len(responses) else None,
            )
        if not created:
            raise fail(
                sent,
                "one client id, but no AsyncAnthropic client created at all",
                "the AsyncAnthropic client created at startup, handed to every request",
                response=responses[0],
            )
        if not startup.clients:
            raise fail(
                sent,
                "one client, shared, but created while the first request was answered: none "
                "existed when the server started serving",
                "the client created at startup, before the first request",
                response=responses[0],
                hint=CREATED_ON_FIRST_USE,
            )


@dataclass(frozen=True)
class DotenvRun:
    """The app started with its key in .env only: what its clients were created with."""

    keys: set[str]
    got: str
    """What the learner reads about it."""
    silent: bool = False
    response: httpx.Response | None = None


async def start_with_dotenv(lab: LabContext, *, cwd_elsewhere: bool) -> DotenvRun:
    try:
        async with (
            serving(lab, NO_KEY, files=DOTENV, cwd_elsewhere=cwd_elsewhere) as (server, startup),
            server.client() as client,
        ):
            response = await client.get("/admin/client-id")  # a client made on first use counts
            keys = keys_used(server)
            return DotenvRun(keys, created_with(keys), startup.silent, response)
    except AppDidNotStart as stopped:
        return DotenvRun(set(), f"no client: the app did not start.\n{stopped}")


async def test_env_file_is_found_from_any_directory(lab: LabContext):
    sent = (
        "GET /admin/client-id, the app started from another folder with ANTHROPIC_API_KEY only "
        "in the lab's .env"
    )
    expected = created_with({FROM_DOTENV})
    elsewhere = await start_with_dotenv(lab, cwd_elsewhere=True)
    if elsewhere.keys == {FROM_DOTENV}:
        return
    if elsewhere.response is not None and not elsewhere.keys:
        raise fail(
            sent,
            elsewhere.got,
            f"{expected}, at startup",
            response=elsewhere.response,
            hint=NOTHING_AT_STARTUP if elsewhere.silent else None,
        )
    at_home = await start_with_dotenv(lab, cwd_elsewhere=False)
    if at_home.keys == {FROM_DOTENV}:
        raise fail(
            sent,
            f"{elsewhere.got}\nStarted from the lab folder, the same app found the key in .env.",
            f"{expected} from any folder: a path built from config.py's own location, not one "
            "relative to the working directory",
            response=elsewhere.response,
        )
    raise fail(
        sent,
        f"{elsewhere.got}\nStarted from the lab folder, the same: {at_home.got.splitlines()[0]}",
        f"{expected}: Settings reads the .env next to app/",
        response=elsewhere.response,
        hint=NO_ENV_FILE,
    )


async def test_environment_overrides_env_file(lab: LabContext):
    async with (
        serving(lab, SETTINGS, files=DOTENV) as (server, _),
        server.client() as client,
    ):
        response = await client.get("/admin/client-id")  # a client made on first use counts
        keys = keys_used(server)
        if keys != {FROM_ENV}:
            raise fail(
                "GET /admin/client-id, with one ANTHROPIC_API_KEY in the environment, another "
                "in .env",
                created_with(keys),
                "a client with the environment's key: environment variables override .env",
                response=response,
            )


async def test_missing_key_stops_startup(lab: LabContext):
    sent = "nothing: the app was started with no ANTHROPIC_API_KEY, in the environment or .env"
    try:
        async with serving(lab, NO_KEY) as (server, startup), server.client() as client:
            response = await client.get("/admin/health")
            raise fail(
                sent,
                f"the app started and answered GET /admin/health with {response.status_code}"
                + (", after creating a client without a key" if startup.clients else ""),
                "the app to refuse to start: a required setting has no default",
                response=response,
            )
    except AppDidNotStart as stopped:
        exception, _ = crash_location(stopped.output, lab.shown_as)
        if stopped.exit_code is None:
            raise fail(sent, str(stopped), "the app to exit at once") from None
        if "ValidationError" not in exception or "anthropic_api_key" not in exception.lower():
            raise fail(
                sent,
                str(stopped),
                "the app to exit with pydantic's ValidationError naming anthropic_api_key",
                hint=NOT_A_SETTINGS_ERROR,
            ) from None


async def test_graceful_shutdown_finishes_the_request(lab: LabContext):
    sent = f"GET /slow (SLOW_SECONDS={SLOW:g}), then SIGTERM to the server while it runs"
    async with serving(lab, SETTINGS) as (server, _), server.client() as client:
        slow = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(SLOW / 4)
        # Answered on another connection, once the server has read GET /slow: in flight now, even
        # on a machine too busy to have read it SLOW / 4 after it was sent.
        await client.get("/admin/health")
        signalled = len(server.output.lines)
        status = await server.terminate(grace=SHUTDOWN_GRACE)
        try:
            response = await slow
        except httpx.TransportError as error:
            raise fail(
                sent, f"the connection was cut ({error!r})", "a 200 before it stops"
            ) from None
        expect_status(response, 200)
        took = response.elapsed.total_seconds()
        if took < WAITED * SLOW:
            raise fail(
                sent,
                f"200 after {took:.2f} s",
                f"GET /slow to take SLOW_SECONDS={SLOW:g} (await asyncio.sleep with the setting), "
                "so that it is still running when the signal comes",
                response=response,
            )
        if status is None:
            raise fail(sent, f"still running {SHUTDOWN_GRACE:g} s later", "the process to end")
        after = server.output.lines[signalled:]
        exception, frame = crash_location(after, server.shown_as)
        if exception:
            where = f"\nat {frame.describe(server.source, server.shown_as)}" if frame else ""
            raise fail(sent, f"an error while stopping:\n  {exception}{where}", "a clean shutdown")
        if not own_lines(after, "shutdown"):
            raise fail(
                sent,
                "the request finished and the process ended, with no line of your own containing "
                '"shutdown complete" (uvicorn\'s "Application shutdown complete." does not count)',
                "the lifespan to print its own shutdown line after the last request",
            )


async def test_shutdown_closes_the_client(lab: LabContext):
    sent = "GET /admin/client-id, then SIGTERM to the server"
    async with serving(lab, SETTINGS) as (server, _), server.client() as client:
        await client.get("/admin/client-id")  # a client made on first use is there to close too
        await server.terminate(grace=SHUTDOWN_GRACE)
        created, closed = len(clients(server)), len(clients(server, "closed"))
        if not created:
            raise fail(
                sent,
                "the process ended; no AsyncAnthropic client was ever created",
                "the client created at startup, and closed at shutdown",
            )
        if not closed:
            raise fail(
                sent,
                f"the process ended: {created} client(s) created, none closed",
                "the lifespan to close the client after the yield: await client.close()",
            )


async def test_startup_line_printed_once_before_serving(lab: LabContext):
    sent = f"GET {', '.join(ROUTES)} and /admin/health, once the server had started"
    expected = (
        'one line of your own containing "startup complete", printed by the lifespan before its '
        'yield (uvicorn\'s "Application startup complete." does not count)'
    )
    async with (
        serving(lab, SETTINGS) as (server, startup),
        server.client(limits=A_CONNECTION_EACH) as client,
    ):
        printed = list(server.output.lines)
        for route in [*ROUTES, "/admin/health"]:
            await client.get(route)  # what they answer is the other checks' business
        after = own_lines(server.output.lines, "startup")
        began = next((i for i, line in enumerate(printed) if STARTUP_BEGINS.match(line)), 0)
        if at_import := own_lines(printed[:began], "startup"):
            raise fail(
                sent,
                f"{at_import[0]!r}, printed at import, before uvicorn ran the lifespan",
                f"{expected}: a line printed at import appears even when startup then fails",
            )
        if len(startup.lines) != 1 or len(after) != 1:
            raise fail(
                sent,
                f'{len(startup.lines)} line(s) of your own with "startup complete" before the '
                f"first request, {len(after)} after the requests",
                expected,
            )
