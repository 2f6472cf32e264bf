"""Lab 2 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab2`. Every check starts your app on a server of its own, with its own
RATE_LIMIT_PER_MINUTE and CORS_ORIGINS, sends it real requests from 127.0.0.1 (and 127.0.0.2, a
second client address), and reads the JSON lines your app printed. Lines that are not a JSON
object, such as uvicorn's own, are ignored. The browser check drives a real Chromium when one is
installed, and checks the same rules at header level when not.
"""

import asyncio
import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from grader import LabContext, expect_status, fail
from grader.browser import chromium, chromium_path, static_files
from grader.expect import answer
from grader.server import LabServer

ACCESS_KEYS = ("method", "path", "status", "latency_ms", "request_id")
LOG_WAIT = 1.0
"""Seconds a log line may take to appear after its response (it is written as the response ends)."""
SETTLE = 0.1
"""Seconds to wait for a second line about the same request, once the first has appeared."""
QUIET = {"RATE_LIMIT_PER_MINUTE": "100", "CORS_ORIGINS": "http://localhost:3000"}
"""For checks about something else: a limit that their few requests never reach."""
LIMIT = 3
LIMITED = {**QUIET, "RATE_LIMIT_PER_MINUTE": str(LIMIT)}
FRONTEND = "http://localhost:3000"
SECOND_CLIENT = "127.0.0.2"
"""Another loopback address: requests from it come from another client IP."""
UVICORN = re.compile(r"^(INFO|WARNING|ERROR|DEBUG|CRITICAL):|^Traceback|^\s|^\w+Error\b")
"""uvicorn's own lines, and the tracebacks it prints."""
BOOM_TEXT = ("Traceback", "ValueError", "ledger", "eu-west-2b")
"""What /boom's exception says, which must stay in the logs and out of the response."""


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
    return [record["request_id"] for record in access_lines(records)]


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


def request_id_of(response: httpx.Response, sent: str, why: str = "") -> str:
    value = response.headers.get("X-Request-ID", "")
    if not value:
        expected = f"an X-Request-ID header{why}"
        raise fail(sent, f"{answer(response)}, with no X-Request-ID header", expected)
    return value


async def until_limited(client: httpx.AsyncClient, sent: str, **options) -> httpx.Response:
    """GET /items until a 429 (at most LIMIT + 2 requests): the 429."""
    for _ in range(LIMIT + 2):
        response = await client.get("/items", **options)
        if response.status_code == 429:
            return response
        expect_status(response, 200)
    raise fail(
        sent,
        f"200 to all {LIMIT + 2} requests",
        f"429 once the client had sent RATE_LIMIT_PER_MINUTE={LIMIT} requests",
    )


def is_error(record: dict) -> bool:
    return str(record.get("level", "")).lower() == "error"


def cors_origin(response: httpx.Response) -> str | None:
    return response.headers.get("Access-Control-Allow-Origin")


def listed(header: str | None) -> set[str]:
    """A comma-separated header's values, lower case."""
    return {value.strip().lower() for value in (header or "").split(",")}


def preflight(origin: str, headers: str = "") -> dict[str, str]:
    """What a browser sends before a GET it must ask permission for."""
    sent = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    return {**sent, "Access-Control-Request-Headers": headers} if headers else sent


# --- The browser check: what a real browser lets a page's JavaScript do ---

PAGE = "<!doctype html><title>Lab 2 frontend</title><p>A page that calls the Lab 2 API.</p>\n"
FETCH = """async (url) => {
  try {
    const response = await fetch(url, {headers: {"X-API-Key": "grader-browser"}});
    return {status: response.status, requestId: response.headers.get("X-Request-ID")};
  } catch (error) {
    return {error: String(error)};
  }
}"""


async def test_browser_enforces_cors(lab: LabContext):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.html").write_text(PAGE)
        with static_files(Path(folder)) as port:
            allowed, other = f"http://localhost:{port}", f"http://127.0.0.1:{port}"
            env = {**QUIET, "CORS_ORIGINS": allowed}
            async with lab.server(env) as server:
                if chromium_path() is None:
                    lab.note(
                        "CORS checked at header level: chromium is not installed (Debian: "
                        "apt-get install chromium), so no real browser ran the page's fetch()."
                    )
                    await cors_at_header_level(server, allowed, other)
                    return
                async with chromium() as browser:
                    page = await browser.new_page()
                    await page.goto(f"{allowed}/")
                    from_allowed = await page.evaluate(FETCH, f"{server.url}/items")
                    await page.goto(f"{other}/")
                    from_other = await page.evaluate(FETCH, f"{server.url}/items")
                async with server.client() as client:
                    direct = await client.get("/items", headers={"Origin": allowed})
    sent = f"fetch() of GET /items with an X-API-Key header (CORS_ORIGINS={allowed}), by a page at"
    if "error" in from_allowed or from_allowed["status"] != 200:
        raise fail(
            f"{sent} {allowed}",
            f"the browser blocked it: {from_allowed['error']}"
            if "error" in from_allowed
            else f"status {from_allowed['status']}",
            "status 200: the page's origin is listed, and X-API-Key is a header it may send",
        )
    if "error" not in from_other:
        raise fail(
            f"{sent} {other}, another origin",
            f"the page's script read the answer: status {from_other['status']}",
            "the browser to block it (TypeError: Failed to fetch): that origin is not listed",
        )
    if not from_allowed["requestId"]:
        raise fail(
            f"{sent} {allowed}",
            "status 200, but the page's script could not read X-Request-ID"
            + ("" if "X-Request-ID" in direct.headers else ": your app sent none (task 2)"),
            "X-Request-ID readable by the page: a header the browser was told to expose",
        )


async def cors_at_header_level(server: LabServer, allowed: str, other: str) -> None:
    """The browser check's rules, read from the headers a browser acts on."""
    async with server.client() as client:
        asked = await client.options("/items", headers=preflight(allowed, "x-api-key"))
        sent = f"OPTIONS /items, a preflight from {allowed} asking to send X-API-Key"
        allowed_headers = asked.headers.get("Access-Control-Allow-Headers")
        if not asked.is_success or cors_origin(asked) != allowed:
            raise fail(
                sent,
                f"{answer(asked)} (Access-Control-Allow-Origin: {cors_origin(asked)})",
                f"a 2xx with Access-Control-Allow-Origin: {allowed}",
            )
        if "x-api-key" not in listed(allowed_headers):
            raise fail(
                sent,
                f"Access-Control-Allow-Headers: {allowed_headers}",
                "X-API-Key among the headers allowed",
            )
        for response in [
            await client.options("/items", headers=preflight(other, "x-api-key")),
            await client.get("/items", headers={"Origin": other}),
        ]:
            if cors_origin(response) is not None:
                raise fail(
                    f"{response.request.method} /items from {other}, another origin",
                    f"Access-Control-Allow-Origin: {cors_origin(response)}",
                    "no Access-Control-Allow-Origin header: that origin is not listed",
                )
        got = await client.get("/items", headers={"Origin": allowed, "X-API-Key": "grader-h"})
        exposed = got.headers.get("Access-Control-Expose-Headers")
        if cors_origin(got) != allowed or "x-request-id" not in listed(exposed):
            raise fail(
                f"GET /items from {allowed}",
                f"Access-Control-Allow-Origin: {cors_origin(got)}, "
                f"Access-Control-Expose-Headers: {exposed or '(none)'}",
                f"Access-Control-Allow-Origin: {allowed}, and X-Request-ID exposed",
            )


# --- Task 1: structured access logs ---


async def test_every_request_logs_one_json_line(lab: LabContext):
    api_key, email = unique("secret-key"), "ada.lovelace@example.com"
    sent = (
        f"GET /items?email={email} with an X-API-Key header, GET /no-such-page and GET /boom, "
        "one request each"
    )
    async with lab.server(QUIET) as server, server.client() as client:
        responses = [
            await client.get("/items", params={"email": email}, headers={"X-API-Key": api_key}),
            await client.get("/no-such-page"),
            await client.get("/boom"),
        ]
        expected = {("GET", r.request.url.path): r.status_code for r in responses}

        def all_logged(records: list[dict]) -> bool:
            found = [(r["method"], r["path"]) for r in access_lines(records)]
            return all(request in found for request in expected)

        records = await logged(server, all_logged)
    leaks = [r for r in records if api_key in json.dumps(r) or "lovelace" in json.dumps(r)]
    if leaks:
        raise fail(
            sent,
            shown(leaks, server),
            "no API key and no query string in the logs: the path alone, without what follows ?",
        )
    for (method, path), status in expected.items():
        lines = [r for r in access_lines(records) if (r["method"], r["path"]) == (method, path)]
        if len(lines) != 1:
            raise fail(
                sent,
                f"{len(lines)} lines for {method} {path} ({status}) among {shown(records, server)}",
                f"one JSON line per request with the keys {', '.join(ACCESS_KEYS)}",
            )
        line = lines[0]
        latency = line["latency_ms"]
        number = isinstance(latency, int | float) and not isinstance(latency, bool)
        if line["status"] != status or not number or latency < 0:
            raise fail(
                sent,
                f"this line for {method} {path}, answered {status}:\n{json.dumps(line)}",
                f'"status": {status} (a number) and "latency_ms": a number of milliseconds ≥ 0',
            )


# --- Task 2: request ids ---


async def test_request_id_is_returned_and_logged(lab: LabContext):
    chosen = unique("request")
    async with lab.server(QUIET) as server, server.client() as client:
        first, second = await client.get("/items"), await client.get("/items")
        reused = await client.get("/items", headers={"X-Request-ID": chosen})
        for response in first, second, reused:
            expect_status(response, 200)
        new = "GET /items twice, without an X-Request-ID header"
        ids = [request_id_of(first, new), request_id_of(second, new)]
        if ids[0] == ids[1]:
            raise fail(new, f"X-Request-ID: {ids[0]} both times", "a new id for every request")
        given = f"GET /items with X-Request-ID: {chosen}"
        if request_id_of(reused, given) != chosen:
            raise fail(
                given,
                f"X-Request-ID: {reused.headers['X-Request-ID']}",
                f"X-Request-ID: {chosen}: the caller's id, reused",
            )
        ids.append(chosen)

        def all_logged(records: list[dict]) -> bool:
            return all(rid in logged_ids(records) for rid in ids)

        records = await logged(server, all_logged)
    for rid in ids:
        lines = [r for r in access_lines(records) if r["request_id"] == rid]
        if len(lines) != 1 or lines[0]["path"] != "/items":
            raise fail(
                f"{new}, then {given}",
                f"responses with X-Request-ID {', '.join(ids)}; {len(lines)} access line(s) with "
                f'"request_id": "{rid}" among {shown(records, server)}',
                "each request's access line to carry the id its response returned",
            )


# --- Task 3: rate limiting ---


async def test_rate_limit_answers_429_with_retry_after(lab: LabContext):
    key = unique("client")
    headers = {"X-API-Key": key}
    sent = f"{LIMIT + 1} × GET /items with X-API-Key: {key} (RATE_LIMIT_PER_MINUTE={LIMIT})"
    async with lab.server(LIMITED) as server, server.client() as client:
        responses = [await client.get("/items", headers=headers) for _ in range(LIMIT + 1)]
    for number, response in enumerate(responses[:LIMIT], start=1):
        if response.status_code != 200:
            raise fail(
                sent,
                f"request {number}: {answer(response)}",
                f"200 for the first {LIMIT} requests: the limit is {LIMIT} per minute",
            )
    last = responses[LIMIT]
    if last.status_code != 429:
        raise fail(sent, f"request {LIMIT + 1}: {answer(last)}", f"request {LIMIT + 1}: 429")
    try:
        body = last.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise fail(sent, f"request {LIMIT + 1}: {answer(last)}", "a 429 with a JSON object body")
    retry_after = last.headers.get("Retry-After", "")
    if not retry_after.isdigit() or not 1 <= int(retry_after) <= 60:
        raise fail(
            sent,
            f"429 with Retry-After: {retry_after or '(none)'}",
            "Retry-After: a whole number of seconds from 1 to 60, when a request fits again",
        )


async def test_rate_limit_is_per_client(lab: LabContext):
    second_ip = httpx.AsyncHTTPTransport(local_address=SECOND_CLIENT)
    async with (
        lab.server(LIMITED) as server,
        server.client() as client,
        server.client(transport=second_ip) as other_client,
    ):
        await until_limited(client, "GET /items from 127.0.0.1, without an API key, until 429")
        after = "after 127.0.0.1 (without an API key) was limited"
        response = await other_client.get("/items")
        if response.status_code != 200:
            raise fail(
                f"GET /items from {SECOND_CLIENT}, another client IP, {after}",
                answer(response),
                "200: each client IP has a limit of its own",
            )
        key = unique("own-key")
        response = await client.get("/items", headers={"X-API-Key": key})
        if response.status_code != 200:
            raise fail(
                f"GET /items from 127.0.0.1 with X-API-Key: {key}, {after}",
                answer(response),
                "200: a client with an API key is counted by its key, not its IP",
            )
        key = unique("roaming-key")
        await until_limited(
            client, f"GET /items with X-API-Key: {key} until 429", headers={"X-API-Key": key}
        )
        response = await other_client.get("/items", headers={"X-API-Key": key})
        if response.status_code != 429:
            raise fail(
                f"GET /items with X-API-Key: {key} from 127.0.0.1 until 429, then with the same "
                f"key from {SECOND_CLIENT}",
                answer(response),
                "429: the key is the client, whichever address it calls from",
            )


# --- Task 4: errors ---


async def test_unhandled_error_is_a_clean_json_500(lab: LabContext):
    sent = "GET /boom (its endpoint raises ValueError)"
    async with lab.server(QUIET) as server, server.client() as client:
        response = await client.get("/boom")
        if response.status_code != 500:
            raise fail(sent, answer(response), "status 500")
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            raise fail(
                sent,
                f"{answer(response)} (Content-Type: {response.headers.get('Content-Type')})",
                'a JSON body (Content-Type: application/json) with a "detail" field',
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "detail" not in body:
            raise fail(sent, answer(response), 'a JSON object with a "detail" field')
        leaked = [text for text in BOOM_TEXT if text.lower() in response.text.lower()]
        if leaked:
            raise fail(
                sent,
                f"{answer(response)}\n(it mentions {', '.join(repr(t) for t in leaked)})",
                "a generic message: the exception and its traceback belong in the logs only",
            )
        rid = request_id_of(response, sent)

        def both_logged(records: list[dict]) -> bool:
            ours = [r for r in records if r.get("request_id") == rid]
            return bool(access_lines(ours)) and any(is_error(r) for r in ours)

        records = await logged(server, both_logged)
    ours = [r for r in records if r.get("request_id") == rid]
    errors = [r for r in ours if is_error(r)]
    if not errors:
        raise fail(
            sent,
            f'500 with X-Request-ID: {rid}, and no JSON line with "level": "error" and '
            f"that request_id among {shown(records, server)}",
            'the error logged as JSON, with "level": "error" and the request\'s id',
        )
    if not any("ValueError" in json.dumps(r) for r in errors):
        raise fail(
            sent,
            f"this error line, which does not say what went wrong:\n{json.dumps(errors[0])}",
            "the exception in the error line: its type and traceback (logger.error(..., "
            "exc_info=exc))",
        )
    accessed = access_lines(ours)
    if len(accessed) != 1 or accessed[0]["status"] != 500 or accessed[0]["path"] != "/boom":
        raise fail(
            sent,
            f"500 with X-Request-ID: {rid}, and {len(accessed)} access line(s) with that id "
            f"among {shown(records, server)}",
            'one access line with "path": "/boom", "status": 500 and the same request_id',
        )


# --- Task 5: CORS, at header level ---


async def test_cors_allows_only_listed_origins(lab: LabContext):
    origins = [FRONTEND, "https://app.example.com"]
    setting = ", ".join(origins)
    others = ["https://evil.example.com", "http://127.0.0.1:3000"]
    async with lab.server({**QUIET, "CORS_ORIGINS": setting}) as server, server.client() as client:
        for origin in origins + others:
            simple = await client.get("/items", headers={"Origin": origin})
            asked = await client.options("/items", headers=preflight(origin))
            for response, what in [(simple, "GET /items"), (asked, "OPTIONS /items, a preflight")]:
                sent = f"{what} with Origin: {origin} (CORS_ORIGINS={setting})"
                got = cors_origin(response)
                if got == "*":
                    raise fail(
                        sent,
                        "Access-Control-Allow-Origin: *",
                        "exact origins only: '*' lets every website's scripts read the answers",
                    )
                if origin in origins and (got != origin or not response.is_success):
                    raise fail(
                        sent,
                        f"{answer(response)} (Access-Control-Allow-Origin: {got})",
                        f"a 2xx with Access-Control-Allow-Origin: {origin}: it is listed",
                    )
                if origin in others and got is not None:
                    raise fail(
                        sent,
                        f"Access-Control-Allow-Origin: {got}",
                        "no Access-Control-Allow-Origin header: that origin is not listed",
                    )


# --- Task 6: the order of the layers ---


async def test_order_lets_every_response_through_the_logger(lab: LabContext):
    key = unique("order")
    async with lab.server(LIMITED) as server, server.client() as client:
        first = await client.get("/items", headers={"Origin": FRONTEND})
        expect_status(first, 200)
        request_id_of(first, "GET /items", ": this check needs task 2 done")
        asked = await client.options("/items", headers=preflight(FRONTEND))
        preflight_sent = f"OPTIONS /items, a preflight from {FRONTEND}"
        if not asked.is_success:
            raise fail(preflight_sent, answer(asked), "a 2xx: the origin is listed")
        through = ": every response must pass through the request-id layer"
        preflight_id = request_id_of(asked, preflight_sent, f", the preflight too{through}")
        headers = {"Origin": FRONTEND, "X-API-Key": key}
        limited_sent = f"GET /items from {FRONTEND} with X-API-Key: {key}, until 429"
        limited = await until_limited(client, limited_sent, headers=headers)
        limited_id = request_id_of(limited, limited_sent, f", the 429 too{through}")
        if cors_origin(limited) != FRONTEND:
            raise fail(
                limited_sent,
                f"429 with Access-Control-Allow-Origin: {cors_origin(limited)}",
                f"Access-Control-Allow-Origin: {FRONTEND} on the 429 too, or the page's script "
                "sees a network error instead of the 429",
            )

        def both_logged(records: list[dict]) -> bool:
            return all(rid in logged_ids(records) for rid in (preflight_id, limited_id))

        records = await logged(server, both_logged)
    for rid, sent, method, status in [
        (preflight_id, preflight_sent, "OPTIONS", asked.status_code),
        (limited_id, limited_sent, "GET", 429),
    ]:
        lines = [r for r in access_lines(records) if r["request_id"] == rid]
        if len(lines) != 1 or (lines[0]["method"], lines[0]["status"]) != (method, status):
            raise fail(
                sent,
                f"{status} with X-Request-ID: {rid}, and {len(lines)} access line(s) with that "
                f"id among {shown(records, server)}",
                f"one access line for the {status} with its request id: every response must "
                "pass through the request-id and logging layers on its way out",
            )
