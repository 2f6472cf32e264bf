"""Headers that tell browsers to be strict with this service's responses, on every response."""

from starlette.types import ASGIApp, Receive, Scope, Send

# TODO 4b: X-Content-Type-Options: nosniff, X-Frame-Options: DENY, a Referrer-Policy and
# Strict-Transport-Security: max-age=<seconds>, as (name, value) pairs of lower-case bytes.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = []


class SecurityHeaders:
    """Pure ASGI middleware: it adds the headers to whatever answers, errors and 404s included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # TODO 4b: for an "http" scope, wrap `send` so that the "http.response.start" message
        # gets SECURITY_HEADERS added to its headers.
        await self.app(scope, receive, send)
