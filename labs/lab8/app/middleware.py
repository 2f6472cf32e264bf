"""One place that observes every request.

A pure ASGI middleware: it sees the route the router matched (in the scope, once the app has
run), every status including the 500 of an exception, and runs around background tasks too.
"""

import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.context import request_id

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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # TODO 1: reuse an incoming X-Request-ID (else a new one), echo it on the response, and
        # write one JSON line per request (method, route, status, duration), no headers or body.
        # TODO 2: count the request, time it, and keep http_requests_in_progress right however
        # the request ends; leave GET /metrics out.
        # TODO 3: a SERVER span around the app, continuing an incoming traceparent, named
        # "<METHOD> <route template>"; an exception is recorded on it, with status ERROR.
        token = request_id.set(Headers(scope=scope).get("x-request-id") or uuid.uuid4().hex)
        try:
            await self.app(scope, receive, send)
        finally:
            request_id.reset(token)
