"""Lab 4's error body for every error: `{"error_code": "UPPER_SNAKE", "message", "details"}`.

Services raise domain errors (AppError and its kinds), which know nothing of HTTP; the handlers
below translate them, and FastAPI's and Starlette's own errors, in one place. A bug (any other
exception) is caught by ErrorBoundaryMiddleware, the innermost layer, so that its 500 still passes
through the request id and the access log like every other answer (Lab 2).
"""

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id

logger = logging.getLogger(__name__)


class AppError(Exception):
    """A failure the service expects and can name. Each kind carries its status and code."""

    status_code = HTTPStatus.INTERNAL_SERVER_ERROR
    error_code = "INTERNAL_ERROR"

    def __init__(
        self, message: str, details: object = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers

    def body(self) -> dict[str, object]:
        return {"error_code": self.error_code, "message": self.message, "details": self.details}


class NotAuthenticated(AppError):
    """401: no credentials, or none that name anybody. `challenge` is the scheme the client
    should use (WWW-Authenticate)."""

    status_code = HTTPStatus.UNAUTHORIZED
    error_code = "NOT_AUTHENTICATED"

    def __init__(self, message: str, challenge: str = "APIKey") -> None:
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class Forbidden(AppError):
    """403: we know who you are, and you may not."""

    status_code = HTTPStatus.FORBIDDEN
    error_code = "FORBIDDEN"


class RateLimited(AppError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS
    error_code = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many requests: try again in {retry_after} s.",
            {"retry_after": retry_after},
            {"Retry-After": str(retry_after)},
        )


class ApiKeyNotFound(AppError):
    status_code = HTTPStatus.NOT_FOUND
    error_code = "API_KEY_NOT_FOUND"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key has id {key_id}.", {"resource": "api_key", "id": key_id})


class ModelUnavailable(AppError):
    """No model could answer: the primary and the fallback were overloaded, or the API is down."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    error_code = "MODEL_UNAVAILABLE"

    def __init__(self, reason: str) -> None:
        super().__init__("The model cannot answer right now; try again later.", {"reason": reason})


class AgentStepLimit(AppError):
    """The model still asked for a tool after MAX_AGENT_STEPS requests: the agent gives up rather
    than loop (and pay) without bound. 502: the upstream model, not the client, misbehaved."""

    status_code = HTTPStatus.BAD_GATEWAY
    error_code = "AGENT_STEP_LIMIT"

    def __init__(self, max_steps: int) -> None:
        super().__init__(
            f"The model asked for more than MAX_AGENT_STEPS ({max_steps}) steps without answering.",
            {"max_steps": max_steps},
        )


def error_response(
    status: int, code: str, message: str, details: object = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error_code": code, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


async def app_error(request: Request, exc: AppError) -> JSONResponse:
    return error_response(exc.status_code, exc.error_code, exc.message, exc.details, exc.headers)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own errors: 404 for an unknown route, 405 for a method it does not allow."""
    status = HTTPStatus(exc.status_code)
    return error_response(status, status.name, status.phrase + ".", headers=exc.headers)


def field_of(error: dict) -> str:
    source, *path = error["loc"]
    if error["type"] == "json_invalid" or not path:
        return str(source)
    return ".".join(str(part) for part in path)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields: dict[str, str] = {}
    for error in exc.errors():
        fields.setdefault(field_of(error), error["msg"])
    details = [{"field": field, "message": message} for field, message in fields.items()]
    return error_response(422, "VALIDATION_ERROR", "The request is not valid.", details)


class ErrorBoundaryMiddleware:
    """Turns an exception that nothing else handled into a generic 500 in the error body, inside
    the stack: the layers outside see an ordinary response, and give it its request id and its
    access line. (A handler for `Exception` would run outside every middleware: its 500 would
    have no X-Request-ID.)"""

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
            response = error_response(
                500,
                "INTERNAL_ERROR",
                "Something went wrong on our side.",
                {"request_id": request_id.get()},
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """The handlers of expected errors. The boundary for the rest is a middleware: middleware.py
    stacks it, innermost."""
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
