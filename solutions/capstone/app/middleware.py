"""The middleware stack (Lab 2): a request id and one JSON access line for every request, and
CORS for the browser origins in CORS_ORIGINS only.

Both layers are pure ASGI: they neither buffer a streamed answer nor hide from the endpoint that
its client went away (the chat stops the model then), as BaseHTTPMiddleware could.
"""

import logging
import re
import time
import uuid

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import ErrorBoundaryMiddleware
from app.logs import request_id

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
# An incoming id ends up in every log line: accept short, plain ones, replace anything else.
ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,128}")


class RequestIdMiddleware:
    """Gives every request an id: the caller's X-Request-ID when it is sane, a fresh one
    otherwise; sets it for every log line of the request, and on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websocket messages pass straight through
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(HEADER, "")
        rid = incoming if ACCEPTED.fullmatch(incoming) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        token = request_id.set(rid)  # every log line of this request, wherever it is written
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class AccessLogMiddleware:
    """One access line per request: what was asked, how it ended, how long it took. Nothing else:
    no query string, no header, no body (API keys and questions travel there)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:  # also when the app raised: the error travels on, after its access line
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round((time.perf_counter() - start) * 1000, 2),
            }
            logger.info("request", extra={"fields": fields})


def install(app: FastAPI, settings: Settings) -> None:
    """Stacks the layers. Each add_middleware wraps everything added before it: the last one
    added is the outermost, first to see a request and last to touch its response. So, from the
    inside out:"""
    app.add_middleware(ErrorBoundaryMiddleware)  # innermost: every layer outside sees its 500s
    app.add_middleware(
        CORSMiddleware,  # inside the log: its answers to preflights are logged, with their id
        allow_origins=settings.cors_origins,  # exact origins, never "*" (config.py refuses it)
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["X-API-Key", "Content-Type", "X-Request-ID"],  # what browser code may send
        expose_headers=["X-Request-ID", "Retry-After"],  # what browser code may read
    )
    app.add_middleware(AccessLogMiddleware)  # logs every response from the layers inside it
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line and response has the id
