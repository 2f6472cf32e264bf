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
import time

import httpx

from grader import LabContext, expect_status, fail
from grader.checks import access_log, cors
from grader.checks.access_log import (
    ACCESS_KEYS,
    access_lines,
    logged,
    needs_access_lines,
    request_id_of,
    shown,
    unique,
)
from grader.checks.api_keys import Route
from grader.checks.cors import cors_origin, preflight
from grader.expect import answer
from grader.launch import CLOCK_LEAD, CLOCK_TURN
from grader.server import LabServer

QUIET = {"RATE_LIMIT_PER_MINUTE": "100", "CORS_ORIGINS": "http://localhost:3000"}
"""For checks about something else: a limit that their few requests never reach."""
LIMIT = 3
LIMITED = {**QUIET, "RATE_LIMIT_PER_MINUTE": str(LIMIT)}
WINDOW = 60
FRONTEND = "http://localhost:3000"
SECOND_CLIENT = "127.0.0.2"
"""Another loopback address: requests from it come from another client IP."""
UVICORN_ACCESS = re.compile(r'^INFO:\s+\S+ - "')
"""uvicorn's own access lines, which print the query string: uvicorn's doing, not your app's."""
BOOM_TEXT = (
    "Traceback",
    "ValueError",
    "ledger",
    "out of sync",
    "would go to",
    "warehouse",
    "eu-west-2b",
)
"""What /boom's exception says, which must stay in the logs and out of the response."""
TURN_MARGIN = 0.1
"""Seconds after the clock's minute turns before the requests that must fall after it."""
TURNS = 3
"""Tries at sending a client's requests before its clock's minute turns, on a busy machine."""

NO_FINALLY = """A request whose endpoint raised left no access line: the exception passed through
your access log, which then wrote nothing. Write the line in a `finally:` block, with status 500
when no response had started."""
NO_LIMIT = """No request was refused at all: the limiter lets everything through. Once the check
"Over the limit" passes, this one checks that each client has a limit of its own."""
FIXED_WINDOW = """A window that starts afresh on the clock's minutes forgets, at each new minute,
the requests sent just before it: a client gets twice the limit through where two minutes meet.
Count each client's requests over the last 60 seconds instead: a sliding window log (the time of
each request), a sliding window counter, or a token bucket."""


async def until_limited(
    client: httpx.AsyncClient, sent: str, *, needs: str = "", hint: str | None = None, **options
) -> httpx.Response:
    """GET /items until a 429 (at most LIMIT + 2 requests): the 429."""
    for _ in range(LIMIT + 2):
        response = await client.get("/items", **options)
        if response.status_code == 429:
            return response
        expect_status(response, 200)
    raise fail(
        sent,
        f"200 to all {LIMIT + 2} requests",
        f"429 once the client had sent RATE_LIMIT_PER_MINUTE={LIMIT} requests{needs}",
        response=response,
        hint=hint,
    )


def is_error(record: dict) -> bool:
    return str(record.get("level", "")).lower() == "error"


# --- The browser check: what a real browser lets a page's JavaScript do ---


async def test_browser_enforces_cors(lab: LabContext):
    await cors.browser_enforces_cors(lab, Route("GET", "/items"), env=QUIET)


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
        expected = {("GET", r.request.url.path): r for r in responses}

        def all_logged(records: list[dict]) -> bool:
            found = [(r["method"], r["path"]) for r in access_lines(records)]
            return all(request in found for request in expected)

        records = await logged(server, all_logged)
        secret = [api_key, "lovelace"]
        leaks = [
            line
            for line in server.output.lines
            if not UVICORN_ACCESS.match(line) and any(text in line for text in secret)
        ]
    if leaks:
        raise fail(
            sent,
            "these lines in your app's output, which carry the query string or the API key:\n"
            + "\n".join(line[:300] for line in leaks[-3:]),
            "no API key and no query string in any line your app prints, JSON or plain text: "
            'the path alone (scope["path"]), without what follows ?',
            response=responses[0],
        )
    found = access_lines(records)
    if not found:
        raise fail(
            sent,
            f"no access line for any of them among {shown(records, server)}",
            f"one JSON object per request, on one line, with the keys {', '.join(ACCESS_KEYS)} "
            "(and request_id)",
            response=responses[0],
        )
    for (method, path), response in expected.items():
        status = response.status_code
        lines = [r for r in found if (r["method"], r["path"]) == (method, path)]
        if not lines and status >= 500:
            raise fail(
                sent,
                f"access lines for the other requests, none for {method} {path}, whose endpoint "
                f"raised, among {shown(records, server)}",
                f"one for it too, with status {status}",
                response=response,
                hint=NO_FINALLY,
            )
        if len(lines) != 1:
            raise fail(
                sent,
                f"{len(lines)} lines for {method} {path} ({status}) among {shown(records, server)}",
                f"one JSON line per request with the keys {', '.join(ACCESS_KEYS)}",
                response=response,
            )
        line = lines[0]
        latency = line["latency_ms"]
        number = isinstance(latency, int | float) and not isinstance(latency, bool)
        if line["status"] != status or not number or latency < 0:
            raise fail(
                sent,
                f"this line for {method} {path}, answered {status}:\n{json.dumps(line)}",
                f'"status": {status} (a number) and "latency_ms": a number of milliseconds ≥ 0',
                response=response,
            )


# --- Task 2: request ids ---


async def test_request_id_is_returned_and_logged(lab: LabContext):
    await access_log.request_id_is_returned_and_logged(lab, QUIET)


# --- Task 3: rate limiting ---


async def test_rate_limit_answers_429_with_retry_after(lab: LabContext):
    """Over the limit, and across the turn of a minute: the `clock` probe brings the app's next
    whole minute (of time.time and time.monotonic) a second away, and the client sends its
    requests just before it, then more just after. Any 60 seconds hold at most the limit, so a
    window that starts afresh on the minute is caught; a sliding window counter may let one
    request more through, so one refusal after the turn is enough. A try whose requests miss the
    turn is made again on a fresh server: a limiter with one counter for everyone would count the
    missed try's requests against the next (that mistake is the next check's to name)."""
    for attempt in range(TURNS + 1):
        across = attempt < TURNS  # the last try leaves the turn of a minute out
        async with lab.server(LIMITED, probes=["clock"]) as server, server.client() as client:
            key = unique("client")
            turns_at = await turn_clock(server) if across else None
            start = time.time()
            responses = [
                await client.get("/items", headers={"X-API-Key": key}) for _ in range(LIMIT + 1)
            ]
            if turns_at is not None and time.time() >= turns_at:
                continue  # too busy a machine: the next try has a server that counted nothing
            sent = f"{LIMIT + 1} × GET /items with X-API-Key: {key} (RATE_LIMIT_PER_MINUTE={LIMIT})"
            for number, response in enumerate(responses[:LIMIT], start=1):
                if response.status_code != 200:
                    raise fail(
                        sent,
                        f"request {number}: {answer(response)}",
                        f"200 for the first {LIMIT} requests: the limit is {LIMIT} per minute",
                        response=response,
                    )
            expect_429(responses[LIMIT], sent)
            if turns_at is None:
                lab.note(
                    "The rate limit was not tried across the turn of a minute: requests took too "
                    f"long on a machine this busy ({LIMIT + 1} of them, over {CLOCK_LEAD:g} s)."
                )
                return
            await asyncio.sleep(turns_at + TURN_MARGIN - time.time())
            after = [await client.get("/items", headers={"X-API-Key": key}) for _ in range(LIMIT)]
            break
    if all(response.status_code == 200 for response in after):
        raise fail(
            f"{sent}, just before your app's clock reached a whole minute (the grader moves "
            f"time.time and time.monotonic there), then {LIMIT} more just after",
            f"429 to request {LIMIT + 1}, then 200 to all {LIMIT} after the minute turned: "
            f"{2 * LIMIT} requests let through within {time.time() - start:.1f} s",
            f"a 429 among the last {LIMIT}: any 60 seconds hold at most RATE_LIMIT_PER_MINUTE="
            f"{LIMIT} requests, across the turn of a minute too",
            response=after[-1],
            hint=FIXED_WINDOW,
        )


def expect_429(last: httpx.Response, sent: str) -> None:
    """The answer to the request over the limit: 429, a JSON object and a Retry-After."""
    if last.status_code != 429:
        raise fail(
            sent, f"request {LIMIT + 1}: {answer(last)}", f"request {LIMIT + 1}: 429", response=last
        )
    try:
        body = last.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise fail(
            sent,
            f"request {LIMIT + 1}: {answer(last)}",
            "a 429 with a JSON object body",
            response=last,
        )
    retry_after = last.headers.get("Retry-After")
    expected = "Retry-After: a whole number of seconds from 1 to 60, when a request fits again"
    if retry_after is None:
        why = ": without it, clients guess, and most retry at once"
    elif not retry_after.isdigit():
        why = ": digits only, no fraction, no date"
    elif int(retry_after) == 0:
        why = ": 0 tells the client to retry at once, and it is refused again. Round the wait up"
    elif int(retry_after) > WINDOW:
        why = f": within a {WINDOW}-second window, a request always fits again within {WINDOW} s"
    else:
        return
    raise fail(
        sent, f"429 with Retry-After: {retry_after or '(none)'}", expected + why, response=last
    )


async def turn_clock(server: LabServer) -> float:
    """Ask the app's clocks to reach a whole minute soon: when they do, in wall clock time."""
    turns = len(server.probed("clock"))
    server.process.send_signal(CLOCK_TURN)
    while len(records := server.probed("clock")) == turns:
        await asyncio.sleep(0.01)
    return records[-1]["turns_at"]


async def test_rate_limit_is_per_client(lab: LabContext):
    async with (
        lab.server(LIMITED) as server,
        server.client() as client,
        server.client(local_address=SECOND_CLIENT) as other_client,
    ):
        await until_limited(
            client, "GET /items from 127.0.0.1, without an API key, until 429", hint=NO_LIMIT
        )
        after = "after 127.0.0.1 (without an API key) was limited"
        response = await other_client.get("/items")
        if response.status_code != 200:
            raise fail(
                f"GET /items from {SECOND_CLIENT}, another client IP, {after}",
                answer(response),
                "200: each client IP has a limit of its own",
                response=response,
            )
        key = unique("own-key")
        response = await client.get("/items", headers={"X-API-Key": key})
        if response.status_code != 200:
            raise fail(
                f"GET /items from 127.0.0.1 with X-API-Key: {key}, {after}",
                answer(response),
                "200: a client with an API key is counted by its key, not its IP",
                response=response,
            )
        key = unique("roaming-key")
        await until_limited(
            client,
            f"GET /items with X-API-Key: {key} until 429",
            needs=": requests with an API key count too, by their key",
            headers={"X-API-Key": key},
        )
        response = await other_client.get("/items", headers={"X-API-Key": key})
        if response.status_code != 429:
            raise fail(
                f"GET /items with X-API-Key: {key} from 127.0.0.1 until 429, then with the same "
                f"key from {SECOND_CLIENT}",
                answer(response),
                "429: the key is the client, whichever address it calls from",
                response=response,
            )


# --- Task 4: errors ---


async def test_unhandled_error_is_a_clean_json_500(lab: LabContext):
    sent = "GET /boom (its endpoint raises ValueError)"
    async with lab.server(QUIET) as server, server.client() as client:
        items = await client.get("/items")
        response = await client.get("/boom")
        if response.status_code != 500:
            raise fail(sent, answer(response), "status 500", response=response)
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("application/json"):
            raise fail(
                sent,
                f"{answer(response)} (Content-Type: {content_type or '(none)'})",
                'a JSON body (Content-Type: application/json) with a "detail" field',
                response=response,
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
                response=response,
            )
        rid = request_id_of(
            response,
            sent,
            f": the 500 did not pass through your request-id layer, though GET /items's "
            f"{items.status_code} did. A handler for Exception runs outside every middleware, so "
            "it must set the header itself; an error-catching middleware must be the innermost "
            "layer (added first)"
            if "X-Request-ID" in items.headers
            else ": no response has one yet, and this check needs task 2 done",
        )

        def error_logged(records: list[dict]) -> bool:
            return any(is_error(r) and r.get("request_id") == rid for r in records)

        records = await logged(server, error_logged)
    ours = [r for r in records if r.get("request_id") == rid]
    errors = [r for r in ours if is_error(r)]
    if not errors:
        why = ""
        if not records:
            why = ": this check needs task 1's JSON logs"
        elif any(is_error(r) and not r.get("request_id") for r in records):
            why = (
                ": your error line has none. Log the error while the request-id layer has the id "
                "set: inside it, or read a ContextVar it did not reset"
            )
        raise fail(
            sent,
            f'500 with X-Request-ID: {rid}, and no JSON line with "level": "error" and '
            f"that request_id among {shown(records, server)}",
            f'the error logged as JSON, with "level": "error" and the request\'s id{why}',
        )
    text = json.dumps(errors)
    if "ValueError" not in text or "Traceback" not in text:
        raise fail(
            sent,
            f"this error line, which does not carry the exception and its traceback:\n"
            f"{json.dumps(errors[0])[:600]}",
            "the exception's type and traceback in the error line: log with "
            "logger.error(..., exc_info=exc), and have the JSON formatter write the traceback "
            "(self.formatException(record.exc_info)) when a record has one",
        )


# --- Task 5: CORS, at header level ---


async def test_cors_allows_only_listed_origins(lab: LabContext):
    await cors.allows_only_listed_origins(lab, Route("GET", "/items"), env=QUIET)


# --- Task 6: the order of the layers ---


async def test_order_lets_every_response_through_the_logger(lab: LabContext):
    key = unique("order")
    preflight_sent = f"OPTIONS /items, a preflight from {FRONTEND}"
    headers = {"Origin": FRONTEND, "X-API-Key": key}
    limited_sent = f"GET /items from {FRONTEND} with X-API-Key: {key}, until 429"
    async with lab.server(LIMITED) as server, server.client() as client:
        first = await client.get("/items", headers={"Origin": FRONTEND})
        expect_status(first, 200)
        request_id_of(first, "GET /items", ": this check needs task 2 done")
        asked = await client.options("/items", headers=preflight(FRONTEND))
        if not asked.is_success:
            raise fail(preflight_sent, answer(asked), "a 2xx: the origin is listed", response=asked)
        preflight_id = request_id_of(
            asked,
            preflight_sent,
            ": CORSMiddleware answered it outside your request-id layer. A layer's own answers "
            "pass only through the layers outside it: add CORSMiddleware before "
            "RequestIdMiddleware",
        )
        limited = await until_limited(
            client, limited_sent, needs=": this check needs task 3 done", headers=headers
        )
        limited_id = request_id_of(
            limited,
            limited_sent,
            ": the rate limiter answered it outside your request-id layer. A layer's own answers "
            "pass only through the layers outside it: add RateLimitMiddleware before "
            "RequestIdMiddleware",
        )
        if cors_origin(limited) is None:
            raise fail(
                limited_sent,
                f"{answer(limited)}, with no Access-Control-Allow-Origin header",
                "Access-Control-Allow-Origin on the 429 too, or the page's script sees a network "
                "error instead of the 429: add RateLimitMiddleware before CORSMiddleware, so "
                "that CORS wraps it",
                response=limited,
            )

        answers = {"OPTIONS": asked.status_code, "GET": 429}

        def both_logged(records: list[dict]) -> bool:
            return all(answered_lines(records, *pair) for pair in answers.items())

        records = await logged(server, both_logged)
    needs_access_lines(records, server, preflight_sent, "to find the preflight's and the 429's")
    for (method, status), rid, sent, layer in zip(
        answers.items(),
        [preflight_id, limited_id],
        [preflight_sent, limited_sent],
        ["CORSMiddleware", "RateLimitMiddleware"],
        strict=True,
    ):
        lines = answered_lines(records, method, status)
        if len(lines) != 1:
            raise fail(
                sent,
                f"{status} with X-Request-ID: {rid}, and {len(lines)} access line(s) for a "
                f"{method} answered {status} among {shown(records, server)}",
                f"one access line for the {status}"
                + (
                    f": {layer} answered it outside your access log, which never saw it. Add "
                    f"{layer} before AccessLogMiddleware"
                    if not lines
                    else ", as for every request"
                ),
            )


def answered_lines(records: list[dict], method: str, status: int) -> list[dict]:
    """The access lines of requests of `method` answered `status` (whatever their request_id:
    that the ids match is the id check's business)."""
    return [
        r
        for r in access_lines(records)
        if r["method"] == method and r["status"] in (status, str(status))
    ]
