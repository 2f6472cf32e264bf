"""Checks of CORS: Lab 2's, and the capstone's. Each takes the route the page calls.

The browser check: a page served from an origin listed in CORS_ORIGINS calls the app with
`fetch()` in a real Chromium, sending X-API-Key: the browser first asks permission (a preflight),
then lets the page's script read the answer, and of its headers only those exposed. Where no
chromium is installed, the same rules are read from the headers a browser acts on, and the check
says so. The header-level check: the listed origins, and only they, get their own origin back,
never `*` (one mistake, one check: the browser check does not look at other origins).
"""

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

from grader import LabContext, fail
from grader.browser import chromium, chromium_path, static_files
from grader.checks.api_keys import Route
from grader.expect import answer
from grader.server import LabServer

PAGE = "<!doctype html><title>A frontend</title><p>A page that calls the API.</p>\n"
FETCH = """async ([url, method, headers, body]) => {
  try {
    const response = await fetch(url, {method, headers, body: body ?? undefined});
    return {status: response.status, requestId: response.headers.get("X-Request-ID")};
  } catch (error) {
    return {error: String(error)};
  }
}"""
LISTED = ["http://localhost:3000", "https://app.example.com"]
"""CORS_ORIGINS of the header-level check, comma and space between them."""
OTHERS = ["https://evil.example.com", "http://127.0.0.1:3000"]
"""Origins it does not list: another site, and the listed one's host under another name."""
READABLE = ("X-Request-ID", "Retry-After")
"""The response headers a page's script needs: X-Request-ID to quote a failed call, Retry-After to
wait as long as a 429 asks."""


def cors_origin(response: httpx.Response) -> str | None:
    return response.headers.get("Access-Control-Allow-Origin")


def listed(header: str | None) -> set[str]:
    """A comma-separated header's values, lower case."""
    return {value.strip().lower() for value in (header or "").split(",")}


def exposes(response: httpx.Response, header: str) -> bool:
    """Whether a page's script may read `header` of this response (`*` exposes every header of
    a request without credentials, such as the checks')."""
    exposed = listed(response.headers.get("Access-Control-Expose-Headers"))
    return header.lower() in exposed or "*" in exposed


def preflight(origin: str, headers: str = "", method: str = "GET") -> dict[str, str]:
    """What a browser sends before a request it must ask permission for."""
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    return {**sent, "Access-Control-Request-Headers": headers} if headers else sent


def page_headers(route: Route, key: str) -> dict[str, str]:
    """What the page's fetch() sends: the key, and the body's type when it has one."""
    headers = {"X-API-Key": key}
    return {**headers, "Content-Type": "application/json"} if route.body is not None else headers


async def browser_enforces_cors(
    lab: LabContext, route: Route, *, env: Mapping[str, str] | None = None
) -> None:
    """`route` fetched by a page at a listed origin: its answer (`route.status`) readable, and
    READABLE exposed. The page sends the key the check's server was given (`lab.serving`), or
    one of its own."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.html").write_text(PAGE)
        with static_files(Path(folder)) as port:
            allowed = f"http://localhost:{port}"
            async with lab.server({**(env or {}), "CORS_ORIGINS": allowed}) as server:
                key = server.headers.get("X-API-Key", "grader-browser")
                if chromium_path() is None:
                    lab.note(
                        "CORS checked at header level: chromium is not installed (Debian: "
                        "apt-get install chromium), so no real browser ran the page's fetch()."
                    )
                    await cors_at_header_level(server, route, allowed)
                    return
                body = json.dumps(route.body) if route.body is not None else None
                url = f"{server.url}{route.path}"
                async with chromium() as browser:
                    page = await browser.new_page()
                    await page.goto(f"{allowed}/")
                    fetched = await page.evaluate(
                        FETCH, [url, route.method, page_headers(route, key), body]
                    )
                async with server.client() as client:
                    direct = await route.send(client, {"Origin": allowed})
    sent = (
        f"fetch() of {route} with an X-API-Key header, by a page at {allowed} "
        f"(CORS_ORIGINS={allowed})"
    )
    if "error" in fetched or fetched["status"] != route.status:
        raise fail(
            sent,
            f"the browser blocked it: {fetched['error']}"
            if "error" in fetched
            else f"status {fetched['status']}",
            f"status {route.status}: the page's origin is listed, and X-API-Key is a header it "
            "may send",
        )
    expect_readable(direct, f"{route} with Origin: {allowed}", fetched["requestId"])


def expect_readable(response: httpx.Response, sent: str, read: str | None = None) -> None:
    """READABLE exposed to the page's script (X-Request-ID read by the browser as `read`, when it
    ran). Exposing a header is CORS's business, sending it the request id's: the exposure is what
    counts here."""
    missing = [
        header
        for header in READABLE
        if not exposes(response, header) and not (header == "X-Request-ID" and read)
    ]
    if missing:
        exposed = response.headers.get("Access-Control-Expose-Headers") or "(none)"
        raise fail(
            sent,
            f"Access-Control-Expose-Headers: {exposed}",
            f"{' and '.join(missing)} among the exposed headers: a page's script may read only "
            "the response headers it was told it may (X-Request-ID to quote a failed call, "
            "Retry-After to wait as long as a 429 asks)",
            response=response,
        )


async def cors_at_header_level(server: LabServer, route: Route, allowed: str) -> None:
    """The browser check's rules, read from the headers a browser acts on."""
    asks = ", ".join(name.lower() for name in page_headers(route, ""))
    async with server.client() as client:
        asked = await client.options(route.path, headers=preflight(allowed, asks, route.method))
        sent = f"OPTIONS {route.path}, a preflight from {allowed} asking to send {asks}"
        allowed_headers = asked.headers.get("Access-Control-Allow-Headers")
        if not asked.is_success or cors_origin(asked) != allowed:
            raise fail(
                sent,
                f"{answer(asked)} (Access-Control-Allow-Origin: {cors_origin(asked)})",
                f"a 2xx with Access-Control-Allow-Origin: {allowed}",
                response=asked,
            )
        if "x-api-key" not in listed(allowed_headers):
            raise fail(
                sent,
                f"Access-Control-Allow-Headers: {allowed_headers}",
                "X-API-Key among the headers allowed",
                response=asked,
            )
        got = await route.send(client, {"Origin": allowed})
        if cors_origin(got) != allowed:
            raise fail(
                f"{route} from {allowed}",
                f"Access-Control-Allow-Origin: {cors_origin(got)}",
                f"Access-Control-Allow-Origin: {allowed}",
                response=got,
            )
        expect_readable(got, f"{route} from {allowed}")


async def allows_only_listed_origins(
    lab: LabContext, route: Route, *, env: Mapping[str, str] | None = None
) -> None:
    """`route`, and its preflight, from each LISTED origin and each of the OTHERS."""
    setting = ", ".join(LISTED)
    async with lab.server({**(env or {}), "CORS_ORIGINS": setting}) as server:
        async with server.client() as client:
            answered = {}
            for origin in LISTED + OTHERS:
                simple = await route.send(client, {"Origin": origin})
                ask = preflight(origin, method=route.method)
                asked = await client.options(route.path, headers=ask)
                answered[origin] = [
                    (simple, str(route), route.status),
                    (asked, f"OPTIONS {route.path}, a preflight", None),
                ]
    refused = [origin for origin in LISTED if cors_origin(answered[origin][0][0]) != origin]
    for origin in LISTED + OTHERS:
        for response, what, status in answered[origin]:
            sent = f"{what} with Origin: {origin} (CORS_ORIGINS={setting})"
            got = cors_origin(response)
            if got == "*":
                raise fail(
                    sent,
                    "Access-Control-Allow-Origin: *",
                    "exact origins only: '*' lets every website's scripts read the answers",
                    response=response,
                )
            expected = response.is_success if status is None else response.status_code == status
            if origin in LISTED and (got != origin or not expected):
                raise fail(
                    sent,
                    f"{answer(response)} (Access-Control-Allow-Origin: {got})",
                    f"{'a 2xx' if status is None else status} with Access-Control-Allow-Origin: "
                    f"{origin}: it is listed" + unsplit(refused),
                    response=response,
                )
            if origin in OTHERS and got is not None:
                raise fail(
                    sent,
                    f"Access-Control-Allow-Origin: {got}",
                    "no Access-Control-Allow-Origin header: that origin is not listed",
                    response=response,
                )


def unsplit(refused: list[str]) -> str:
    """What the listed origins that got no header say about how CORS_ORIGINS was read."""
    if refused == LISTED:
        return (
            ". Neither listed origin got the header: is CORS_ORIGINS split on its commas into a "
            "list of origins, rather than taken as one?"
        )
    if refused == LISTED[1:]:
        return (
            ". The first origin works, the one after the comma and space does not: strip the "
            "spaces around each origin"
        )
    return ""
