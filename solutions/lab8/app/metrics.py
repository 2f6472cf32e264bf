"""RED metrics, for Prometheus: rate and errors (a counter), duration (a histogram), and what is
in progress (a gauge).

Labels are few, and bounded: the method, the route *template* (`/items/{item_id}`, never
`/items/7`), the status. A label with a value per user or per path makes a series for each, until
Prometheus runs out of memory.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry()
"""The app's own metrics, without the process metrics of the global registry."""

REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=registry,
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "How long requests took, by method and route template.",
    ["method", "route"],
    # Most answers take milliseconds; GET /slow and a hanging upstream take seconds.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=registry,
)
IN_PROGRESS = Gauge("http_requests_in_progress", "Requests being served now.", registry=registry)
