"""Checks of an app's JSON access log and request ids: Lab 2's, and the capstone's.

The app prints one JSON object per request, on one line, with at least `method`, `path`, `status`
and `latency_ms`, and the request's `request_id`; it returns that id as `X-Request-ID` on every
response, reusing the caller's. Lines that are not a JSON object, such as uvicorn's own, are
ignored.
"""

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping

import httpx

from grader import LabContext, expect_status, fail
from grader.expect import answer
from grader.server import LabServer

ACCESS_KEYS = ("method", "path", "status", "latency_ms")
"""What makes a JSON line an access line. Its request_id is what the request-id checks read."""
LOG_WAIT = 1.0
"""Seconds a log line may take to appear after its response (it is written as the response ends)."""
SETTLE = 0.1
"""Seconds to wait for a second line about the same request, once the first has appeared."""
UVICORN = re.compile(r"^(INFO|WARNING|ERROR|DEBUG|CRITICAL):|^Traceback|^\s|^\w+Error\b")
"""uvicorn's own lines, and the tracebacks it prints."""


def unique(prefix: str) -> str:
    return f"grader-{prefix}-{uuid.uuid4().hex[:8]}"


def json_records(lines: list[str]) -> list[dict]:
    """The lines that are one JSON object each; anything else (uvicorn's own lines) is skipped."""
    records = []
    for line in lines:
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def access_lines(records: list[dict]) -> list[dict]:
    return [record for record in records if all(key in record for key in ACCESS_KEYS)]


def logged_ids(records: list[dict]) -> list[object]:
    """The request ids of the access lines (a list: the learner's values may not be hashable)."""
    return [record.get("request_id") for record in access_lines(records)]


async def logged(server: LabServer, found: Callable[[list[dict]], bool]) -> list[dict]:
    """The server's JSON records, once `found(records)` holds (and a moment more, so that a
    duplicate line shows too) or after LOG_WAIT seconds."""
    deadline = time.monotonic() + LOG_WAIT
    while not found(json_records(server.output.lines)) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(SETTLE)
    return json_records(server.output.lines)


def shown(records: list[dict], server: LabServer, limit: int = 6) -> str:
    """Log records as the learner printed them, the last few, for a failure message; without
    any, the last lines the app printed that are not uvicorn's."""
    if not records:
        printed = [line for line in server.output.lines if not UVICORN.match(line)][-3:]
        return "no JSON log lines at all" + (
            ", only:\n" + "\n".join(printed) if printed else " (uvicorn's own lines don't count)"
        )
    lines = [json.dumps(record)[:300] for record in records[-limit:]]
    more = f"({len(records) - limit} earlier lines not shown)\n" if len(records) > limit else ""
    return "these JSON log lines:\n" + more + "\n".join(lines)


def needs_access_lines(records: list[dict], server: LabServer, sent: str, why: str) -> None:
    """This check reads the access lines of task 1: say so when there are none at all."""
    if not access_lines(records):
        raise fail(
            sent,
            f"no JSON access lines (with {', '.join(ACCESS_KEYS)}) among {shown(records, server)}",
            f"an access line for every request: this check needs task 1 done, {why}",
        )


def request_id_of(response: httpx.Response, sent: str, why: str = "") -> str:
    value = response.headers.get("X-Request-ID", "")
    if not value:
        expected = f"an X-Request-ID header{why}"
        raise fail(
            sent, f"{answer(response)}, with no X-Request-ID header", expected, response=response
        )
    return value


async def request_id_is_returned_and_logged(
    lab: LabContext,
    settings: Mapping[str, str] | None = None,
    path: str = "/items",
    headers: Mapping[str, str] | None = None,
) -> None:
    """`path` answers 200 to a GET with `headers`; /no-such-page is a 404 that needs an id all
    the same."""
    chosen = unique("request")
    new = f"GET {path} twice, without an X-Request-ID header"
    given = f"GET {path} with X-Request-ID: {chosen}"
    async with lab.server(settings) as server, server.client(headers=headers) as client:
        first, second = await client.get(path), await client.get(path)
        reused = await client.get(path, headers={"X-Request-ID": chosen})
        not_found = await client.get("/no-such-page")
        for response in first, second, reused:
            expect_status(response, 200)
        ids = [request_id_of(first, new), request_id_of(second, new)]
        if ids[0] == ids[1]:
            raise fail(
                new,
                f"X-Request-ID: {ids[0]} both times",
                "a new id for every request",
                response=second,
            )
        if request_id_of(reused, given) != chosen:
            raise fail(
                given,
                f"X-Request-ID: {reused.headers['X-Request-ID']}",
                f"X-Request-ID: {chosen}: the caller's id, reused (a service that already gave "
                "the request an id passes it on, so that one search finds it everywhere)",
                response=reused,
            )
        request_id_of(
            not_found,
            "GET /no-such-page",
            ", on every response, a 404 too: set it in a middleware, on the way out, not in an "
            "endpoint or a dependency",
        )
        ids += [chosen, not_found.headers["X-Request-ID"]]

        def all_logged(records: list[dict]) -> bool:
            return all(rid in logged_ids(records) for rid in ids)

        records = await logged(server, all_logged)
    sent = f"{new}, then {given}, then GET /no-such-page"
    needs_access_lines(records, server, sent, "whose request_id it reads")
    for rid, requested in zip(ids, [path] * 3 + ["/no-such-page"], strict=True):
        lines = [r for r in access_lines(records) if r.get("request_id") == rid]
        if len(lines) == 1 and lines[0]["path"] == requested:
            continue
        unmarked = [r for r in access_lines(records) if r.get("request_id") is None]
        raise fail(
            sent,
            f"responses with X-Request-ID {', '.join(ids)}; {len(lines)} access line(s) with "
            f'"request_id": "{rid}" among {shown(records, server)}',
            "each request's access line to carry the id its response returned"
            + (
                ': yours say "request_id": null. The access log must run inside the request-id '
                "layer (added before it), while the id is set, and the formatter read it then"
                if unmarked
                else ""
            ),
        )
