"""One body for every error: `{"error_code": "UPPER_SNAKE", "message": "...", "details": ...}`.

Services raise domain errors (AppError and its kinds), which know nothing of HTTP; the handlers
below translate them, and FastAPI's and Starlette's own errors, in one place (Lab 4).
"""

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class AppError(Exception):
    """A failure the service expects and can name. Each kind carries its status and code."""

    status_code = HTTPStatus.INTERNAL_SERVER_ERROR
    error_code = "INTERNAL_ERROR"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class JobNotFound(AppError):
    status_code = HTTPStatus.NOT_FOUND
    error_code = "JOB_NOT_FOUND"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"There is no job {job_id}.", {"job_id": job_id})


class IdempotencyKeyReused(AppError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    error_code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used for another request.")


class IdempotencyKeyInFlight(AppError):
    """The first request with the key is still running, longer than a duplicate may wait."""

    status_code = HTTPStatus.CONFLICT
    error_code = "IDEMPOTENCY_KEY_IN_FLIGHT"
    headers = {"Retry-After": "1"}

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")


class InvalidSignature(AppError):
    status_code = HTTPStatus.UNAUTHORIZED
    error_code = "INVALID_SIGNATURE"

    def __init__(self) -> None:
        super().__init__("The webhook's signature does not match its timestamp and body.")


class StaleTimestamp(AppError):
    status_code = HTTPStatus.UNAUTHORIZED
    error_code = "STALE_TIMESTAMP"

    def __init__(self, age: float) -> None:
        super().__init__("The webhook's timestamp is too old: it may be a replay.", {"age": age})


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


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or "body",
            "message": error["msg"],
        }
        for error in exc.errors()
    ]
    return error_response(422, "VALIDATION_ERROR", "The request is not valid.", details)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Our own bug: the client learns nothing of it, and the server still logs the traceback."""
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
