"""The middleware stack (Lab 2): a request id and one JSON access line for every request, and
CORS for the browser origins in CORS_ORIGINS only.

Write both layers as pure ASGI middleware, as here: they neither buffer a streamed answer nor
hide from the endpoint that its client went away (the chat stops the model then), as
BaseHTTPMiddleware could.
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import ErrorBoundaryMiddleware

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """A pure ASGI middleware that, for now, passes everything through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # TODO 2a: reuse the request's X-Request-ID (when it is short and plain: it ends up in
        # every log line) or make a new one (uuid.uuid4().hex); set it in app.logs.request_id
        # for every log line of the request, and add it to the response's headers
        # (the "http.response.start" message, through starlette's MutableHeaders).
        await self.app(scope, receive, send)


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = None

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # TODO 2b: one JSON line per request, through a logger of the app (logging.getLogger,
        # which app.logs formats as JSON with the request's id), with method, path, status and
        # latency_ms: the path only (query strings carry e-mails and tokens), and written in a
        # `finally:`, so that a request whose endpoint raised is logged too, with status 500.
        await self.app(scope, receive, send_and_record)
        query = scope["query_string"].decode()
        url = f"{scope['path']}?{query}" if query else scope["path"]
        print(f"{scope['method']} {url} -> {status}", flush=True)


def install(app: FastAPI, settings: Settings) -> None:
    """Stacks the layers. Each add_middleware wraps everything added before it: the last one
    added is the outermost, first to see a request and last to touch its response. So, from the
    inside out:"""
    app.add_middleware(ErrorBoundaryMiddleware)  # innermost: every layer outside sees its 500s
    # TODO 2c: the origins of CORS_ORIGINS only (settings.cors_origins), never "*"; the methods
    # the API has (GET, POST, DELETE); the headers browser code may send (X-API-Key,
    # Content-Type, X-Request-ID) and read (expose X-Request-ID and Retry-After).
    app.add_middleware(
        CORSMiddleware,  # inside the log: its answers to preflights are logged, with their id
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(AccessLogMiddleware)  # logs every response from the layers inside it
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line and response has the id
