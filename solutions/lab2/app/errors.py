"""Unhandled errors: what a crash tells the client, and what it leaves in the logs."""

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id

logger = logging.getLogger(__name__)


class ErrorBoundaryMiddleware:
    """Turns an exception that nothing else handled into a generic JSON 500, inside the stack:
    the layers outside see an ordinary response, and no exception reaches the server (uvicorn
    would print a plain-text traceback and close the client's connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:
            # Every detail goes to the logs, with the request's id...
            logger.error(
                "unhandled %s on %s %s",
                type(exc).__name__,
                scope["method"],
                scope["path"],
                exc_info=exc,
            )
            if started:  # too late for a 500: the client already has a status line
                raise
            # ...and the client gets nothing but an apology and that id, to quote.
            body = {"detail": "Internal server error", "request_id": request_id.get()}
            await JSONResponse(body, status_code=500)(scope, receive, send)
