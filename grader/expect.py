"""Expectations that explain themselves: what was sent, what came back, what was expected."""

from __future__ import annotations

from http import HTTPStatus

import httpx

from grader.failures import CheckFailure

BODY_SHOWN = 300


def sent(request: httpx.Request) -> str:
    return f"{request.method} {request.url.path}"


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
