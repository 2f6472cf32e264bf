"""Errors in Lab 4's body. A bug answers a generic 500 here: an exception that reached uvicorn
would have it close the connection without an answer. Starlette still re-raises it after the
answer, so uvicorn logs its traceback, on stderr."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class UpstreamError(Exception):
    """The inventory service failed us: a 502."""


def error_response(status: int, code: str, message: str) -> JSONResponse:
    body = {"error_code": code, "message": message, "details": None}
    return JSONResponse(body, status_code=status)


async def upstream_error(request: Request, exc: UpstreamError) -> JSONResponse:
    return error_response(502, "UPSTREAM_ERROR", str(exc))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(UpstreamError, upstream_error)
    app.add_exception_handler(Exception, unexpected_error)
