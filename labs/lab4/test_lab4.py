"""Lab 4 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab4`. Every check starts your app on a server of its own, with its own
MAX_ORDER_QUANTITY, UPSTREAM_TIMEOUT_SECONDS and AVATAR_SERVICE_URL. The avatar service is a real
HTTP server the grader runs on 127.0.0.1, answering as each check tells it to.
"""

import asyncio
import itertools
import json
import time

import httpx

from grader import (
    LabContext,
    expect_error,
    expect_json_field,
    expect_status,
    fail,
    patience,
    scaled,
)
from grader.expect import answer, sent
from grader.fakes.upstream import NOWHERE, Reply, upstream

MAX_QUANTITY = 5
"""MAX_ORDER_QUANTITY: the grader's own, not the default."""
TIMEOUT = scaled(1.0)
"""UPSTREAM_TIMEOUT_SECONDS."""
PATIENCE = patience(TIMEOUT)
"""How long the grader waits for an answer when the avatar service hangs: 3·T, and never less than
T + 2 real seconds (see grader.scale.patience)."""
HANG = 2 * PATIENCE
"""How long the hanging avatar service stays silent: longer than the grader's patience."""
PASSWORD = "grader-Secret-Passw0rd"
PUBLIC_KEYS = {"id", "email", "display_name", "created_at"}
SAME_IN_PROFILE = ("id", "email", "display_name")
"""What the profile repeats of the user, compared as values (created_at may be spelt otherwise)."""
LOG_WAIT = 2.0
"""Seconds a traceback may take to appear in the server's log after its 500."""
GOOD_AVATAR = {"avatar_url": "https://avatars.example/grader.png", "size": 128}
JSON = {"Content-Type": "application/json"}
_emails = itertools.count(1)


def settings(avatar_service: str = NOWHERE) -> dict[str, str]:
    return {
        "MAX_ORDER_QUANTITY": str(MAX_QUANTITY),
        "AVATAR_SERVICE_URL": avatar_service,
        "UPSTREAM_TIMEOUT_SECONDS": str(TIMEOUT),
    }


def new_user(**fields: object) -> dict[str, object]:
    """A valid POST /users body, with `fields` changed."""
    user = {
        "email": f"grader.{next(_emails)}@example.com",
        "display_name": "Ada Lovelace",
        "age": 36,
        "password": PASSWORD,
    }
    return {**user, **fields}


async def register(client: httpx.AsyncClient, **fields: object) -> dict:
    """Register a valid user: the answer's JSON, once it is a 201 with an id."""
    response = await client.post("/users", json=new_user(**fields))
    expect_status(response, 201)
    expect_json_field(response, "id")
    return response.json()


async def expect_rejected(client: httpx.AsyncClient, body: dict, why: str) -> None:
    """POST /users with `body` must be refused with 422: the body's shape is another check's."""
    response = await client.post("/users", json=body)
    if response.status_code != 422:
        raise fail(
            sent(response.request),
            answer(response),
            f"status 422 Unprocessable Entity: {why}",
            response=response,
        )


def sent_with(method: str, path: str, reply: Reply) -> str:
    body = reply.payload().decode()
    return f"{method} {path}, the avatar service answering {reply.status} {body}"


# --- Task 4: the avatar service ---


async def test_profile_gives_up_on_a_hanging_upstream(lab: LabContext):
    async with upstream() as avatars:
        async with lab.server(settings(avatars.url)) as server, server.client() as client:
            user_id = (await register(client))["id"]
            avatars.reply_with(Reply(200, GOOD_AVATAR, delay=HANG))
            path = f"/users/{user_id}/profile"
            start = time.perf_counter()
            try:
                response = await client.get(path, timeout=PATIENCE)
            except httpx.TimeoutException:
                raise fail(
                    f"GET {path}, the avatar service never answering",
                    f"no answer after {PATIENCE:.2f} s: your app is still waiting for it",
                    f"502 UPSTREAM_ERROR once UPSTREAM_TIMEOUT_SECONDS={TIMEOUT:g} have passed",
                ) from None
            took = time.perf_counter() - start
    expect_error(response, 502, "UPSTREAM_ERROR")
    lab.record_timing("hanging avatar service", took)


async def test_profile_validates_the_upstream(lab: LabContext):
    async with upstream() as avatars:
        async with lab.server(settings(avatars.url)) as server, server.client() as client:
            user = await register(client)
            path = f"/users/{user['id']}/profile"
            avatars.reply_with(Reply(200, GOOD_AVATAR))
            response = await client.get(path)
            expect_status(response, 200)
            profile = response.json()
            expected = {key: user.get(key) for key in SAME_IN_PROFILE}
            expected["avatar_url"] = GOOD_AVATAR["avatar_url"]
            keys = profile.keys() if isinstance(profile, dict) else set()
            if (
                keys != PUBLIC_KEYS | {"avatar_url"}
                or {k: profile[k] for k in expected} != expected
            ):
                raise fail(
                    sent_with("GET", path, Reply(200, GOOD_AVATAR)),
                    answer(response),
                    f"the user's public fields and the avatar_url: {json.dumps(expected)}, and "
                    "created_at",
                    response=response,
                )
            asked = [r.path for r in avatars.received]
            if f"/avatars/{user['id']}" not in asked:
                raise fail(
                    f"GET {path}",
                    f"200, but the avatar service was asked for {asked or 'nothing'}",
                    f"GET /avatars/{user['id']} of the avatar service",
                )
            for reply in [
                # Error statuses, with a body that has the right shape: the status alone says no.
                Reply(503, {"avatar_url": "https://avatars.example/overloaded.png"}),
                Reply(404, {"avatar_url": "https://avatars.example/default.png"}),
                Reply(200, {"url": "https://avatars.example/grader.png"}),
                Reply(200, {"avatar_url": ""}),
                Reply(200, {"avatar_url": 42}),
                Reply(200, "<html>Service Unavailable</html>", content_type="text/html"),
            ]:
                avatars.reply_with(reply)
                response = await client.get(path)
                if response.status_code != 502:
                    raise fail(
                        sent_with("GET", path, reply),
                        answer(response),
                        "502 UPSTREAM_ERROR: only a 2xx with a non-empty string avatar_url is an "
                        "answer your app can use",
                        response=response,
                    )
                expect_error(response, 502, "UPSTREAM_ERROR")


# --- Task 1: one error body ---


async def test_every_error_has_the_error_body(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        expect_error(await client.get("/no-such-route"), 404, "NOT_FOUND")
        expect_error(await client.delete("/users/1"), 405, "METHOD_NOT_ALLOWED")


async def test_validation_errors_name_each_field(lab: LabContext):
    # Fields that fail under any model: two missing, one that is no integer at all. The password
    # is valid, and must not come back: FastAPI's default 422 body echoes the input.
    body = {"age": "thirty-six", "password": PASSWORD}
    async with lab.server(settings()) as server, server.client() as client:
        for method, path, options, fields in [
            ("POST", "/users", {"json": body}, ["email", "display_name", "age"]),
            ("POST", "/users", {"content": b'{"email": ', "headers": JSON}, ["body"]),
            ("GET", "/users/abc", {}, ["user_id"]),
        ]:
            response = await client.request(method, path, **options)
            details = expect_error(response, 422, "VALIDATION_ERROR")["details"]
            expect_field_errors(response, details, fields)
            if PASSWORD in response.text:
                raise fail(
                    f"POST /users with {json.dumps(body)}",
                    answer(response),
                    "an error body that does not repeat the input: the password came back",
                    response=response,
                )


def expect_field_errors(response: httpx.Response, details: object, fields: list[str]) -> None:
    """`details` is one {"field", "message"} per failing field, exactly `fields`."""
    shape = isinstance(details, list) and all(
        isinstance(entry, dict)
        and entry.keys() == {"field", "message"}
        and isinstance(entry["message"], str)
        and entry["message"].strip()
        for entry in details
    )
    named = sorted(str(entry["field"]) for entry in details) if shape else None
    if named != sorted(fields):
        raise fail(
            f"{response.request.method} {response.request.url.path}",
            answer(response),
            'details listing each failing field once, as {"field": ..., "message": ...}: '
            + ", ".join(f'"{field}"' for field in fields),
            response=response,
        )


async def test_unexpected_errors_are_generic_and_logged(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        mark = len(server.output.lines)
        response = await client.get("/debug/crash")
        expect_error(response, 500, "INTERNAL_ERROR")
        leaked = [
            word
            for word in ("RuntimeError", "simulated crash", "Traceback")
            if word in response.text
        ]
        if leaked:
            raise fail(
                "GET /debug/crash",
                answer(response),
                f"a generic message: the body tells the client {', '.join(leaked)}",
                response=response,
            )
        deadline = time.monotonic() + LOG_WAIT
        while time.monotonic() < deadline:
            logged = "\n".join(server.output.lines[mark:])
            if "Traceback" in logged and "simulated crash from /debug/crash" in logged:
                return
            await asyncio.sleep(0.05)
    raise fail(
        "GET /debug/crash",
        "a generic 500, but no traceback of the RuntimeError in your app's log",
        "the traceback in the server's log: the only place the bug's details may go",
    )


# --- Task 2: models at the boundary ---


async def test_responses_never_carry_the_password(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        created = await client.post("/users", json=new_user())
        expect_status(created, 201)
        user_id = expect_json_field(created, "id")
        read = await client.get(f"/users/{user_id}")
        expect_status(read, 200)
        for response in [created, read]:
            body = response.json()
            if PASSWORD in response.text or any("password" in key for key in body):
                raise fail(
                    f"{response.request.method} {response.request.url.path}",
                    answer(response),
                    "no password, and no hash of it, in any response",
                    response=response,
                )
            if body.keys() != PUBLIC_KEYS:
                raise fail(
                    f"{response.request.method} {response.request.url.path}",
                    answer(response),
                    f"exactly the public fields: {', '.join(sorted(PUBLIC_KEYS))}",
                    response=response,
                )


async def test_user_input_is_validated(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        for fields, why in [
            ({"email": "ada.example.com"}, "not an email address"),
            ({"password": "eleven-char"}, "a password shorter than 12 characters"),
            ({"age": 151}, "an age over 150"),
            ({"age": -1}, "a negative age"),
            ({"is_admin": True}, "a field the API does not have: unknown fields are refused"),
        ]:
            await expect_rejected(client, new_user(**fields), why)
        for fields in [{"age": 0, "password": "x" * 12}, {"age": 150}]:
            await register(client, **fields)


async def test_age_must_be_a_json_number(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        await expect_rejected(
            client, new_user(age="36"), 'a string, "36": untrusted input is validated strictly'
        )
        await register(client, age=36)


async def test_display_name_is_clean(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        for name, why in [
            ("Ada\u0007Lovelace", "a control character (here BEL, \\u0007)"),
            ("Ada\nLovelace", "a control character (here a line break)"),
            ("a" * 51, "51 characters"),
            ("   ", "nothing but spaces"),
        ]:
            await expect_rejected(client, new_user(display_name=name), why)
        for sent_name, kept in [("  Grace Hopper  ", "Grace Hopper"), (f" {'b' * 50} ", "b" * 50)]:
            user = await register(client, display_name=sent_name)
            stored = (await client.get(f"/users/{user['id']}")).json().get("display_name")
            if user.get("display_name") != kept or stored != kept:
                raise fail(
                    f"POST /users with display_name {json.dumps(sent_name)}, then GET it",
                    f"display_name {json.dumps(user.get('display_name'))}, then "
                    f"{json.dumps(stored)}",
                    f"{json.dumps(kept)}: surrounding spaces are stripped before the length is "
                    "checked, and the name is stored stripped",
                )


# --- Task 3: domain errors from the services ---


async def test_email_is_taken_whatever_its_case(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        await register(client, email="grace.hopper@example.com")
        for email in ["grace.hopper@example.com", "Grace.Hopper@Example.COM"]:
            expect_error(
                await client.post("/users", json=new_user(email=email)), 409, "EMAIL_TAKEN"
            )
        await register(client, email="grace.brewster@example.com")


async def test_unknown_user_is_404(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        for response in [
            await client.get("/users/424242"),
            await client.post("/orders", json={"user_id": 424242, "quantity": 1}),
        ]:
            body = expect_error(response, 404, "USER_NOT_FOUND")
            if body["details"] != {"resource": "user", "id": 424242}:
                raise fail(
                    sent(response.request),
                    answer(response),
                    'details {"resource": "user", "id": 424242}',
                    response=response,
                )


async def test_order_over_the_limit_breaks_a_business_rule(lab: LabContext):
    async with lab.server(settings()) as server, server.client() as client:
        user_id = (await register(client))["id"]
        placed = await client.post("/orders", json={"user_id": user_id, "quantity": MAX_QUANTITY})
        expect_status(placed, 201)
        order = placed.json()
        wanted = {"user_id": user_id, "quantity": MAX_QUANTITY}
        if not isinstance(order, dict) or "id" not in order or order | wanted != order:
            raise fail(
                f"POST /orders for {MAX_QUANTITY} items",
                answer(placed),
                f'{{"id": ..., "user_id": {user_id}, "quantity": {MAX_QUANTITY}}}',
                response=placed,
            )
        over = await client.post("/orders", json={"user_id": user_id, "quantity": MAX_QUANTITY + 1})
        expect_error(over, 422, "BUSINESS_RULE_MAX_ORDER_QUANTITY")
