"""RED metrics (rate, errors, duration) for a ticketing API with prometheus-client: a Counter of
requests, a Histogram of their durations with buckets chosen for this service, and a Gauge of
requests in progress. Labels are the route template, never the raw path.

Each app gets a registry of its own (`CollectorRegistry()`), never the process-wide default, so
that two apps, or two tests, never share counts.

Module 8's lesson includes parts of this file. Run it with `pytest examples/ticket_metrics.py`.
"""

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from fastapi.testclient import TestClient
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# --8<-- [start:instruments]
# The service promises 99 % of requests in 300 ms. Buckets are dense around that promise, so
# that "what share took under 300 ms" is read straight off a bucket, and sparse elsewhere.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5)


class TicketMetrics:
    """The app's instruments, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ticket_api_requests",  # exposed as ticket_api_requests_total
            "Requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "ticket_api_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "ticket_api_requests_in_progress",
            "Requests being served right now.",
            registry=self.registry,
        )


# --8<-- [end:instruments]


# --8<-- [start:template]
def route_template(scope: Scope) -> str:
    """The matched route's template, e.g. /events/{event_id}: one label value per route.

    A mounted app's routes see their mount point in root_path. Requests that matched no route
    (404s, a scanner's random paths) share one value: they must not create a series each.
    """
    route = scope.get("route")
    if route is None:
        return "unmatched"
    return scope.get("root_path", "") + route.path_format


# --8<-- [end:template]


# --8<-- [start:middleware]
class RedMetrics:
    """Counts, times and tracks every HTTP request, including those whose endpoint raised."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: TicketMetrics,
        label: Callable[[Scope], str] = route_template,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:  # also when the app raised: every request is counted, and the gauge comes down
            self.metrics.in_progress.dec()
            method, route = scope["method"], self.label(scope)  # routing has happened by now
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - began)


# --8<-- [end:middleware]


# --8<-- [start:app]
events = APIRouter(prefix="/events")  # the prefix on the router: it is in path_format
release = asyncio.Event()  # lets a test hold a request in flight


@events.get("/{event_id}")
async def event(event_id: int) -> dict[str, int]:
    return {"event_id": event_id}


@events.get("/{event_id}/queue")
async def queue(event_id: int) -> dict[str, int]:
    await release.wait()
    return {"event_id": event_id}


@events.post("/{event_id}/refunds")
async def refund(event_id: int) -> dict[str, int]:
    raise RuntimeError("the payments upstream said no")


def create_app(label: Callable[[Scope], str] = route_template) -> FastAPI:
    metrics = TicketMetrics()
    app = FastAPI()
    app.add_middleware(RedMetrics, metrics=metrics, label=label)
    app.include_router(events)
    app.state.metrics = metrics

    @app.get("/metrics", include_in_schema=False)
    async def exposition() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


# --8<-- [end:app]


# --8<-- [start:tests]
def test_requests_are_counted_by_template_method_and_status() -> None:
    app = create_app()
    client = TestClient(app, raise_server_exceptions=False)
    for path in ["/events/1", "/events/2", "/events/x", "/nowhere"]:
        client.get(path)
    assert client.post("/events/3/refunds").status_code == 500
    sample = app.state.metrics.registry.get_sample_value
    total = "ticket_api_requests_total"
    assert sample(total, {"method": "GET", "route": "/events/{event_id}", "status": "200"}) == 2
    assert sample(total, {"method": "GET", "route": "/events/{event_id}", "status": "422"}) == 1
    assert sample(total, {"method": "GET", "route": "unmatched", "status": "404"}) == 1
    refunds = {"method": "POST", "route": "/events/{event_id}/refunds"}
    assert sample(total, {**refunds, "status": "500"}) == 1  # raised: counted all the same
    assert sample("ticket_api_request_duration_seconds_count", refunds) == 1
    assert sample("ticket_api_requests_in_progress") == 0  # came down although it raised
    page = client.get("/metrics").text
    assert 'ticket_api_request_duration_seconds_bucket{le="0.3",method="GET"' in page


@pytest.mark.asyncio
async def test_the_gauge_counts_requests_in_flight() -> None:
    app = create_app()
    release.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tickets") as client:
        waiting = [asyncio.create_task(client.get(f"/events/{n}/queue")) for n in (1, 2)]
        for _ in range(100):  # until both are inside the endpoint
            if app.state.metrics.registry.get_sample_value("ticket_api_requests_in_progress") == 2:
                break
            await asyncio.sleep(0.01)
        assert app.state.metrics.registry.get_sample_value("ticket_api_requests_in_progress") == 2
        release.set()
        await asyncio.gather(*waiting)
    assert app.state.metrics.registry.get_sample_value("ticket_api_requests_in_progress") == 0


def test_a_raw_path_label_makes_a_series_per_id() -> None:
    by_template = TestClient(create_app())
    by_path = TestClient(create_app(label=lambda scope: scope["path"]))
    for event_id in range(200):
        by_template.get(f"/events/{event_id}")
        by_path.get(f"/events/{event_id}")
    lines = {
        "template": by_template.get("/metrics").text.splitlines(),
        "path": by_path.get("/metrics").text.splitlines(),
    }
    series = {
        kind: sum(line.startswith("ticket_api_requests_total{") for line in page)
        for kind, page in lines.items()
    }
    assert series == {"template": 1, "path": 200}  # and 200 × 12 histogram lines besides
    assert len(lines["path"]) > 20 * len(lines["template"])


def test_a_prefix_given_to_include_router_is_not_in_the_template() -> None:
    """From FastAPI 0.137, scope["route"] is the router's own route: the prefix passed to
    include_router is applied while matching, not written into the route's path_format."""
    routes = APIRouter()
    routes.add_api_route("/orders/{order_id}", event)
    app = FastAPI()
    seen: list[str] = []

    def remember(scope: Scope) -> str:
        seen.append(route_template(scope))
        return seen[-1]

    app.add_middleware(RedMetrics, metrics=TicketMetrics(), label=remember)
    app.include_router(routes, prefix="/v2")
    TestClient(app).get("/v2/orders/7")
    assert seen == ["/orders/{order_id}"]  # not /v2/orders/{order_id}
    assert "/v2/orders/{order_id}" in app.openapi()["paths"]


def test_every_label_is_a_path_of_the_api() -> None:
    """The guard against that trap: each route's label must be one of its OpenAPI paths."""
    app = create_app()
    TestClient(app, raise_server_exceptions=False).post("/events/1/refunds")
    TestClient(app).get("/events/1")
    routes = {
        sample.labels["route"]
        for metric in app.state.metrics.registry.collect()
        if metric.name == "ticket_api_requests"
        for sample in metric.samples
    }
    assert routes == {"/events/{event_id}", "/events/{event_id}/refunds"}
    assert routes <= set(app.openapi()["paths"])


# --8<-- [end:tests]
