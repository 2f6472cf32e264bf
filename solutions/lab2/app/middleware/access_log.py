"""One access line per request: what was asked, how it ended, how long it took. Nothing else."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class AccessLogMiddleware:
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
                "path": scope["path"],  # never the query string: tokens and emails travel there
                "status": status,
                "latency_ms": round((time.perf_counter() - start) * 1000, 2),
            }
            logger.info("request", extra={"fields": fields})
