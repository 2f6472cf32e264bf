"""Per-client rate limiting."""

from starlette.types import ASGIApp, Receive, Scope, Send


class RateLimitMiddleware:
    """A pure ASGI middleware that, for now, lets every request through."""

    def __init__(self, app: ASGIApp, limit: int, window: float = 60.0) -> None:
        self.app = app
        self.limit = limit
        self.window = window

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # TODO (task 3): at most `limit` requests per client in any `window` seconds. A client is
        # its X-API-Key header, or its IP address without one. Over the limit: 429, a JSON body
        # and a Retry-After header.
        await self.app(scope, receive, send)
