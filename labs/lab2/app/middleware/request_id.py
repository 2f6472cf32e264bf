"""Give every request an id."""

from starlette.types import ASGIApp, Receive, Scope, Send


class RequestIdMiddleware:
    """A pure ASGI middleware that, for now, passes everything through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # TODO (task 2): reuse the request's X-Request-ID or make a new one, make it available to
        # every log line of the request, and return it in the response's X-Request-ID header.
        await self.app(scope, receive, send)
