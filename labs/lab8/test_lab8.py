"""Lab 8 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab8`. Every check starts your app on a server of its own, with an inventory
service and an OpenTelemetry collector that the grader runs as real HTTP servers on 127.0.0.1:
the collector decodes the spans your app exports, the inventory service records the headers your
app sends. The grader reads your app's log lines from its stdout, and its metrics from /metrics.
"""

import asyncio
import itertools
import json
import re
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from grader import LabContext, expect_error, expect_status, fail, scaled
from grader.expect import answer
from grader.fakes.otlp import ERROR, SERVER, Collector, Span, collector
from grader.fakes.upstream import Reply, upstream
from grader.server import LabServer

SERVICE = "grader-lab8"
"""SERVICE_NAME: the grader's own, not the default."""
SLOW = scaled(8.0)
"""SLOW_SECONDS."""
LOOKUP = scaled(0.4)
"""How long the inventory service takes to answer."""
EXPORT_WAIT = 2.0
"""Seconds spans may take to reach the collector: a batch processor exports every few hundred
milliseconds at most. Real seconds, at any time scale."""
LOG_WAIT = 2.0
"""Seconds a log line may take to reach the grader after the answer (a background task's comes
after it). Real seconds."""
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
ITEM = "/items/{item_id}"
_ids = itertools.count(1)


def prefix_clue(*routes: str) -> str:
    """Why a template lacks the router's prefix, when one of `routes` shows that it does."""
    if any(route.startswith("/{") or route == "/" for route in routes):
        return (
            " (since FastAPI 0.137 a prefix given to `include_router` is not in the route's "
            "template: put it on the `APIRouter(prefix=...)`)"
        )
    return ""


def settings(otel: Collector | None, inventory_url: str, slow: float = SLOW) -> dict[str, str]:
    values = {"SERVICE_NAME": SERVICE, "INVENTORY_URL": inventory_url, "SLOW_SECONDS": str(slow)}
    if otel is not None:
        values["OTEL_EXPORTER_OTLP_ENDPOINT"] = otel.endpoint
    return values


def inventory_answer(delay: float = 0.0):
    """GET /inventory/{item_id} → {"item_id", "in_stock"}, after `delay`."""

    def answer_with(method: str, path: str) -> Reply:
        item_id = int(path.rsplit("/", 1)[-1])
        return Reply(200, {"item_id": item_id, "in_stock": 10 + item_id}, delay=delay)

    return answer_with


def request_id() -> str:
    return f"grader-request-{next(_ids)}"


async def get_item(client: httpx.AsyncClient, item_id: int, rid: str) -> httpx.Response:
    response = await client.get(f"/items/{item_id}", headers={"X-Request-ID": rid})
    expect_status(response, 200)
    return response


def parsed(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def log_lines(server: LabServer, wanted: set[str]) -> list[dict]:
    """The app's stdout, as JSON objects, once lines with each `wanted` event have come (or
    LOG_WAIT has passed); lines that are not JSON objects are left out."""
    for _ in range(int(LOG_WAIT / 0.05)):
        lines = [line for text in server.output.stdout if (line := parsed(text)) is not None]
        if wanted <= {line.get("event") for line in lines}:
            break
        await asyncio.sleep(0.05)
    return lines


def shown_lines(lines: list[dict], count: int = 8) -> str:
    return "\n".join(json.dumps(line)[:200] for line in lines[-count:]) or "(none)"


def server_spans(spans: list[Span]) -> list[Span]:
    return [span for span in spans if span.kind == SERVER]


def shown_spans(spans: list[Span]) -> str:
    return (
        ", ".join(
            f"{span.name!r} (kind {span.kind}, trace {span.trace_id[:8]}…, "
            f"parent {span.parent_id[:8] or 'none'})"
            for span in spans
        )
        or "no spans"
    )


async def the_server_span(otel: Collector, situation: str) -> tuple[Span, list[Span]]:
    """The one server span the collector received for the check's one request, and all the
    spans received."""
    spans = await otel.wait_for(lambda got: bool(server_spans(got)), EXPORT_WAIT)
    if len(server_spans(spans)) != 1:
        late = (
            ": is a span processor exporting to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces? A "
            "BatchSpanProcessor waits 5 s by default; a schedule_delay_millis of a few hundred "
            "sends them in time"
            if not spans
            else ""
        )
        raise fail(
            situation,
            f"the collector received {shown_spans(spans)} within {EXPORT_WAIT:g} s",
            f"exactly one span of kind SERVER for the request{late}",
        )
    return server_spans(spans)[0], spans


# --- Task 1: logs ---


async def test_log_lines_are_json(lab: LabContext):
    async with upstream() as inventory:
        inventory.answer = inventory_answer()
        async with lab.server(settings(None, inventory.url), probes=["stdout"]) as server:
            async with server.client() as client:
                rid = request_id()
                echoed = (await get_item(client, 7, rid)).headers.get("X-Request-ID")
                if echoed != rid:
                    raise fail(
                        f"GET /items/7 with X-Request-ID: {rid}",
                        f"X-Request-ID: {echoed}",
                        "the same X-Request-ID back: an incoming id is reused and echoed",
                    )
                fresh = (await client.get("/items/8")).headers.get("X-Request-ID")
                if not fresh:
                    raise fail("GET /items/8, with no X-Request-ID", "no X-Request-ID", "a new id")
                await log_lines(server, {"price_computed"})
                stdout = list(server.output.stdout)
    if not stdout:
        raise fail(
            "GET /items/7 and GET /items/8",
            "no line on your app's stdout",
            "JSON log lines on stdout, one per event",
        )
    not_json = [line for line in stdout if parsed(line) is None]
    keys = {"event", "request_id", "trace_id"}
    incomplete = [line for line in stdout if (p := parsed(line)) and not keys <= p.keys()]
    if not_json or incomplete:
        wrong = (not_json or incomplete)[:3]
        raise fail(
            "GET /items/7 and GET /items/8",
            "lines on your app's stdout such as:\n  " + "\n  ".join(w[:200] for w in wrong),
            "every line on stdout one JSON object, with event, request_id and trace_id "
            + ("(turn uvicorn's plain-text access log off)" if not_json else ""),
        )
    mine = [p for line in stdout if (p := parsed(line)) and p.get("request_id") == rid]
    bad_ids = [p for p in mine if not TRACE_ID.match(str(p.get("trace_id")))]
    if not mine or bad_ids:
        raise fail(
            f"GET /items/7 with X-Request-ID: {rid}",
            f"its lines: {shown_lines(mine) if mine else '(no line with that request_id)'}",
            "lines with that request_id, each with a trace_id of 32 lowercase hex digits",
        )


async def test_every_line_of_a_request_carries_its_ids(lab: LabContext):
    async with upstream() as inventory:
        inventory.answer = inventory_answer()
        async with lab.server(settings(None, inventory.url), probes=["stdout"]) as server:
            async with server.client() as client:
                item_rid, signup_rid = request_id(), request_id()
                await get_item(client, 7, item_rid)
                response = await client.post(
                    "/signup",
                    json={"email": "ada@example.com", "password": "a-long-password"},
                    headers={"X-Request-ID": signup_rid, "Authorization": "Bearer grader"},
                )
                expect_status(response, 201)
                events = {"inventory_checked", "price_computed", "welcome_email_sent"}
                lines = await log_lines(server, events | {"user_signed_up"})
                stdout = list(server.output.stdout)
    expected = {
        "inventory_checked": (item_rid, "GET /items/7's service"),
        "price_computed": (item_rid, "GET /items/7's asyncio.to_thread work"),
        "user_signed_up": (signup_rid, "POST /signup's service"),
        "welcome_email_sent": (signup_rid, "POST /signup's background task"),
    }
    for event, (rid, where) in expected.items():
        found = [line for line in lines if line.get("event") == event]
        if not found:
            raise fail(
                f"GET /items/7 (X-Request-ID: {item_rid}), then POST /signup ({signup_rid})",
                f"no JSON line with event {event!r} on stdout; its last lines:\n"
                + "\n".join(line[:200] for line in stdout[-6:]),
                f"a line with event {event!r}, written by {where}",
            )
        line = found[-1]
        same_trace = {other.get("trace_id") for other in lines if other.get("request_id") == rid}
        if line.get("request_id") != rid or len(same_trace) != 1 or not line.get("trace_id"):
            raise fail(
                f"GET /items/7 (X-Request-ID: {item_rid}), then POST /signup ({signup_rid})",
                f"the {event} line, written by {where}: {json.dumps(line)[:300]}",
                f'"request_id": "{rid}", and the trace_id of that request\'s other lines',
            )


async def test_logs_hold_no_secrets(lab: LabContext):
    number = next(_ids)
    secrets = {
        "the email": f"grader.secret.{number}@example.com",
        "the password": f"Grader-Passw0rd-{number}",
        "the Authorization header": f"grader-token-{number}",
    }
    async with upstream() as inventory:
        async with lab.server(settings(None, inventory.url), probes=["stdout"]) as server:
            async with server.client() as client:
                response = await client.post(
                    "/signup",
                    json={"email": secrets["the email"], "password": secrets["the password"]},
                    headers={"Authorization": f"Bearer {secrets['the Authorization header']}"},
                )
                expect_status(response, 201)
                await log_lines(server, {"welcome_email_sent"})
                output = list(server.output.lines)
    for what, secret in secrets.items():
        leaked = [line for line in output if secret in line]
        if leaked:
            raise fail(
                "POST /signup with an email, a password and an Authorization header",
                f"{what} in your app's output:\n  {leaked[0][:300]}",
                "no line holding the email, the password or the Authorization header: log ids "
                "and outcomes, never what the client sent",
            )


# --- Task 2: metrics ---


def samples(text: str, name: str) -> list:
    """The samples named `name` in a Prometheus text exposition."""
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    expect_status(response, 200)
    return response.text


async def test_requests_counted_by_route(lab: LabContext):
    count = 50
    async with upstream() as inventory:
        inventory.answer = inventory_answer()
        async with lab.server(settings(None, inventory.url)) as server, server.client() as client:
            for first in range(1, count + 1, 10):  # ten at a time
                ids = range(first, min(first + 10, count + 1))
                await asyncio.gather(*(get_item(client, i, request_id()) for i in ids))
            await scrape(client)
            text = await scrape(client)
    counted = samples(text, "http_requests_total")
    situation = f"GET /items/1 to GET /items/{count}, then GET /metrics twice"
    labels = [set(sample.labels) for sample in counted]
    if not counted or any(keys != {"method", "route", "status"} for keys in labels):
        raise fail(
            situation,
            "http_requests_total series labelled "
            + (", ".join(sorted({", ".join(sorted(keys)) for keys in labels})) or "nothing"),
            "http_requests_total with exactly the labels method, route and status",
        )
    items = [s for s in counted if s.labels["route"].startswith("/items")]
    expected = {"method": "GET", "route": ITEM, "status": "200"}
    if len(items) != 1 or items[0].labels != expected or items[0].value != count:
        shown = "; ".join(f"{s.labels} {s.value:g}" for s in items[:4]) or "none"
        routes = sorted({s.labels["route"] for s in counted if s.labels["route"] != "/metrics"})
        raise fail(
            situation,
            f"{len(items)} series for the items: {shown}; routes counted: {', '.join(routes)}"
            + prefix_clue(*routes),
            f'one series, {{method="GET", route="{ITEM}", status="200"}}, counting {count}: '
            "the route's template, never the path, or every id makes a series",
        )
    if any(s.labels["route"] == "/metrics" for s in counted):
        raise fail(situation, "GET /metrics counted", "/metrics left out of the metrics")


def bucket_counts(text: str, route: str) -> dict[float, float]:
    """The histogram's cumulative count at each bucket boundary, for GET `route`."""
    return {
        float(sample.labels["le"]): sample.value
        for sample in samples(text, "http_request_duration_seconds_bucket")
        if sample.labels.get("route") == route and sample.labels.get("method") == "GET"
    }


async def test_duration_buckets_separate_slow_requests(lab: LabContext):
    slow = scaled(2.0)
    async with upstream() as inventory:
        inventory.answer = inventory_answer()
        async with lab.server(settings(None, inventory.url, slow)) as server:
            async with server.client() as client:
                for item_id in range(1, 6):
                    await get_item(client, item_id, request_id())
                expect_status(await client.get("/slow"), 200)
                text = await scrape(client)
    fast, slowest = bucket_counts(text, ITEM), bucket_counts(text, "/slow")
    situation = f"GET /items/1 to /items/5 (milliseconds each), then GET /slow ({slow:g} s)"
    separating = [
        le for le in fast if fast[le] == 5 and slowest.get(le, 1) == 0 and le != float("inf")
    ]
    if not separating:
        routes = {
            sample.labels.get("route", "")
            for sample in samples(text, "http_request_duration_seconds_bucket")
        }
        clue = prefix_clue(*routes) if not fast else ""
        raise fail(
            situation,
            f"http_request_duration_seconds buckets: items {fast or 'none'}; /slow "
            f"{slowest or 'none'}{clue}",
            "a histogram labelled method and route, with a bucket boundary that the five fast "
            "requests fall under and the slow one does not: buckets chosen for the service",
        )


async def test_in_progress_gauge_counts_open_requests(lab: LabContext):
    async with upstream() as inventory:
        async with lab.server(settings(None, inventory.url)) as server, server.client() as client:

            async def gauge() -> float | None:
                found = samples(await scrape(client), "http_requests_in_progress")
                return found[0].value if len(found) == 1 else None

            held = [asyncio.create_task(client.get("/slow")) for _ in range(3)]
            readings: list[float | None] = []
            until = time.perf_counter() + 0.75 * SLOW
            while 3 not in readings and time.perf_counter() < until:
                readings.append(await gauge())
                await asyncio.sleep(0.05)
            for response in await asyncio.gather(*held):
                expect_status(response, 200)
            boom = await client.get("/boom")
            after = await gauge()
    if 3 not in readings:
        raise fail(
            "3 requests to GET /slow held open, and GET /metrics meanwhile",
            f"http_requests_in_progress read {sorted(set(readings), key=str)}"
            if readings != [None] * len(readings)
            else "no http_requests_in_progress gauge in /metrics",
            "3 while the three are being served (a gauge without labels; /metrics itself left out)",
        )
    if after != 0:
        raise fail(
            "3 requests to GET /slow, then GET /boom, which raises, then GET /metrics",
            f"http_requests_in_progress {after} after they ended (GET /boom: {answer(boom)})",
            "0: decrement in a `finally`, so that a request that raises is not counted for ever",
        )


# --- Task 3: traces ---


async def test_each_request_makes_one_server_span(lab: LabContext):
    async with collector() as otel, upstream() as inventory:
        inventory.answer = inventory_answer()
        async with lab.server(settings(otel, inventory.url)) as server:
            async with server.client() as client:
                await get_item(client, 7, request_id())
                span, _ = await the_server_span(otel, "GET /items/7")
    if span.name != f"GET {ITEM}" or span.service != SERVICE:
        raise fail(
            "GET /items/7",
            f"a server span named {span.name!r}, service.name {span.service!r}"
            + prefix_clue(span.name.partition(" ")[2]),
            f"the name 'GET {ITEM}' (the route's template, not the path: one name for every "
            f'item) and service.name "{SERVICE}", from SERVICE_NAME, on the provider\'s resource',
        )


async def test_outbound_call_has_a_child_span(lab: LabContext):
    async with collector() as otel, upstream() as inventory:
        inventory.answer = inventory_answer(delay=LOOKUP)
        async with lab.server(settings(otel, inventory.url)) as server:
            async with server.client() as client:
                await get_item(client, 7, request_id())
                parent, spans = await the_server_span(otel, "GET /items/7")
                spans = await otel.wait_for(
                    lambda got: any(s.name == "inventory.lookup" for s in got), EXPORT_WAIT
                )
    lookups = [span for span in spans if span.name == "inventory.lookup"]
    situation = f"GET /items/7, the inventory service answering after {LOOKUP:.2f} s"
    if (
        len(lookups) != 1
        or lookups[0].trace_id != parent.trace_id
        or lookups[0].parent_id != parent.span_id
    ):
        raise fail(
            situation,
            f"the spans: {shown_spans(spans)}",
            f"one span 'inventory.lookup', a child of {parent.name!r} (its parent is that "
            "span, in the same trace)",
        )
    if lookups[0].seconds < 0.9 * LOOKUP:
        raise fail(
            situation,
            f"an 'inventory.lookup' span lasting {lookups[0].seconds:.3f} s",
            f"a span around the call, lasting at least the {LOOKUP:.2f} s the call took",
        )


async def test_traceparent_reaches_the_upstream(lab: LabContext):
    async with collector() as otel, upstream() as inventory:
        inventory.answer = inventory_answer()
        async with lab.server(settings(otel, inventory.url)) as server:
            async with server.client() as client:
                await get_item(client, 7, request_id())
                span, _ = await the_server_span(otel, "GET /items/7")
    calls = inventory.to("/inventory/7")
    header = calls[0].headers.get("traceparent", "") if calls else ""
    match = TRACEPARENT.match(header)
    if not match or match[1] != span.trace_id:
        raise fail(
            "GET /items/7",
            f"the inventory service received traceparent: {header or '(none)'}",
            f"traceparent: 00-{span.trace_id}-<span id>-<flags>: the trace id of the request's "
            "spans, so that the next service's spans join the same trace",
        )


async def test_errors_are_recorded_on_the_span(lab: LabContext):
    async with collector() as otel, upstream() as inventory:
        async with lab.server(settings(otel, inventory.url)) as server:
            async with server.client() as client:
                response = await client.get("/boom")
                expect_error(response, 500, "INTERNAL_ERROR")
                span, _ = await the_server_span(otel, "GET /boom, which raises")
    if span.status != ERROR or "exception" not in span.events:
        raise fail(
            "GET /boom, which raises RuntimeError",
            f"its span: status code {span.status}, events {list(span.events) or 'none'}",
            "status ERROR (code 2) and an 'exception' event: span.record_exception(error) "
            "and span.set_status(Status(StatusCode.ERROR))",
            response=response,
        )


async def test_log_trace_id_matches_the_span(lab: LabContext):
    async with collector() as otel, upstream() as inventory:
        inventory.answer = inventory_answer()
        app_settings = settings(otel, inventory.url)
        async with lab.server(app_settings, probes=["stdout"]) as server:
            async with server.client() as client:
                rid = request_id()
                await get_item(client, 7, rid)
                span, _ = await the_server_span(otel, "GET /items/7")
                lines = await log_lines(server, {"price_computed"})
    mine = [line for line in lines if line.get("request_id") == rid]
    wrong = [line for line in mine if line.get("trace_id") != span.trace_id]
    if not mine or wrong:
        raise fail(
            f"GET /items/7 with X-Request-ID: {rid}",
            f"its lines' trace ids: {sorted({str(line.get('trace_id')) for line in mine})}",
            f"{span.trace_id}, the trace id of its spans: take it from the current span",
        )
