"""Traces: a provider that sends spans to the OTLP collector in the background.

The batch processor exports every 200 ms instead of its default 5 s: spans reach the collector
within a second of the request, at the cost of more, smaller exports.
"""

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from app.config import Settings

EXPORT_EVERY_MS = 200


def configure(settings: Settings) -> TracerProvider:
    """The process's tracer provider, set as the global one that `trace.get_tracer` reads."""
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.otel_exporter_otlp_endpoint:
        endpoint = settings.otel_exporter_otlp_endpoint.removesuffix("/") + "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint)
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_EVERY_MS)
        )
    trace.set_tracer_provider(provider)
    return provider
