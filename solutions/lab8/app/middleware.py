"""One place that observes every request: its id, its server span, its metrics, its log line.

A pure ASGI middleware, so that it sees the route the router matched (in the scope, once the app
has run), every status including the 500 of an exception, and runs around background tasks too.
GET /metrics is left out: Prometheus scraping every few seconds would be most of the traffic.
"""

import logging
import time
import uuid

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import request_id
from app.logs import FIELDS
from app.metrics import DURATION, IN_PROGRESS, REQUESTS

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
UNMATCHED = "unmatched"
"""The route label of a request no route matched: one series for every unknown path."""


def route_of(scope: Scope) -> str:
    """The template of the route that served the request (`/items/{item_id}`), never its path."""
    route = scope.get("route")
    return getattr(route, "path_format", UNMATCHED)


class Observability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500  # unless the app answers: an exception that escapes it is a 500
        method = scope["method"]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        IN_PROGRESS.inc()
        start = time.perf_counter()
        with tracer.start_as_current_span(
            method,
            context=propagate.extract(headers),  # a caller's traceparent: its trace continues
            kind=SpanKind.SERVER,
            record_exception=False,  # recorded below, with the status
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as error:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                logger.exception("request_failed")
                raise
            finally:
                elapsed = time.perf_counter() - start
                route = route_of(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                REQUESTS.labels(method, route, str(status)).inc()
                DURATION.labels(method, route).observe(elapsed)
                IN_PROGRESS.dec()
                fields = {"method": method, "route": route, "status": status}
                fields["duration_ms"] = round(elapsed * 1000, 1)
                logger.info("request_finished", extra={FIELDS: fields})
                request_id.reset(token)
