"""Traces: the process's tracer provider."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from app.config import Settings


def configure(settings: Settings) -> TracerProvider:
    """The process's tracer provider, set as the global one that `trace.get_tracer` reads."""
    # TODO 3: a resource with `service.name` from SERVICE_NAME, and, when
    # OTEL_EXPORTER_OTLP_ENDPOINT is set, a BatchSpanProcessor exporting to
    # `<endpoint>/v1/traces` with an OTLPSpanExporter, often enough that spans arrive within a
    # second.
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    return provider
