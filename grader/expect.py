"""Expectations that explain themselves: what was sent, what came back, what was expected."""

from __future__ import annotations

import re
from http import HTTPStatus

import httpx

from grader.failures import CheckFailure

BODY_SHOWN = 300
ERROR_KEYS = {"error_code", "message", "details"}
"""The course's error body, from Lab 4 on: `{"error_code", "message", "details"}`."""
ERROR_EXTRA_KEYS = {"request_id"}
"""What an error body may add: Lab 2's request id."""
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")


def sent(request: httpx.Request) -> str:
    """`POST /users with {"email": ...}`: the method, the path and the body, cut short."""
    said = f"{request.method} {request.url.path}"
    if not request.content:
        return said
    body = request.content.decode(errors="replace")
    return f"{said} with {body if len(body) <= BODY_SHOWN else body[:BODY_SHOWN] + '…'}"


def answer(response: httpx.Response) -> str:
    """`404 Not Found {"detail": ...}`, the body cut short."""
    body = response.text if len(response.text) <= BODY_SHOWN else response.text[:BODY_SHOWN] + "…"
    return f"{response.status_code} {response.reason_phrase} {body}".rstrip()


def fail(
    sent: str,
    got: str,
    expected: str,
    *,
    response: httpx.Response | None = None,
    hint: str | None = None,
) -> CheckFailure:
    """A failure about one exchange. Give the `response` it is about where there is one: the
    report then shows the app's traceback if it answered 5xx, and a curl line to send it again."""
    return CheckFailure(
        f"Sent {sent}\nGot {got}\nExpected {expected}",
        responses=[response] if response is not None else [],
        hint=hint,
    )


def observed(action: str, got: str, expected: str) -> CheckFailure:
    """A failure about something the check did other than send a request: `Read Dockerfile`,
    `Ran gunicorn --print-config ...`."""
    return CheckFailure(f"{action}\nGot {got}\nExpected {expected}")


def status_hint(response: httpx.Response, expected: int) -> str | None:
    """Advice for a wrong status that the status alone explains: a success answered with the
    wrong success code. Other statuses are each check's business."""
    got = response.status_code
    if 200 <= got < 300 and 200 <= expected < 300:
        method = response.request.method.lower()
        return (
            f"The route works, but answers {got} {HTTPStatus(got).phrase} where the lab asks for "
            f"{expected} {HTTPStatus(expected).phrase}: declare the status on the route, "
            f"`@app.{method}(..., status_code={expected})`."
        )
    return None


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise fail(
            sent(response.request),
            answer(response),
            f"status {status} {HTTPStatus(status).phrase}",
            response=response,
            hint=status_hint(response, status),
        )


def expect_json_field(response: httpx.Response, field: str) -> object:
    """The value of `field` in the response's JSON object."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or field not in body:
        raise fail(
            sent(response.request),
            answer(response),
            f'a JSON object with a "{field}" field',
            response=response,
        )
    return body[field]


def error_body(status: int, code: str) -> str:
    return (
        f'status {status} {HTTPStatus(status).phrase} with the error body {{"error_code": '
        f'"{code}", "message": "<for humans>", "details": <object, list or null>}}'
    )


def expect_error(response: httpx.Response, status: int, code: str) -> dict:
    """The course's error body, with `status` and `code`: the body, once it is right."""
    expected = error_body(status, code)
    got = answer(response)

    def wrong(why: str) -> CheckFailure:
        hint = status_hint(response, status) if response.status_code != status else None
        return fail(sent(response.request), f"{got}: {why}", expected, response=response, hint=hint)

    if response.status_code != status:
        raise wrong(f"status {response.status_code}, not {status}")
    try:
        body = response.json()
    except ValueError:
        raise wrong("not JSON") from None
    if not isinstance(body, dict):
        raise wrong("not a JSON object")
    if missing := ERROR_KEYS - body.keys():
        raise wrong(f"no {', '.join(sorted(missing))}")
    if extra := body.keys() - ERROR_KEYS - ERROR_EXTRA_KEYS:
        raise wrong(f"keys the error body does not have: {', '.join(sorted(extra))}")
    if not isinstance(body["error_code"], str) or not UPPER_SNAKE.match(body["error_code"]):
        raise wrong("error_code is not an UPPER_SNAKE_CASE string")
    if body["error_code"] != code:
        raise wrong(f"error_code {body['error_code']}, not {code}")
    if not isinstance(body["message"], str) or not body["message"].strip():
        raise wrong("message is not a sentence")
    return body
