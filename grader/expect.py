"""Expectations that explain themselves: what was sent, what came back, what was expected."""

from __future__ import annotations

import httpx

from grader.failures import CheckFailure

BODY_SHOWN = 300


def sent(request: httpx.Request) -> str:
    return f"{request.method} {request.url.path}"


def answer(response: httpx.Response) -> str:
    """`404 Not Found {"detail": ...}`, the body cut short."""
    body = response.text if len(response.text) <= BODY_SHOWN else response.text[:BODY_SHOWN] + "…"
    return f"{response.status_code} {response.reason_phrase} {body}".rstrip()


def fail(sent: str, got: str, expected: str) -> CheckFailure:
    return CheckFailure(f"Sent {sent}\nGot {got}\nExpected {expected}")


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise fail(sent(response.request), answer(response), f"status {status}")


def expect_json_field(response: httpx.Response, field: str) -> object:
    """The value of `field` in the response's JSON object."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or field not in body:
        raise fail(
            sent(response.request), answer(response), f'a JSON object with a "{field}" field'
        )
    return body[field]
