"""The catalogue service's production hardening (examples/deploy/catalogue.py): API docs off in
production, security headers on every response, a Host header check, and compression of large
answers only.

Every test runs the app in-process. The search index, where one is needed, is the fake upstream
of Module 6 (examples/travel_upstreams.py) on a real uvicorn server in a thread.

Module 10's lesson (sections "Production settings", "Security headers", "Trusted hosts" and
"Compression") includes parts of this file. Run its tests with
`pytest examples/catalogue_hardening.py`.
"""

import gzip
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from catalogue_probes import catalogue_client
from fastapi import FastAPI, Response
from starlette.types import ASGIApp
from travel_upstreams import Supplier, running

sys.path.insert(0, str(Path(__file__).parent / "deploy"))  # the service's own folder
from catalogue import SECURITY_HEADERS, SecurityHeaders, Settings, make_api, make_app  # noqa: E402

PUBLIC = "http://catalogue.example.org"


def client_of(app: ASGIApp, base_url: str = PUBLIC) -> httpx.AsyncClient:
    """Calls `app` in-process. Its lifespan does not run: enough for routes that use no state."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


# --8<-- [start:docs-tests]
@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_production_serves_no_docs_and_no_schema(path: str) -> None:
    async with client_of(make_app(Settings(stage="production"))) as client:
        assert (await client.get(path)).status_code == 404
    async with client_of(make_app(Settings(stage="staging"))) as client:
        assert (await client.get(path)).status_code == 200


# --8<-- [end:docs-tests]


def with_a_bug(settings: Settings) -> FastAPI:
    """The catalogue's FastAPI app, with one more route: a bug that raises."""
    api = make_api(settings)

    @api.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @api.get("/framed")
    async def framed() -> Response:  # a page that chose its own framing policy
        return Response("<p>embeddable</p>", headers={"X-Frame-Options": "SAMEORIGIN"})

    return api


# --8<-- [start:headers-tests]
@pytest.mark.asyncio
async def test_every_response_carries_the_security_headers() -> None:
    app = SecurityHeaders(with_a_bug(Settings()))
    async with client_of(app) as client:
        responses = [
            await client.get("/livez"),  # 200
            await client.get("/no/such/page"),  # 404, from the router
            await client.get("/books", params={"q": ""}),  # 422, from validation
            await client.get("/bug"),  # 500, from Starlette's outermost error middleware
            await client.get("/livez", headers={"host": "evil.example"}),  # 400, Host refused
        ]
    assert [response.status_code for response in responses] == [200, 404, 422, 500, 400]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (response.status_code, name)


@pytest.mark.asyncio
async def test_a_response_may_set_its_own_value() -> None:
    async with client_of(SecurityHeaders(with_a_bug(Settings()))) as client:
        response = await client.get("/framed")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.asyncio
async def test_added_with_add_middleware_it_misses_the_500s() -> None:
    api = with_a_bug(Settings())
    api.add_middleware(SecurityHeaders)  # inside Starlette's ServerErrorMiddleware
    async with client_of(api) as client:
        ok, bug = await client.get("/livez"), await client.get("/bug")
    assert ok.headers["x-frame-options"] == "DENY"
    assert bug.status_code == 500 and "x-frame-options" not in bug.headers


# --8<-- [end:headers-tests]


# --8<-- [start:hosts-tests]
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("catalogue.example.org", 200),  # a public name
        ("catalogue.example.org:443", 200),  # the port does not matter
        ("127.0.0.1:8000", 200),  # the image's HEALTHCHECK
        ("evil.example", 400),  # anything else: "Invalid host header"
        ("10.42.0.17:8000", 400),  # a Kubernetes probe that sends the pod's IP: set its Host
    ],
)
async def test_only_known_hosts_are_served(host: str, status: int) -> None:
    async with client_of(make_app(Settings())) as client:
        assert (await client.get("/livez", headers={"host": host})).status_code == status


# --8<-- [end:hosts-tests]


@pytest.fixture
def search_url() -> Iterator[str]:
    """A search index that finds 60 books for any query."""
    index = Supplier()
    books = [{"id": n, "title": f"The Sea, volume {n}", "author": "A. Writer"} for n in range(60)]
    index.route("/search", body={"hits": books})
    with running(index) as url:
        yield url


# --8<-- [start:compression-tests]
@pytest.mark.asyncio
async def test_large_answers_are_compressed(search_url: str) -> None:
    async with catalogue_client(search_url) as client:
        response = await client.get("/books", params={"q": "sea"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"  # caches keep one copy per encoding
    assert len(response.json()["books"]) == 60  # httpx decompressed it
    assert response.num_bytes_downloaded < len(response.content) / 5  # 3,605 bytes sent as 390


@pytest.mark.asyncio
async def test_small_answers_are_not(search_url: str) -> None:
    async with catalogue_client(search_url) as client:
        response = await client.get("/livez")  # asks for gzip too: httpx always does
    assert "content-encoding" not in response.headers
    assert len(gzip.compress(response.content)) > len(response.content)  # 18 bytes would be 38


# --8<-- [end:compression-tests]
