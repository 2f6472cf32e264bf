"""Give every request an id: the caller's X-Request-ID when it is sane, a fresh one otherwise."""

import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id

HEADER = "X-Request-ID"
# An incoming id ends up in every log line: accept short, plain ones, replace anything else.
ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,128}")


class RequestIdMiddleware:
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
