"""One body for every error: `{"error_code": "UPPER_SNAKE", "message": "...", "details": ...}`.

Services raise domain errors (AppError and its kinds), which know nothing of HTTP. The handlers
below translate them, FastAPI's validation errors and Starlette's own HTTP errors (an unknown
route, a wrong method) in one place, so a client parses every error the same way.
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

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(AppError):
    status_code = HTTPStatus.NOT_FOUND


class UserNotFound(NotFoundError):
    error_code = "USER_NOT_FOUND"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"No user has id {user_id}.", {"resource": "user", "id": user_id})


class ConflictError(AppError):
    status_code = HTTPStatus.CONFLICT


class EmailTaken(ConflictError):
    error_code = "EMAIL_TAKEN"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")


class BusinessRuleError(AppError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


class MaxOrderQuantityExceeded(BusinessRuleError):
    error_code = "BUSINESS_RULE_MAX_ORDER_QUANTITY"

    def __init__(self, requested: int, allowed: int) -> None:
        super().__init__(
            f"An order may ask for at most {allowed} items.",
            {"requested": requested, "max": allowed},
        )


class UpstreamError(AppError):
    """Another service failed us: not the client's fault, and not a bug of ours either."""

    status_code = HTTPStatus.BAD_GATEWAY
    error_code = "UPSTREAM_ERROR"


def error_response(
    status: int, code: str, message: str, details: object = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error_code": code, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


async def app_error(request: Request, exc: AppError) -> JSONResponse:
    return error_response(exc.status_code, exc.error_code, exc.message, exc.details)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own errors: 404 for an unknown route, 405 for a method it does not allow."""
    status = HTTPStatus(exc.status_code)
    return error_response(status, status.name, status.phrase + ".", headers=exc.headers)


def field_of(error: dict) -> str:
    """`age`, `address.city`, `user_id`; `body` when the body as a whole is wrong (not JSON)."""
    source, *path = error["loc"]
    if error["type"] == "json_invalid" or not path:
        return str(source)
    return ".".join(str(part) for part in path)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """One entry per failing field, without the input: FastAPI's default body echoes it back,
    passwords included."""
    fields: dict[str, str] = {}
    for error in exc.errors():
        fields.setdefault(field_of(error), error["msg"])
    details = [{"field": field, "message": message} for field, message in fields.items()]
    return error_response(422, "VALIDATION_ERROR", "The request is not valid.", details)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Our own bug: the client learns nothing of it. Starlette re-raises the exception once this
    response is sent, so the server still logs its traceback."""
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
