"""Unhandled errors."""

from starlette.types import ASGIApp, Receive, Scope, Send


class ErrorBoundaryMiddleware:
    """A pure ASGI middleware that, for now, lets every exception through to Starlette."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # TODO (task 4): turn an exception that nothing else handled into a generic JSON 500 that
        # says nothing about what went wrong, and log the error, with its traceback and the
        # request's id.
        await self.app(scope, receive, send)
