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

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, object]:
        return {"error_code": self.error_code, "message": self.message, "details": self.details}


class ModelUnavailable(AppError):
    """No model could answer: the primary and the fallback were overloaded, or the API is down."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    error_code = "MODEL_UNAVAILABLE"

    def __init__(self, reason: str) -> None:
        super().__init__("The model cannot answer right now; try again later.", {"reason": reason})


def error_response(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message, "details": details}, status)


async def app_error(request: Request, exc: AppError) -> JSONResponse:
    return JSONResponse(exc.body(), exc.status_code)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own errors: 404 for an unknown route, 405 for a method it does not allow."""
    status = HTTPStatus(exc.status_code)
    return error_response(status, status.name, status.phrase + ".")


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
