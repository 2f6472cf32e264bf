"""How a failed call is described to the client: what went wrong, never a traceback."""

import httpx


def describe(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"the upstream answered {error.response.status_code}"
    if isinstance(error, httpx.TimeoutException):
        return "the upstream did not answer in time"
    return "the upstream could not be reached"
