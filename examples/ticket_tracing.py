"""OpenTelemetry traces by hand for a ticketing API: a server span per request named after its
route template, child spans around the database query and the call to the payments service,
the W3C `traceparent` header sent on to that service, exceptions recorded on the span, the
trace id on every log line, and sampling that follows the caller's decision.

The tracer provider is passed in, never set globally, so tests stay independent. The app turns
FastAPI's own tracing off (`telemetry={"tracing": False}`): it makes its server spans itself.

Module 8's lesson includes parts of this file. Run it with `pytest examples/ticket_tracing.py`.
"""

import asyncio
import io
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("ticket_office")


# --8<-- [start:server_span]
class ServerSpans:
    """One SERVER span per request, continuing the caller's trace when it sent `traceparent`."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        caller = propagate.extract(headers)  # the caller's span, if it sent traceparent
        method = scope["method"]
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method, context=caller, kind=SpanKind.SERVER, attributes={"http.request.method": method}
        ) as span:
            try:
                await self.app(scope, receive, send_and_note)
            finally:  # routing has happened: name the span after the template, never the path
                route = scope.get("route")
                if route is not None:
                    template = scope.get("root_path", "") + route.path_format
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


# --8<-- [end:server_span]


# --8<-- [start:boundary]
class AnswerErrors:
    """The innermost layer: records an unhandled exception on the request's span, logs it, and
    answers a JSON 500 itself, so that no exception reaches the server (which would close the
    connection) and every layer outside sees an ordinary response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:
            span = trace.get_current_span()  # the server span, set by the layer outside
            span.record_exception(exc)  # an "exception" event: type, message, stack trace
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            logger.exception("unhandled_error")
            if started or scope["type"] != "http":
                raise
            await JSONResponse({"error": "internal"}, status_code=500)(scope, receive, send)


# --8<-- [end:boundary]


# --8<-- [start:trace_ids]
class TraceIds(logging.Filter):
    """Puts the current trace and span ids on each record, as 32 and 16 lowercase hex digits:
    the form tracing back ends show and search, so a log line leads to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format_trace_id(context.trace_id) if context.is_valid else None
        record.span_id = format_span_id(context.span_id) if context.is_valid else None
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"event": record.getMessage(), "trace_id": record.trace_id}
        return json.dumps({**entry, "span_id": record.span_id})


# --8<-- [end:trace_ids]


# --8<-- [start:child_spans]
def find_event(db: sqlite3.Connection, event_id: int) -> tuple[str, int] | None:
    return db.execute("SELECT name, price FROM events WHERE id = ?", (event_id,)).fetchone()


def create_app(tracer_provider: TracerProvider, payments: httpx.AsyncBaseTransport) -> FastAPI:
    tracer = tracer_provider.get_tracer("ticket_office")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT, price INTEGER)")
        db.execute("INSERT INTO events VALUES (7, 'Proms', 4500)")
        async with httpx.AsyncClient(transport=payments, base_url="http://payments") as client:
            app.state.db, app.state.payments = db, client
            yield
        db.close()

    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False})  # our spans, not FastAPI's
    app.add_middleware(AnswerErrors)
    app.add_middleware(ServerSpans, tracer=tracer)

    @app.post("/events/{event_id}/purchases")
    async def purchase(event_id: int, request: Request) -> dict[str, str | int]:
        with tracer.start_as_current_span("SELECT events", kind=SpanKind.CLIENT) as span:
            span.set_attributes({"db.system.name": "sqlite", "db.collection.name": "events"})
            found = await asyncio.to_thread(find_event, request.app.state.db, event_id)
        if found is None:
            raise HTTPException(404, "no such event")
        name, price = found
        logger.info("event_found")
        with tracer.start_as_current_span("payments.charge", kind=SpanKind.CLIENT) as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)  # traceparent: this trace, and this span as the parent
            answer = await request.app.state.payments.post(
                "/charges", json={"amount": price}, headers=headers
            )
            span.set_attribute("http.response.status_code", answer.status_code)
            answer.raise_for_status()  # a 5xx from payments: recorded, then a 500 for us
        return {"event": name, "charge": answer.json()["id"]}

    return app


# --8<-- [end:child_spans]


class FakePayments:
    """The payments service: answers charges, remembers the traceparent of each, can fail."""

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []
        self.failing = False
        self.app = FastAPI()
        self.app.post("/charges")(self.charge)

    async def charge(self, request: Request) -> JSONResponse:
        self.traceparents.append(request.headers.get("traceparent"))
        if self.failing:
            return JSONResponse({"error": "card processor down"}, status_code=503)
        return JSONResponse({"id": "ch_1"}, status_code=201)


def traced(
    sampler: ParentBased | None = None,
) -> tuple[TestClient, FakePayments, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # exported as each span ends
    payments = FakePayments()
    app = create_app(provider, httpx.ASGITransport(app=payments.app))
    return TestClient(app), payments, exporter


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


# --8<-- [start:tests]
def test_one_trace_a_server_span_and_two_children() -> None:
    client, payments, exporter = traced()
    with client:
        assert client.post("/events/7/purchases").status_code == 200
    spans = by_name(exporter.get_finished_spans())
    server = spans["POST /events/{event_id}/purchases"]  # the template, not /events/7/...
    assert server.kind is SpanKind.SERVER and server.parent is None
    assert server.attributes["http.route"] == "/events/{event_id}/purchases"
    for child in ("SELECT events", "payments.charge"):
        assert spans[child].parent.span_id == server.context.span_id
        assert spans[child].context.trace_id == server.context.trace_id
    # The payments service was told which trace, and which span, its work belongs to.
    charge = spans["payments.charge"].context
    version, trace_id, parent_id, flags = payments.traceparents[0].split("-")
    assert version == "00" and int(flags, 16) & 0x01  # bit 0: sampled (bit 1: random id)
    assert trace_id == format_trace_id(charge.trace_id)
    assert parent_id == format_span_id(charge.span_id)


def test_a_callers_traceparent_is_continued() -> None:
    client, _, exporter = traced()
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with client:
        client.post("/events/7/purchases", headers={"traceparent": caller})
    server = by_name(exporter.get_finished_spans())["POST /events/{event_id}/purchases"]
    assert format_trace_id(server.context.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert format_span_id(server.parent.span_id) == "00f067aa0ba902b7"
    assert server.parent.is_remote


def test_a_failure_is_recorded_on_the_span_and_answered_with_a_500() -> None:
    client, payments, exporter = traced()
    payments.failing = True
    with client:  # TestClient re-raises what reaches the server: nothing does
        answer = client.post("/events/7/purchases")
    assert answer.status_code == 500 and answer.json() == {"error": "internal"}
    spans = by_name(exporter.get_finished_spans())
    server = spans["POST /events/{event_id}/purchases"]
    assert server.status.status_code is StatusCode.ERROR
    (event,) = server.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "httpx.HTTPStatusError"
    assert "Traceback" in event.attributes["exception.stacktrace"]
    assert spans["payments.charge"].status.status_code is StatusCode.ERROR  # where it happened
    assert spans["payments.charge"].attributes["http.response.status_code"] == 503


def test_log_lines_carry_the_trace_id() -> None:
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(TraceIds())
    handler.setFormatter(JsonLines())
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    client, payments, exporter = traced()
    payments.failing = True
    with client:
        client.post("/events/7/purchases")
    server = by_name(exporter.get_finished_spans())["POST /events/{event_id}/purchases"]
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["event_found", "unhandled_error"]
    for line in lines:
        assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
        assert line["trace_id"] == format_trace_id(server.context.trace_id)
    assert lines[1]["span_id"] == format_span_id(server.context.span_id)


def test_sampling_follows_the_callers_decision() -> None:
    # Keep no new traces of our own (ratio 0), but honour a caller that sampled its trace.
    client, payments, exporter = traced(ParentBased(TraceIdRatioBased(0.0)))
    sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    not_sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    with client:
        client.post("/events/7/purchases")
        assert exporter.get_finished_spans() == ()  # our own decision: not sampled
        client.post("/events/7/purchases", headers={"traceparent": not_sampled})
        assert exporter.get_finished_spans() == ()
        client.post("/events/7/purchases", headers={"traceparent": sampled})
        assert len(exporter.get_finished_spans()) == 3  # server, database, payments
    # Unsampled traces still travel on, so the next service makes the same decision.
    assert payments.traceparents[1].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert int(payments.traceparents[1][-2:], 16) & 0x01 == 0
    assert int(payments.traceparents[2][-2:], 16) & 0x01 == 1


def test_the_batch_processor_exports_later_in_the_background() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    app = create_app(provider, httpx.ASGITransport(app=FakePayments().app))
    with TestClient(app) as client:
        client.post("/events/7/purchases")
    assert exporter.get_finished_spans() == ()  # queued: the next export is a minute away
    provider.shutdown()  # what a lifespan does on the way out: flush the queue, then stop
    assert len(exporter.get_finished_spans()) == 3


# --8<-- [end:tests]
