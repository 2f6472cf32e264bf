"""Lab 6 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab6`. Every check starts your app on a server of its own, pointed at upstream
services the grader runs as real HTTP servers on 127.0.0.1. They answer as each check tells them
to (slowly, with an error, never, or by resetting the connection) and record every request: when
it arrived and ended, the connection it came on, whether your app hung up, and how many were in
flight at once. Every duration below is scaled by COURSE_TIME_SCALE.
"""

import asyncio
import json
import math
import time

import httpx

from grader import LabContext, expect_error, expect_status, fail, patience, scaled
from grader.expect import answer, error_body, sent
from grader.fakes.upstream import (
    NOWHERE,
    RESET,
    Answer,
    Received,
    Reply,
    Upstream,
    in_turn,
    upstream,
)

TIMEOUT = scaled(1.0)
"""PART_TIMEOUT_SECONDS, in the checks about timeouts."""
PATIENCE = patience(TIMEOUT)
"""How long the grader waits for an answer when an upstream hangs: 3·T, and never less than
T + 2 real seconds (see grader.scale.patience)."""
HANG = 2 * PATIENCE
"""How long a hanging upstream stays silent: longer than the grader's patience."""
CALL = scaled(1.0)
"""How long each upstream call takes in the concurrency checks."""
ROOMY = 4 * CALL
"""PART_TIMEOUT_SECONDS where no call should time out."""
JITTER = 0.9
"""A pause may be 10% shorter than its nominal length."""

USER = {"id": 7, "name": "Grace Hopper"}
ORDERS = [{"id": 70, "total": 12.5}, {"id": 71, "total": 3.0}]
RECOMMENDATIONS = [{"item_id": 3}, {"item_id": 5}]
QUOTE = {"symbol": "ACME", "price": 101.25}


def settings(upstream_url: str = NOWHERE, **values: object) -> dict[str, str]:
    """The app's settings: the upstream's address, and the check's own values."""
    return {"UPSTREAM_URL": upstream_url, **{name: str(v) for name, v in values.items()}}


def dashboard_answer(delay: float = 0.0, **replies: Reply) -> Answer:
    """User 7's three parts, each after `delay`, unless `replies` says otherwise."""
    parts = {
        "/users/7": Reply(200, USER, delay=delay),
        "/orders?user_id=7": Reply(200, ORDERS, delay=delay),
        "/recommendations/7": Reply(200, RECOMMENDATIONS, delay=delay),
    }
    for part, reply in replies.items():
        path = next(path for path in parts if path.startswith(f"/{part}"))
        parts[path] = reply
    return lambda method, path: parts.get(path, Reply(404, {"error": "not found"}))


async def get_patiently(
    client: httpx.AsyncClient,
    path: str,
    situation: str,
    method: str = "GET",
    expected: str = f"an answer once PART_TIMEOUT_SECONDS={TIMEOUT:g} have passed",
    **request: object,
) -> httpx.Response:
    """`path`'s answer, waiting PATIENCE at most: a request that outlasts it is the check's
    failure, in the `situation` the check set up."""
    try:
        return await client.request(method, path, timeout=PATIENCE, **request)
    except httpx.TimeoutException:
        raise fail(
            f"{method} {path}, {situation}",
            f"no answer after {PATIENCE:.2f} s: your app is still waiting",
            expected,
        ) from None


def json_of(response: httpx.Response, keys: set[str]) -> dict:
    """The answer's JSON object, once it has exactly `keys`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.keys() != keys:
        raise fail(
            sent(response.request),
            answer(response),
            f"a JSON object with exactly the keys {', '.join(sorted(keys))}",
            response=response,
        )
    return body


def span(requests: list[Received]) -> float:
    """From the first request's arrival to the last one's end, as the upstream saw them: the
    time the calls took together, without the time your app and the grader took around them."""
    return max(r.ended or math.inf for r in requests) - min(r.at for r in requests)


# --- Task 1: one client, created in the lifespan ---


async def test_calls_share_one_client(lab: LabContext):
    async with upstream() as fake:
        parts = dashboard_answer()
        fake.answer = lambda method, path: (
            Reply(200, QUOTE)
            if path.startswith("/quotes/")
            else Reply(200, item(1))
            if path.startswith("/items/")
            else parts(method, path)
        )
        async with lab.server(settings(fake.url)) as server, server.client() as client:
            paths = ["/quotes/ACME"] * 3 + ["/reports?ids=1"] * 3 + ["/dashboard/7"] * 2
            for path in paths:
                expect_status(await client.get(path), 200)
    calls, connections = len(fake.received), fake.connections
    most = 4
    if connections > most:
        raise fail(
            f"{len(paths)} requests, one after another: {', '.join(dict.fromkeys(paths))}",
            f"{calls} calls to the upstream, on {connections} connections",
            f"at most {most} connections: one client, created in the lifespan, keeps its "
            "connections open and reuses them; a client per request opens new ones every time",
        )


# --- Task 2: the dashboard's three calls, at once ---


async def test_dashboard_calls_in_parallel(lab: LabContext):
    async with upstream() as fake:
        fake.answer = dashboard_answer(delay=CALL)
        async with lab.server(settings(fake.url, PART_TIMEOUT_SECONDS=ROOMY)) as server:
            async with server.client() as client:
                start = time.perf_counter()
                response = await client.get("/dashboard/7")
                took = time.perf_counter() - start
    body = json_of(response, {"user", "orders", "recommendations", "errors"})
    expected = {"user": USER, "orders": ORDERS, "recommendations": RECOMMENDATIONS, "errors": []}
    if response.status_code != 200 or body != expected:
        raise fail(
            sent(response.request),
            answer(response),
            f"200 OK {json.dumps(expected)}",
            response=response,
        )
    # Three calls of CALL each, all in flight at one moment, are served within 2 × CALL: the
    # count is the evidence, and unlike a time it does not move on a busy machine.
    at_once, together = fake.max_in_flight, span(fake.received)
    if at_once < 3:
        raise fail(
            f"GET /dashboard/7, each of its three upstream calls taking {CALL:.2f} s",
            f"the upstream served the calls over {together:.2f} s, at most {at_once} of them at "
            "once" + (": each was awaited before the next began" if at_once == 1 else ""),
            "all three in flight at once, so that the page waits for the slowest call, not for "
            "the sum of the three",
        )
    lab.record_timing("dashboard, three calls of CALL each", took)


async def test_dashboard_reports_a_failed_part(lab: LabContext):
    async with upstream() as fake:
        fake.answer = dashboard_answer(orders=Reply(500, {"error": "database down"}))
        async with lab.server(settings(fake.url)) as server, server.client() as client:
            response = await client.get("/dashboard/7")
    expected_errors = "an errors list with one entry, whose part is orders"
    why = "the upstream answering 500 to GET /orders?user_id=7, and the user and recommendations"
    if response.status_code != 200:
        raise fail(
            f"GET /dashboard/7, {why}",
            answer(response),
            f"200 OK, orders null, {expected_errors}: a failed part costs the page one panel",
            response=response,
        )
    body = json_of(response, {"user", "orders", "recommendations", "errors"})
    errors = body["errors"] if isinstance(body["errors"], list) else []
    entries = [error for error in errors if isinstance(error, dict)]
    if body["user"] != USER or body["recommendations"] != RECOMMENDATIONS:
        raise fail(f"GET /dashboard/7, {why}", answer(response), "the parts that did answer")
    if (
        body["orders"] is not None
        or len(errors) != 1
        or [entry.get("part") for entry in entries] != ["orders"]
        or "error" not in entries[0]
    ):
        raise fail(
            f"GET /dashboard/7, {why}",
            answer(response),
            f'"orders": null and {expected_errors} (with an "error" saying what went wrong)',
        )


# --- Task 3: a timeout on every call ---


async def test_dashboard_gives_up_on_a_hanging_part(lab: LabContext):
    async with upstream() as fake:
        fake.answer = dashboard_answer(recommendations=Reply(200, RECOMMENDATIONS, delay=HANG))
        app_settings = settings(fake.url, PART_TIMEOUT_SECONDS=TIMEOUT)
        async with lab.server(app_settings) as server, server.client() as client:
            start = time.perf_counter()
            response = await get_patiently(
                client, "/dashboard/7", "GET /recommendations/7 never answering"
            )
            took = time.perf_counter() - start
    if response.status_code != 200:
        raise fail(
            "GET /dashboard/7, GET /recommendations/7 never answering",
            answer(response),
            "200 OK with the other parts: a part that times out is null, with its error",
            response=response,
        )
    body = json_of(response, {"user", "orders", "recommendations", "errors"})
    errors = body["errors"] if isinstance(body["errors"], list) else []
    parts = [error.get("part") for error in errors if isinstance(error, dict)]
    if body["recommendations"] is not None or parts != ["recommendations"]:
        raise fail(
            "GET /dashboard/7, GET /recommendations/7 never answering",
            answer(response),
            '"recommendations": null, and one entry in errors, whose part is recommendations',
        )
    lab.record_timing("dashboard, one part hanging", took)


# --- Task 4: reports, under a cap ---

LIMIT = 3
"""MAX_IN_FLIGHT: the grader's own, not the default."""
ITEMS = 9
ITEM_CALL = scaled(1.0)


def item(item_id: int) -> dict:
    return {"id": item_id, "name": f"item {item_id}"}


def item_answer(delay: float = 0.0, failing: dict[int, int] | None = None) -> Answer:
    """Each item after `delay`; the `failing` ones (id → status) answer with an error."""

    def answer_item(method: str, path: str) -> Reply:
        item_id = int(path.rsplit("/", 1)[-1])
        if status := (failing or {}).get(item_id):
            return Reply(status, {"error": "no such item" if status == 404 else "boom"})
        return Reply(200, item(item_id), delay=delay)

    return answer_item


async def test_reports_cap_calls_in_flight(lab: LabContext):
    ids = list(range(1, ITEMS + 1))
    path = f"/reports?ids={','.join(map(str, ids))}"
    app_settings = settings(MAX_IN_FLIGHT=LIMIT, PART_TIMEOUT_SECONDS=ROOMY)
    async with upstream() as fake:
        fake.answer = item_answer(delay=ITEM_CALL)
        app_settings["UPSTREAM_URL"] = fake.url
        async with lab.server(app_settings) as server, server.client() as client:
            start = time.perf_counter()
            response = await client.get(path)
            took = time.perf_counter() - start
    expect_status(response, 200)
    rounds = math.ceil(ITEMS / LIMIT)
    bound = 2 * rounds * ITEM_CALL
    most, together = fake.max_in_flight, span(fake.received)
    if most != LIMIT or together >= bound:
        if most > LIMIT:
            why = ": nothing held the others back"
        elif most < LIMIT:
            why = ": calls waited that could have run"
        else:
            why = ", as it should"
        raise fail(
            f"GET {path}, MAX_IN_FLIGHT={LIMIT}, each item taking {ITEM_CALL:.2f} s",
            f"the upstream served at most {most} calls at once{why}; it served them all over "
            f"{together:.2f} s",
            f"exactly {LIMIT} calls in flight at the busiest moment, all served within "
            f"{bound:.2f} s (⌈{ITEMS}/{LIMIT}⌉ = {rounds} rounds of one call, twice over)",
        )
    body = json_of(response, {"items", "errors"})
    expected = [item(i) for i in ids]
    if body["items"] != expected or body["errors"] != []:
        raise fail(sent(response.request), answer(response), f"items {expected}, errors []")
    lab.record_timing(f"report of {ITEMS} items, {LIMIT} at a time", took)


async def test_reports_list_failed_items(lab: LabContext):
    failing = {3: 404, 5: 500}
    path = "/reports?ids=1,2,3,4,5"
    async with upstream() as fake:
        fake.answer = item_answer(failing=failing)
        async with lab.server(settings(fake.url)) as server, server.client() as client:
            response = await client.get(path)
    situation = f"GET {path}, the upstream answering 404 for item 3 and 500 for item 5"
    expected = f"200 OK, items {[item(i) for i in (1, 2, 4)]}, errors naming items 3 and 5"
    if response.status_code != 200:
        raise fail(situation, answer(response), expected, response=response)
    body = json_of(response, {"items", "errors"})
    errors = body["errors"] if isinstance(body["errors"], list) else []
    named = sorted(str(error.get("id")) for error in errors if isinstance(error, dict))
    if body["items"] != [item(i) for i in (1, 2, 4)] or named != ["3", "5"]:
        raise fail(situation, answer(response), expected + ' ({"id": 3, "error": "..."})')


# --- Task 5: retries, with backoff, of what may succeed later ---

RETRY_BASE = scaled(0.3)
"""RETRY_BASE_SECONDS: the grader's own, not the default."""
GROWTH = 1.5
"""Each nominal pause is at least this many times the one before."""


def pauses(attempts: list[Received]) -> list[float]:
    """The time between each attempt's end (the upstream's answer) and the next's arrival."""
    return [after.at - before.ended for before, after in zip(attempts, attempts[1:], strict=False)]


def times(count: int, what: str = "attempt") -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def shown(seconds: list[float]) -> str:
    return ", ".join(f"{s:.3f} s" for s in seconds) or "none"


async def test_quotes_retry_with_backoff(lab: LabContext):
    script = [Reply(503), Reply(502), RESET, Reply(504), Reply(200, QUOTE)]
    told = "503, 502, a connection reset, 504, then the quote"
    app_settings = settings(MAX_ATTEMPTS=len(script), RETRY_BASE_SECONDS=RETRY_BASE)
    async with upstream() as fake:
        fake.answer = in_turn(*script)
        app_settings["UPSTREAM_URL"] = fake.url
        async with lab.server(app_settings) as server, server.client() as client:
            response = await client.get("/quotes/ACME")
    attempts = fake.to("/quotes/ACME")
    situation = f"GET /quotes/ACME, MAX_ATTEMPTS={len(script)}, the upstream answering {told}"
    if response.status_code != 200 or len(attempts) != len(script):
        raise fail(
            situation,
            f"{answer(response)}, after {times(len(attempts))}",
            f"200 OK {QUOTE}, after {len(script)} attempts: each of those failures may pass, "
            "and is retried",
            response=response,
        )
    measured = pauses(attempts)
    least = [JITTER * RETRY_BASE * GROWTH**k for k in range(len(measured))]
    if any(got < need for got, need in zip(measured, least, strict=True)):
        raise fail(
            f"{situation}; RETRY_BASE_SECONDS={RETRY_BASE:g}",
            f"pauses between attempts of {shown(measured)}",
            f"pauses of at least {shown(least)}: the first RETRY_BASE_SECONDS, each next at "
            f"least {GROWTH:g} times the one before (10% shorter is fine, for jitter)",
        )
    lab.record_timing("quote after 4 failures (backoff)", sum(measured))


async def test_quotes_honour_retry_after(lab: LabContext):
    told = max(1, math.ceil(5 * RETRY_BASE))
    app_settings = settings(MAX_ATTEMPTS=3, RETRY_BASE_SECONDS=RETRY_BASE)
    async with upstream() as fake:
        fake.answer = in_turn(Reply(429, headers={"Retry-After": str(told)}), Reply(200, QUOTE))
        app_settings["UPSTREAM_URL"] = fake.url
        async with lab.server(app_settings) as server, server.client() as client:
            response = await client.get("/quotes/ACME")
    attempts = fake.to("/quotes/ACME")
    situation = f"GET /quotes/ACME, the upstream answering 429 with Retry-After: {told}, then 200"
    measured = pauses(attempts)
    if response.status_code != 200 or len(attempts) != 2 or measured[0] < JITTER * told:
        raise fail(
            situation,
            f"{answer(response)} after {times(len(attempts))}, pauses of {shown(measured)}",
            f"2 attempts, the second at least {JITTER * told:g} s after the 429: the pause the "
            "upstream asked for, not your own backoff",
        )


async def test_quotes_never_retry_client_errors(lab: LabContext):
    async with upstream() as fake:
        fake.answer = lambda method, path: (
            Reply(404, {"error": "unknown symbol"})
            if path == "/quotes/NOPE"
            else Reply(400, {"error": "bad symbol"})
        )
        app_settings = settings(fake.url, MAX_ATTEMPTS=4, RETRY_BASE_SECONDS=RETRY_BASE)
        async with lab.server(app_settings) as server, server.client() as client:
            for symbol, upstream_status, status, code in [
                ("NOPE", 404, 404, "QUOTE_NOT_FOUND"),
                ("BAD", 400, 502, "UPSTREAM_ERROR"),
            ]:
                response = await client.get(f"/quotes/{symbol}")
                tries = len(fake.to(f"/quotes/{symbol}"))
                if tries != 1:
                    raise fail(
                        f"GET /quotes/{symbol}, the upstream answering {upstream_status}",
                        f"{answer(response)}, after {times(tries, 'request')} to the upstream",
                        f"one request: a {upstream_status} says the request itself is wrong, and "
                        "sending it again cannot change the answer",
                    )
                expect_error(response, status, code)


async def test_quotes_stop_after_max_attempts(lab: LabContext):
    attempts_allowed = 3
    base = scaled(0.1)
    patience = 2 * TIMEOUT + 4 * base * sum(2**k for k in range(attempts_allowed))
    async with upstream() as fake:
        fake.reply_with(Reply(503, {"error": "overloaded"}))
        app_settings = settings(fake.url, MAX_ATTEMPTS=attempts_allowed, RETRY_BASE_SECONDS=base)
        async with lab.server(app_settings) as server, server.client() as client:
            situation = (
                f"GET /quotes/ACME, MAX_ATTEMPTS={attempts_allowed}, the upstream always 503"
            )
            try:
                response = await client.get("/quotes/ACME", timeout=patience)
            except httpx.TimeoutException:
                raise fail(
                    situation,
                    f"no answer after {patience:.2f} s: your app is still waiting, after "
                    f"{times(len(fake.received))} so far",
                    f"{attempts_allowed} attempts in all, then 503 UPSTREAM_UNAVAILABLE",
                ) from None
    tries = len(fake.received)
    if tries != attempts_allowed:
        raise fail(
            situation,
            f"{answer(response)}, after {times(tries)}",
            f"{attempts_allowed} attempts in all (the first and its retries), then 503",
            response=response,
        )
    expect_error(response, 503, "UPSTREAM_UNAVAILABLE")
    if not response.headers.get("Retry-After", "").strip().isdigit():
        raise fail(
            situation,
            f"{answer(response)}, Retry-After: {response.headers.get('Retry-After')}",
            "a Retry-After header with the seconds to wait before asking again",
            response=response,
        )


# --- Task 6: a fallback provider ---


async def test_summaries_fall_back_to_the_second_provider(lab: LabContext):
    def provider(name: str) -> Answer:
        return lambda method, path: Reply(200, {"summary": f"{name} summary"})

    async with upstream() as primary, upstream() as fallback:
        fallback.answer = provider("fallback")
        app_settings = {
            **settings(
                MAX_ATTEMPTS=3, RETRY_BASE_SECONDS=scaled(0.1), PART_TIMEOUT_SECONDS=TIMEOUT
            ),
            "PRIMARY_PROVIDER_URL": primary.url,
            "FALLBACK_PROVIDER_URL": fallback.url,
        }
        async with lab.server(app_settings) as server, server.client() as client:
            cases = [
                ("answering", provider("primary"), "primary"),
                ("answering 503, always", lambda m, p: Reply(503), "fallback"),
                ("never answering", lambda m, p: Reply(200, {}, delay=HANG), "fallback"),
            ]
            for number, (behaviour, answer_with, expected) in enumerate(cases):
                primary.answer = answer_with
                text = f"text {number}: the primary provider {behaviour}"
                response = await get_patiently(
                    client,
                    "/summaries",
                    text.split(": ", 1)[1],
                    method="POST",
                    expected=f"the {expected}'s summary: the primary's 5xx retried at most "
                    f"MAX_ATTEMPTS=3 times, each call given PART_TIMEOUT_SECONDS={TIMEOUT:g}",
                    json={"text": text},
                )
                await expect_summary(response, text, expected, primary, fallback)
        app_settings["PRIMARY_PROVIDER_URL"] = NOWHERE
        async with lab.server(app_settings) as server, server.client() as client:
            text = "text 3: the primary provider refusing connections"
            response = await get_patiently(
                client,
                "/summaries",
                text.split(": ", 1)[1],
                method="POST",
                expected="the fallback's summary",
                json={"text": text},
            )
            await expect_summary(response, text, "fallback", primary, fallback)


async def expect_summary(
    response: httpx.Response, text: str, provider: str, primary: Upstream, fallback: Upstream
) -> None:
    """The answer names `provider`, and gives its summary; the providers saw what they should."""
    expected = {"summary": f"{provider} summary", "provider": provider}
    asked = {
        name: [r for r in fake.to("/summaries") if r.method == "POST" and text in r.body.decode()]
        for name, fake in (("primary", primary), ("fallback", fallback))
    }
    situation = text.split(": ", 1)[1]
    if response.status_code != 200 or response.json() != expected:
        raise fail(
            f"POST /summaries, {situation}",
            f"{answer(response)}; the primary asked {len(asked['primary'])} times, "
            f"the fallback {len(asked['fallback'])}",
            f"200 OK {json.dumps(expected)}",
            response=response,
        )
    if provider == "primary" and asked["fallback"]:
        raise fail(f"POST /summaries, {situation}", "the fallback asked too", "the primary only")
    if "503" in situation and len(asked["primary"]) < 2:
        raise fail(
            f"POST /summaries, {situation}",
            f"the primary asked {len(asked['primary'])} time(s), then the fallback",
            "the primary's 503 retried (with backoff, as for quotes), then the fallback",
        )
    if "never answering" in situation and len(asked["primary"]) != 1:
        raise fail(
            f"POST /summaries, {situation}",
            f"the primary asked {len(asked['primary'])} times",
            "the primary asked once: a timeout is not retried, the fallback is asked instead",
        )
    if provider == "fallback" and len(asked["fallback"]) != 1:
        raise fail(
            f"POST /summaries, {situation}",
            f"the fallback asked {len(asked['fallback'])} times",
            f'the fallback asked once, with {{"text": "{text}"}}',
        )


# --- Task 7: order checks, cancelled when one fails ---

CHECKS = ("stock", "credit", "fraud")


def checks_answer(**replies: Reply) -> Answer:
    """Each check passes (200) unless `replies` says otherwise."""
    return lambda method, path: replies.get(path.rsplit("/", 1)[-1], Reply(200, {"ok": True}))


async def test_validation_answers_by_outcome(lab: LabContext):
    async with upstream() as fake:
        async with lab.server(settings(fake.url)) as server, server.client() as client:
            for told, replies, status, code in [
                ("all three checks passing", {}, 200, None),
                ("the stock check answering 409", {"stock": Reply(409)}, 422, "ORDER_INVALID"),
                ("the credit check answering 500", {"credit": Reply(500)}, 502, "UPSTREAM_ERROR"),
            ]:
                fake.answer = checks_answer(**replies)
                response = await client.post("/orders/validate", json={"order_id": 42})
                if code is None:
                    expect_status(response, 200)
                    if response.json() != {"valid": True}:
                        raise fail(
                            f"POST /orders/validate, {told}", answer(response), '{"valid": true}'
                        )
                    continue
                if response.status_code != status:
                    raise fail(
                        f"POST /orders/validate, {told}",
                        answer(response),
                        error_body(status, code),
                        response=response,
                    )
                expect_error(response, status, code)


async def test_validation_cancels_the_other_checks(lab: LabContext):
    fails_after, slow = scaled(0.2), scaled(8.0)
    app_settings = settings(PART_TIMEOUT_SECONDS=2 * slow)
    async with upstream() as fake:
        fake.answer = checks_answer(
            stock=Reply(200, {"ok": True}, delay=slow),
            credit=Reply(200, {"ok": True}, delay=slow),
            fraud=Reply(409, {"error": "suspicious"}, delay=fails_after),
        )
        app_settings["UPSTREAM_URL"] = fake.url
        async with lab.server(app_settings) as server, server.client() as client:
            start = time.perf_counter()
            response = await client.post("/orders/validate", json={"order_id": 42})
            took = time.perf_counter() - start
            window = start + fails_after + slow / 2
            others = [r for r in fake.received if not r.path.endswith("/fraud")]
            while time.perf_counter() < window and not all(r.ended for r in others):
                await asyncio.sleep(0.01)
            served = sorted(r.path.rsplit("/", 1)[-1] for r in others if not r.hung_up)
    situation = (
        f"POST /orders/validate, the fraud check failing after {fails_after:.2f} s, "
        f"the stock and credit checks taking {slow:.2f} s"
    )
    expected = (
        f"the answer soon after the failure (under {fails_after + slow / 2:.2f} s), and your app "
        "hanging up on the stock and credit checks: the failure cancels them"
    )
    if response.status_code != 422:
        raise fail(situation, answer(response), error_body(422, "ORDER_INVALID"), response=response)
    expect_error(response, 422, "ORDER_INVALID")
    if len(others) != 2 or took >= fails_after + slow / 2:
        raise fail(
            situation,
            f"the answer after {took:.2f} s, with {len(others)} of the stock and credit checks "
            "called before it: the checks ran one after another",
            expected,
        )
    if served:
        raise fail(
            situation,
            f"the answer after {took:.2f} s, but the {' and '.join(served)} check(s) still served "
            f"{slow / 2:.2f} s after the failure: nothing cancelled them",
            expected,
        )
    lab.record_timing("validation, failing fast", took)
