"""Checks of an API whose clients send keys its admin API issued: Lab 5's, and the capstone's.

The contract is Lab 5's: `POST /admin/api-keys` with the admin key issues a key with scopes; no key
or a key that names nobody is 401, a valid key without a route's scope is 403, and each key has a
rate limit of its own (429 with Retry-After), counted only once the key is known. The routes differ
from app to app: a `KeyedApi` names them. The checks start servers with the settings they are
about (`RATE_LIMIT_PER_MINUTE`); the rest (the admin key, a database) comes from the check's
`Service`.
"""

import json
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

import httpx

from grader import LabContext, expect_error, expect_json_field, expect_status, fail
from grader.expect import answer

LIMIT = 3
"""RATE_LIMIT_PER_MINUTE for the rate-limit check."""


@dataclass(frozen=True)
class Route:
    """A route, and a request it answers with `status`; for the key checks, the one scope that
    opens it."""

    method: str
    path: str
    scope: str = ""
    body: object = None
    status: int = 200

    def send(self, client: httpx.AsyncClient, headers: dict[str, str]) -> Awaitable[httpx.Response]:
        return client.request(self.method, self.path, json=self.body, headers=headers)

    def __str__(self) -> str:
        body = f" with {json.dumps(self.body)}" if self.body is not None else ""
        return f"{self.method} {self.path}{body}"


@dataclass(frozen=True)
class KeyedApi:
    """What the checks need to know of an app with API keys."""

    admin_key: str
    """The ADMIN_API_KEY its servers are given."""
    reader: Route
    """A route opened by `reader.scope`."""
    writer: Route
    """A route `reader.scope` does not open, and `writer.scope` does."""
    key_prefix: str = ""
    """How the app's keys begin: a made-up key looks like one of them."""

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}

    async def new_key(self, client: httpx.AsyncClient, *scopes: str, owner: str = "grader") -> dict:
        """An API key from the admin API: its JSON, once it is a 201 with the raw key."""
        response = await client.post(
            "/admin/api-keys", json={"owner": owner, "scopes": list(scopes)}, headers=self.admin
        )
        expect_status(response, 201)
        expect_json_field(response, "api_key")
        expect_json_field(response, "key_id")
        return response.json()

    def made_up_key(self) -> dict[str, str]:
        """A key that looks like the app's own, and that it never issued."""
        return {"X-API-Key": f"{self.key_prefix}made-up-{uuid.uuid4().hex}"}

    async def key_for(
        self, client: httpx.AsyncClient, *scopes: str, owner: str = "grader"
    ) -> dict[str, str]:
        """The X-API-Key header of a new key with `scopes`."""
        return {"X-API-Key": (await self.new_key(client, *scopes, owner=owner))["api_key"]}


async def no_valid_key_is_401(lab: LabContext, api: KeyedApi) -> None:
    async with lab.server() as server, server.client(credentials=False) as client:
        admin_route = Route("GET", "/admin/api-keys", "admin")
        for route, headers, what in [
            (api.reader, {}, "no key"),
            (api.reader, api.made_up_key(), "a made-up key"),
            (admin_route, {}, "no key"),
            (admin_route, {"X-API-Key": "made-up-admin"}, "a made-up key"),
        ]:
            response = await route.send(client, headers)
            if response.status_code != 401:
                raise fail(
                    f"{route} with {what}",
                    answer(response),
                    "401 Unauthorized: the client has not said who it is (403 is for a client "
                    "we know, doing what it may not)",
                    response=response,
                )
            expect_error(response, 401, "NOT_AUTHENTICATED")


async def a_key_without_the_right_gets_403(lab: LabContext, api: KeyedApi) -> None:
    async with lab.server() as server, server.client(credentials=False) as client:
        reader = await api.key_for(client, api.reader.scope)
        writer = await api.key_for(client, api.reader.scope, api.writer.scope)
        expect_status(await api.writer.send(client, writer), api.writer.status)
        for route, headers, what in [
            (api.writer, reader, f"a key with {api.reader.scope} only"),
            (
                Route("GET", "/admin/api-keys", "admin"),
                writer,
                "a valid key that is not the admin key",
            ),
        ]:
            response = await route.send(client, headers)
            if response.status_code != 403:
                raise fail(
                    f"{route} with {what}",
                    answer(response),
                    "403 Forbidden: the key is valid, so the client is known, and it may not do "
                    "this (401 would tell it to authenticate, which it did)",
                    response=response,
                )
            expect_error(response, 403, "FORBIDDEN")


async def rate_limit_follows_the_key(lab: LabContext, api: KeyedApi) -> None:
    limited = {"RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    async with lab.server(limited) as server, server.client(credentials=False) as client:
        first = await api.key_for(client, api.reader.scope, owner="first")
        second = await api.key_for(client, api.reader.scope, owner="second")
        made_up = api.made_up_key()
        sent_so_far = f"{LIMIT} requests to {api.reader} with one key"
        for _ in range(LIMIT):
            expect_status(await api.reader.send(client, first), api.reader.status)
        over = await api.reader.send(client, first)
        expect_error(over, 429, "RATE_LIMITED")
        retry_after = over.headers.get("Retry-After", "")
        if not retry_after.isdigit() or not 1 <= int(retry_after) <= 60:
            raise fail(
                f"{sent_so_far}, then one more",
                f"429, with Retry-After: {retry_after or '(none)'}",
                "Retry-After: the whole seconds until the key may send again, 1 to 60",
                response=over,
            )
        other = await api.reader.send(client, second)
        if other.status_code != api.reader.status:
            raise fail(
                f"{sent_so_far}, then one with another key",
                answer(other),
                f"{api.reader.status}: each key has a limit of its own, and the other key has "
                "sent nothing yet",
                response=other,
            )
        for _ in range(LIMIT + 2):
            response = await api.reader.send(client, made_up)
            if response.status_code != 401:
                raise fail(
                    f"{LIMIT + 2} requests to {api.reader} with one made-up key",
                    answer(response),
                    "401 every time: a key that names nobody is refused before anything is "
                    "counted, so the limit follows real identities only",
                    response=response,
                )
