"""Metrics, for Prometheus, in the app's own registry."""

from prometheus_client import CollectorRegistry

registry = CollectorRegistry()
"""The app's own metrics, without the process metrics of the global registry."""

# TODO 2: http_requests_total (a Counter labelled method, route, status),
# http_request_duration_seconds (a Histogram labelled method and route, with buckets for this
# service's latencies) and http_requests_in_progress (a Gauge without labels), in `registry`.
