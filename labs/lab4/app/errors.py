"""One body for every error: `{"error_code": "UPPER_SNAKE", "message": "...", "details": ...}`.

Services raise domain errors (AppError and its kinds), which know nothing of HTTP; one place
translates them, and FastAPI's and Starlette's own errors, into that body.
"""

from http import HTTPStatus

from fastapi import FastAPI


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


# TODO (task 3): the other kinds of domain error the lab page lists: an email already taken
# (409, EMAIL_TAKEN) and an order over MAX_ORDER_QUANTITY (422, BUSINESS_RULE_MAX_ORDER_QUANTITY).
# TODO (task 4): the avatar service failing (502, UPSTREAM_ERROR).


def install(app: FastAPI) -> None:
    """Translate every error into the one body, whatever raised it."""
    # TODO (task 1): exception handlers for AppError, for Starlette's HTTPException (an unknown
    # route, a wrong method), for RequestValidationError (a 422 with one entry per failing field,
    # not FastAPI's default body) and for any other Exception (a generic 500).
