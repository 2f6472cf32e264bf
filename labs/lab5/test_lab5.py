"""Lab 5 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab5`. Every check starts your app on a server of its own, with its own
ADMIN_API_KEY and JWT_SECRET, and a DATABASE_PATH in a folder the grader reads afterwards: the
database file is searched, byte by byte and cell by cell, for secrets that must never be stored.
Tokens the grader forges (expired, unsigned, wrongly signed) are made with PyJWT and the
JWT_SECRET it gave your app.
"""

import base64
import contextlib
import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from grader import (
    AppDidNotStart,
    LabContext,
    Service,
    expect_error,
    expect_json_field,
    expect_status,
    fail,
)
from grader.checks import api_keys
from grader.checks.api_keys import KeyedApi, Route
from grader.expect import answer, sent
from grader.server import LabServer

ADMIN_KEY = "grader-admin-" + uuid.uuid4().hex
JWT_SECRET = "grader-jwt-secret-" + uuid.uuid4().hex  # 50 characters
TOKEN_SECONDS = 120
"""The grader's own TOKEN_SECONDS, not the default: tokens must last exactly this long."""
QUIET_LIMIT = 100
"""RATE_LIMIT_PER_MINUTE elsewhere: more than a check ever sends."""
PASSWORD = "grader-Password-" + uuid.uuid4().hex[:12]
API = KeyedApi(
    ADMIN_KEY,
    reader=Route("GET", "/items", "items:read"),
    writer=Route("POST", "/items", "items:write", {"name": "lamp"}, status=201),
    key_prefix="lab5_",
)
"""Lab 5's routes, as the checks it shares with the capstone see them (grader/checks/)."""
ADMIN = API.admin


def settings(database: Path, **changed: str) -> dict[str, str]:
    return {
        "ADMIN_API_KEY": ADMIN_KEY,
        "JWT_SECRET": JWT_SECRET,
        "TOKEN_SECONDS": str(TOKEN_SECONDS),
        "RATE_LIMIT_PER_MINUTE": str(QUIET_LIMIT),
        "DATABASE_PATH": str(database),
        **changed,
    }


LAB5 = Service(settings=lambda folder: settings(folder / "lab5.db"))
"""How the shared checks start the app: with the settings above, its database in a folder."""


@contextlib.asynccontextmanager
async def app_with_database(
    lab: LabContext, **changed: str
) -> AsyncIterator[tuple[LabServer, httpx.AsyncClient, Path]]:
    """A server of the app, a client for it, and the database file it keeps (DATABASE_PATH), in
    a folder of the grader's, gone when the block ends."""
    with lab.folder() as folder:
        database = folder / "lab5.db"
        async with lab.server(settings(database, **changed)) as server, server.client() as client:
            yield server, client, database


async def register(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> None:
    response = await client.post(
        "/auth/register", json={"username": username, "password": password}
    )
    expect_status(response, 201)


async def log_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD):
    return await client.post("/auth/token", data={"username": username, "password": password})


async def token_for(client: httpx.AsyncClient, username: str) -> str:
    """Register `username` and log in: the access token."""
    await register(client, username)
    response = await log_in(client, username)
    expect_status(response, 200)
    return str(expect_json_field(response, "access_token"))


def where_stored(database: Path, secret: str) -> list[str]:
    """Where `secret` appears in the database: its file's bytes, or a cell of a table. Every
    request has committed: what it stored is in the file."""
    if not database.exists():
        raise fail(
            "requests that store data, then a look at DATABASE_PATH",
            f"no file at {database}",
            "the app's SQLite database at DATABASE_PATH",
        )
    found = []
    if secret.encode() in database.read_bytes():
        found.append(f"the bytes of {database.name}")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [column[0] for column in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if secret in str(value):
                        found.append(f"table {table}, column {column}")
    return sorted(set(found))


def fast_hashes(password: str) -> list[tuple[str, str]]:
    """The password's fast, unsalted hashes, as hex: what the lesson warns against."""
    return [
        (f"the password's {name}", hashlib.new(name, password.encode()).hexdigest())
        for name in ("md5", "sha1", "sha256", "sha512")
    ]


def claims(username: str, **changed: object) -> dict:
    now = int(time.time())
    return {"sub": username, "iat": now, "exp": now + TOKEN_SECONDS, **changed}


def forged(payload: dict, *, secret: str = JWT_SECRET) -> str:
    """A token signed with HS256 and `secret`: JWT_SECRET unless another is given."""
    return jwt.encode(payload, secret, algorithm="HS256")


def unsigned(payload: dict) -> str:
    """A token that says `alg: none`, and has no signature: anyone can write one."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def expect_refused(client: httpx.AsyncClient, what: str, headers: dict) -> None:
    """GET /me with `headers` must be a 401 (the header it carries is another check's)."""
    response = await client.get("/me", headers=headers)
    if response.status_code != 401:
        raise fail(
            f"GET /me with {what}",
            answer(response),
            "401 Unauthorized: a token is trusted only if its signature, made with JWT_SECRET and "
            "HS256, checks out, and it has not expired",
            response=response,
        )


# --- Task 4: WebSockets ---


@dataclass(frozen=True)
class Handshake:
    """What a WebSocket client got: the HTTP status that refused its handshake, or, accepted
    (101), the first message as JSON, or the close code that came instead."""

    status: int
    message: object = None
    close_code: int | None = None

    def __str__(self) -> str:
        if self.status != 101:
            return f"HTTP {self.status} instead of the handshake"
        got = (
            f"the message {json.dumps(self.message)}"
            if self.message is not None
            else (f"no message, then a close with code {self.close_code}")
        )
        return f"101 Switching Protocols: the handshake accepted, and {got}"


async def handshake(url: str) -> Handshake:
    try:
        async with connect(url, open_timeout=10) as websocket:
            try:
                return Handshake(101, message=json.loads(await websocket.recv(decode=True)))
            except ConnectionClosed as closed:
                return Handshake(101, close_code=closed.rcvd and closed.rcvd.code)
    except InvalidStatus as refused:
        return Handshake(refused.response.status_code)


async def test_websocket_refuses_before_accepting(lab: LabContext):
    async with app_with_database(lab) as (server, client, _):
        token = await token_for(client, "ws-grace")
        url = server.url.replace("http://", "ws://") + "/ws"
        for what, query in [("no token", ""), ("a token that is no JWT at all", "not-a-jwt")]:
            got = await handshake(f"{url}?token={query}" if query else url)
            if got.status not in (401, 403):
                raise fail(
                    f"a WebSocket handshake to /ws with {what}",
                    str(got),
                    "the handshake refused (HTTP 403, or 401) before accept(): an unauthenticated "
                    "client must never hold an open WebSocket",
                )
        got = await handshake(f"{url}?token={token}")
        if got.message != {"hello": "ws-grace"}:
            raise fail(
                "a WebSocket handshake to /ws?token=<a valid token for ws-grace>",
                str(got),
                'the message {"hello": "ws-grace"}',
            )


# --- Task 1: API keys ---


async def test_api_keys_are_stored_as_hashes(lab: LabContext):
    async with app_with_database(lab) as (_, client, database):
        created = await API.new_key(client, "items:read")
        response = await client.get("/items", headers={"X-API-Key": created["api_key"]})
        expect_status(response, 200)
        stored = where_stored(database, created["api_key"])
    if stored:
        raise fail(
            "POST /admin/api-keys, then a look at every byte and table of DATABASE_PATH",
            f"the raw API key in {', '.join(stored)}",
            "only a hash of the key: whoever reads the database (a backup, a leaked dump) must "
            "not hold keys that work",
        )


async def test_raw_keys_are_shown_once(lab: LabContext):
    async with app_with_database(lab) as (_, client, _):
        created = await API.new_key(client, "items:read")
        listing = await client.get("/admin/api-keys", headers=ADMIN)
        expect_status(listing, 200)
    raw_key = created["api_key"]
    hashed = hashlib.sha256(raw_key.encode()).hexdigest()
    for secret, what in [(raw_key, "the raw key"), (hashed, "the key's SHA-256")]:
        if secret in listing.text:
            raise fail(
                "GET /admin/api-keys, after creating a key",
                f"{answer(listing)}: {what} is in it",
                "the keys listed with neither the raw key nor its hash: the raw key is shown "
                "once, when it is created",
                response=listing,
            )
    if created["key_id"] not in listing.text:
        raise fail(
            "GET /admin/api-keys, after creating a key",
            answer(listing),
            f"the key listed, with its key_id {created['key_id']}",
            response=listing,
        )


async def test_revoked_keys_get_401(lab: LabContext):
    async with app_with_database(lab) as (_, client, _):
        created = await API.new_key(client, "items:read")
        key = {"X-API-Key": created["api_key"]}
        expect_status(await client.get("/items", headers=key), 200)
        revoked = await client.delete(f"/admin/api-keys/{created['key_id']}", headers=ADMIN)
        expect_status(revoked, 204)
        after = await client.get("/items", headers=key)
        if after.status_code != 401:
            raise fail(
                f"DELETE /admin/api-keys/{created['key_id']}, then GET /items with that key",
                answer(after),
                "401 Unauthorized: a revoked key authenticates nobody",
                response=after,
            )


# --- Task 2: scopes, 401 and 403, and the limit ---


async def test_no_valid_key_is_401(lab: LabContext):
    await api_keys.no_valid_key_is_401(lab.serving(LAB5), API)


async def test_a_key_without_the_right_gets_403(lab: LabContext):
    await api_keys.a_key_without_the_right_gets_403(lab.serving(LAB5), API)


async def test_rate_limit_follows_the_key(lab: LabContext):
    await api_keys.rate_limit_follows_the_key(lab.serving(LAB5), API)


# --- Task 3: passwords and tokens ---


async def test_passwords_are_stored_as_hashes(lab: LabContext):
    async with app_with_database(lab) as (_, client, database):
        await register(client, "ada")
        expect_status(await log_in(client, "ada"), 200)
        for what, secret in [("the password", PASSWORD), *fast_hashes(PASSWORD)]:
            if stored := where_stored(database, secret):
                raise fail(
                    "POST /auth/register, then a look at every byte and table of DATABASE_PATH",
                    f"{what} in {', '.join(stored)}",
                    "only a slow, salted hash of it (argon2): a stolen table of passwords, or of "
                    "fast hashes, which a graphics card tries by the billion a second, hands out "
                    "passwords that people use elsewhere too",
                )


async def test_tokens_are_issued_and_accepted(lab: LabContext):
    async with app_with_database(lab) as (_, client, _):
        await register(client, "grace")
        wrong = await log_in(client, "grace", "not-" + PASSWORD)
        if wrong.status_code != 401:
            raise fail(
                "POST /auth/token with a wrong password",
                answer(wrong),
                "401 Unauthorized",
                response=wrong,
            )
        issued = await log_in(client, "grace")
        expect_status(issued, 200)
        body = issued.json()
        token = str(expect_json_field(issued, "access_token"))
        if (
            body.get("token_type", "").lower() != "bearer"
            or body.get("expires_in") != TOKEN_SECONDS
        ):
            raise fail(
                "POST /auth/token (form: username, password)",
                answer(issued),
                f'"token_type": "bearer" and "expires_in": {TOKEN_SECONDS} (TOKEN_SECONDS)',
                response=issued,
            )
        try:
            header = jwt.get_unverified_header(token)
            decoded = jwt.decode(
                token, JWT_SECRET, algorithms=["HS256"], options={"require": ["exp", "iat", "sub"]}
            )
        except jwt.InvalidTokenError as error:
            raise fail(
                "POST /auth/token",
                f"a token that PyJWT cannot verify with JWT_SECRET and HS256: {error}",
                "a JWT signed with JWT_SECRET (HS256), with sub, iat and exp",
            ) from None
        if (
            header.get("alg") != "HS256"
            or decoded["sub"] != "grace"
            or (decoded["exp"] - decoded["iat"] != TOKEN_SECONDS)
        ):
            raise fail(
                "POST /auth/token",
                f"a token with header {json.dumps(header)} and claims {json.dumps(decoded)}",
                f'alg HS256, "sub": "grace", and exp − iat = TOKEN_SECONDS = {TOKEN_SECONDS}',
            )
        me = await client.get("/me", headers=bearer(token))
        expect_status(me, 200)
        if me.json() != {"username": "grace"}:
            raise fail(
                "GET /me with grace's token", answer(me), '{"username": "grace"}', response=me
            )


async def test_forged_tokens_get_401(lab: LabContext):
    async with app_with_database(lab) as (_, client, _):
        await register(client, "mallory")
        for what, token in [
            ("a token signed with another secret", forged(claims("mallory"), secret="y" * 40)),
            ("an unsigned token (alg: none)", unsigned(claims("mallory"))),
            ("a token that is no JWT at all", "not-a-jwt"),
        ]:
            await expect_refused(client, what, bearer(token))


async def test_expired_tokens_get_401(lab: LabContext):
    async with app_with_database(lab) as (_, client, _):
        await register(client, "rip")
        an_hour_ago = int(time.time()) - 3600
        for what, token in [
            (
                "a token that expired a minute ago (signed with JWT_SECRET)",
                forged(claims("rip", iat=an_hour_ago, exp=int(time.time()) - 60)),
            ),
            (
                "a token with no exp at all (signed with JWT_SECRET)",
                forged({"sub": "rip", "iat": an_hour_ago}),
            ),
        ]:
            await expect_refused(client, what, bearer(token))


async def test_401_asks_for_a_bearer_token(lab: LabContext):
    async with app_with_database(lab) as (_, client, _):
        await register(client, "kay")
        for response in [
            await client.get("/me"),
            await client.get("/me", headers=bearer("not-a-jwt")),
            await log_in(client, "kay", "not-" + PASSWORD),
        ]:
            expect_error(response, 401, "NOT_AUTHENTICATED")
            challenge = response.headers.get("WWW-Authenticate", "")
            if not challenge.lower().startswith("bearer"):
                raise fail(
                    sent(response.request),
                    f"401, with WWW-Authenticate: {challenge or '(none)'}",
                    "WWW-Authenticate: Bearer: a 401 tells the client how to authenticate",
                    response=response,
                )


# --- Task 5: the signing secret ---


async def test_short_jwt_secret_stops_startup(lab: LabContext):
    short = "eight-ch"
    what = f"nothing: the app was started with JWT_SECRET={short!r} (8 characters)"
    with lab.folder() as folder:
        database = folder / "lab5.db"
        try:
            async with lab.server(settings(database, JWT_SECRET=short)) as server:
                async with server.client() as client:
                    response = await client.get("/me")
        except AppDidNotStart as stopped:
            printed = "\n".join(stopped.output).lower()
            if stopped.exit_code is None or "jwt_secret" not in printed:
                raise fail(
                    what,
                    str(stopped),
                    "the app to exit at once with an error naming jwt_secret",
                ) from None
            return
    raise fail(
        what,
        f"the app started, and answered GET /me with {response.status_code}",
        "the app to refuse to start: a secret that short can be guessed from any token it signs",
    )
