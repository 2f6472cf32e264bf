"""Headers that tell browsers to be strict with this service's responses, on every response."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),  # never guess a content type other than declared
    (b"x-frame-options", b"DENY"),  # never shown in a frame: no clickjacking
    (b"referrer-policy", b"strict-origin-when-cross-origin"),  # no paths or queries to others
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),  # HTTPS only, a year
]


class SecurityHeaders:
    """Pure ASGI middleware: it adds the headers to whatever answers, errors and 404s included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
