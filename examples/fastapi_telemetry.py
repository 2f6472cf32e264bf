"""What FastAPI's native telemetry (`FastAPI(telemetry=...)`, FastAPI 0.142 and later) does, and
what `opentelemetry-instrumentation-fastapi` does, shown on one small box-office API.

Every provider here is passed in explicitly. The one claim that needs a global tracer provider,
that native tracing switches itself on once there is one, is shown in a child process, so that
this test process never gets one.

Module 8's lesson includes parts of this file. Run it with `pytest examples/fastapi_telemetry.py`.
"""

import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

payments_calls: list[dict[str, str]] = []  # the headers of each call the fake payments saw
payments = FastAPI()


@payments.post("/charges")
async def charge() -> dict[str, str]:
    return {"id": "ch_1"}


def build_api(telemetry: dict | None = None) -> FastAPI:
    """A box office with its routes under /v2, given to include_router."""
    seats = APIRouter()

    @seats.post("/shows/{show_id}/seats")
    async def reserve(show_id: int) -> dict[str, int]:
        if show_id == 13:
            raise RuntimeError("the seating plan is corrupt")
        transport = httpx.ASGITransport(app=payments)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments") as client:
            answer = await client.post("/charges")
        payments_calls.append(dict(answer.request.headers))
        return {"show_id": show_id}

    app = FastAPI(telemetry=telemetry)
    app.include_router(seats, prefix="/v2")
    return app


def spans_of(app: FastAPI, exporter: InMemorySpanExporter, show_id: int) -> dict:
    exporter.clear()
    TestClient(app, raise_server_exceptions=False).post(f"/v2/shows/{show_id}/seats")
    return {span.name: span for span in exporter.get_finished_spans()}


def recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


# --8<-- [start:native]
def test_native_tracing_names_the_span_after_the_full_template() -> None:
    provider, exporter = recording()
    app = build_api({"tracer_provider": provider, "operation_spans": False})
    spans = spans_of(app, exporter, 7)
    assert list(spans) == ["POST /v2/shows/{show_id}/seats"]  # include_router's prefix too
    server = spans["POST /v2/shows/{show_id}/seats"]
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == "/v2/shows/{show_id}/seats"
    assert "traceparent" not in payments_calls[-1]  # no outbound span, nothing propagated


def test_operation_spans_cover_fastapis_own_steps() -> None:
    provider, exporter = recording()
    spans = spans_of(build_api({"tracer_provider": provider}), exporter, 7)
    assert set(spans) == {
        "POST /v2/shows/{show_id}/seats",
        "fastapi.dependencies",
        "fastapi.endpoint",
        "fastapi.serialization",
    }


def test_a_native_span_marks_an_error_but_records_no_exception_event() -> None:
    provider, exporter = recording()
    app = build_api({"tracer_provider": provider, "operation_spans": False})
    server = spans_of(app, exporter, 13)["POST /v2/shows/{show_id}/seats"]
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "RuntimeError"
    assert server.attributes["http.response.status_code"] == 500
    assert server.events == ()  # no "exception" event: no message, no stack trace on the span


def test_native_metrics_and_logs_go_through_opentelemetry_not_prometheus() -> None:
    reader = InMemoryMetricReader()
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    app = build_api(
        {
            "meter_provider": MeterProvider(metric_readers=[reader]),
            "logger_provider": logger_provider,
        }
    )
    client = TestClient(app, raise_server_exceptions=False)
    client.post("/v2/shows/7/seats")
    client.post("/v2/shows/13/seats")
    (scope,) = reader.get_metrics_data().resource_metrics[0].scope_metrics
    assert {metric.name for metric in scope.metrics} == {
        "http.server.request.duration",  # an OpenTelemetry histogram, in seconds
        "http.server.active_requests",
    }
    (record,) = [entry.log_record for entry in logs.get_finished_logs()]
    assert record.event_name == "http.server.request.exception"
    assert "the seating plan is corrupt" in record.attributes["exception.message"]


# --8<-- [end:native]


# --8<-- [start:global]
GLOBAL_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ticket_tracing import ServerSpans

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # as a service's start-up code, or an OTel distro, does
for telemetry in (None, {"tracing": False}):
    app = FastAPI(telemetry=telemetry)
    app.add_middleware(ServerSpans, tracer=trace.get_tracer("ticket_office"))
    app.get("/shows")(lambda: [])
    exporter.clear()
    TestClient(app).get("/shows")
    print(sorted(s.name for s in exporter.get_finished_spans() if s.kind.name == "SERVER"))
"""


def test_a_global_provider_switches_native_tracing_on_beside_your_own() -> None:
    run = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "['GET /shows', 'GET /shows']",  # FastAPI's server span, and ours inside it
        "['GET /shows']",  # with telemetry={"tracing": False}: ours alone
    ]


# --8<-- [end:global]


# --8<-- [start:contrib]
def test_the_contrib_instrumentation_records_the_exception_and_native_stands_down() -> None:
    provider, exporter = recording()
    app = build_api({"tracer_provider": provider})  # native tracing asked for, too
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    spans = [span for span in spans_of(app, exporter, 13).values() if span.kind is SpanKind.SERVER]
    (server,) = spans  # one server span: FastAPI saw the contrib middleware and stood down
    assert server.name == "POST /v2/shows/{show_id}/seats"
    assert server.status.status_code is StatusCode.ERROR
    assert [event.name for event in server.events] == ["exception"]


# --8<-- [end:contrib]
