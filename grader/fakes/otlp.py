"""A trace collector: a real OTLP/HTTP receiver on 127.0.0.1 that decodes the spans apps send it.

It is the fake upstream (grader/fakes/upstream.py) answering every POST as a collector does, with
the protobuf messages of `opentelemetry-proto` decoding what arrived. It accepts spans at its
root and at `/v1/traces`: OpenTelemetry's exporter appends `/v1/traces` only to an endpoint it read
from the environment itself, not to one given in code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from grader.fakes.upstream import Reply, Upstream, upstream

SERVER = 2
"""OTLP's SPAN_KIND_SERVER."""
CLIENT = 3
ERROR = 2
"""OTLP's STATUS_CODE_ERROR."""


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    """32 lowercase hex digits, as a `traceparent` header and a log line spell it."""
    span_id: str
    parent_id: str
    """The parent span's id; empty for a trace's root."""
    kind: int
    status: int
    events: tuple[str, ...]
    attributes: dict[str, object]
    service: str | None
    """The `service.name` of the resource that sent it."""
    seconds: float
    """How long it lasted."""


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def decode(body: bytes, encoding: str | None) -> list[Span]:
    """The spans of one export request (protobuf, perhaps gzipped)."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(gzip.decompress(body) if encoding == "gzip" else body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        status=span.status.code,
                        events=tuple(event.name for event in span.events),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        service=resource.get("service.name"),
                        seconds=(span.end_time_unix_nano - span.start_time_unix_nano) / 1e9,
                    )
                )
    return spans


@dataclass
class Collector:
    """A running collector: its `endpoint`, and the spans it has received so far."""

    fake: Upstream
    _spans: list[Span] = field(default_factory=list)
    _decoded: int = 0
    """How many of the requests received are decoded into `_spans`: each is decoded once."""

    @property
    def endpoint(self) -> str:
        return self.fake.url

    @property
    def spans(self) -> list[Span]:
        arrived = self.fake.received[self._decoded :]
        self._decoded += len(arrived)
        for request in arrived:
            if request.method == "POST":
                self._spans += decode(request.body, request.headers.get("content-encoding"))
        return list(self._spans)

    async def wait_for(self, found: Callable[[list[Span]], bool], seconds: float) -> list[Span]:
        """The spans received once `found(spans)` holds, or when `seconds` have passed."""
        deadline = time.perf_counter() + seconds
        while not found(spans := self.spans) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        return spans


@contextlib.asynccontextmanager
async def collector() -> AsyncIterator[Collector]:
    """An OTLP/HTTP collector on a free port of 127.0.0.1, receiving until the block ends."""
    answer = ExportTraceServiceResponse().SerializeToString()
    async with upstream() as fake:
        fake.reply_with(Reply(200, answer, content_type="application/x-protobuf"))
        yield Collector(fake)
