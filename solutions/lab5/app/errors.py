"""Lab 4's error body for every error: `{"error_code", "message", "details"}`.

The domain errors here are authentication's: who are you (401, with the challenge that says how to
answer it), you may not (403), too many requests (429, with when to come back).
"""

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class AppError(Exception):
    status_code = HTTPStatus.INTERNAL_SERVER_ERROR
    error_code = "INTERNAL_ERROR"

    def __init__(
        self, message: str, details: object = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class NotAuthenticated(AppError):
    """401: no credentials, or none that name anybody. `challenge` is the scheme the client
    should use (WWW-Authenticate)."""

    status_code = HTTPStatus.UNAUTHORIZED
    error_code = "NOT_AUTHENTICATED"

    def __init__(self, message: str, challenge: str) -> None:
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


class UsernameTaken(AppError):
    status_code = HTTPStatus.CONFLICT
    error_code = "USERNAME_TAKEN"

    def __init__(self) -> None:
        super().__init__("This username is taken.")


class ApiKeyNotFound(AppError):
    status_code = HTTPStatus.NOT_FOUND
    error_code = "API_KEY_NOT_FOUND"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key has id {key_id}.", {"resource": "api_key", "id": key_id})


def error_response(
    status: int, code: str, message: str, details: object = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error_code": code, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


async def app_error(request: Request, exc: AppError) -> JSONResponse:
    return error_response(exc.status_code, exc.error_code, exc.message, exc.details, exc.headers)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
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


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
