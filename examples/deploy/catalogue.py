"""The catalogue service, as it ships: a library catalogue's book search, ready to deploy.

It finds books through a search index, another service at CATALOGUE_SEARCH_URL, and carries what
production asks of it: probes for the platform (`/livez`, `/readyz`), readiness that turns 503 as
soon as SIGTERM arrives, no API docs unless the stage allows them, security headers on every
response, a Host header check, and compression of large answers.

This folder is the build context of the service's image (Dockerfile, gunicorn.conf.py, Procfile,
requirements.txt): it holds only what the image ships, so the tests live outside it, in
examples/catalogue_probes.py, catalogue_hardening.py, catalogue_gunicorn.py and catalogue_image.py.
Module 10's lesson includes parts of this file. Serve it from this folder with
`gunicorn --config gunicorn.conf.py`, or with `uvicorn catalogue:app` while developing.
"""

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Annotated, Literal

import httpx
from fastapi import FastAPI, HTTPException, Query, Request, Response
from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send


# --8<-- [start:settings]
class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOGUE_")

    stage: Literal["production", "staging", "development"] = "production"
    """CATALOGUE_STAGE. Production unless told otherwise: a forgotten variable fails closed."""

    public_hosts: Annotated[list[str], NoDecode] = ["catalogue.example.org"]
    """CATALOGUE_PUBLIC_HOSTS: the host names clients reach the service by, comma-separated."""

    search_url: str = "http://127.0.0.1:7700"
    """CATALOGUE_SEARCH_URL: the search index, the one service the catalogue cannot work without."""

    drain_seconds: float = 5.0
    """CATALOGUE_DRAIN_SECONDS: how long to go on serving after SIGTERM, /readyz answering 503,
    before the server starts its shutdown. Shorter than gunicorn's graceful_timeout."""

    @field_validator("public_hosts", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value


# --8<-- [end:settings]

SEARCH_TIMEOUT = httpx.Timeout(2.0, connect=0.5)


# --8<-- [start:draining]
@dataclass
class Health:
    draining: bool = False


def watch_for_sigterm(health: Health, delay: float) -> Callable[[], None]:
    """From SIGTERM on, `health.draining` is true. `delay` seconds later the signal goes on to the
    handler that was there before ours, the server's, which then shuts down as it always does.

    Returns what puts the server's handler back. Without a server's handler to pass the signal on
    to (under a test client), or outside the main thread, where Python cannot set one, it does
    nothing.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous) or threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        health.draining = True
        # A signal handler runs between any two bytecodes, the event loop's own included:
        # call_soon_threadsafe is the one loop method that is safe to call from there.
        loop.call_soon_threadsafe(loop.call_later, delay, previous, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return lambda: signal.signal(signal.SIGTERM, previous)


# --8<-- [end:draining]


# --8<-- [start:headers]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",  # the browser must not guess another content type
    "X-Frame-Options": "DENY",  # no page may show ours in a frame (clickjacking)
    "Referrer-Policy": "no-referrer",  # following a link from our pages sends no URL of ours
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",  # HTTPS only, for a year
}


class SecurityHeaders:
    """Pure ASGI middleware that adds SECURITY_HEADERS to every response, unless the response
    set one of them itself. Wrapped around the whole FastAPI app, it also sees the 500s that
    Starlette's outermost error middleware sends for unhandled exceptions."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --8<-- [end:headers]


# --8<-- [start:dependency-check]
READINESS_TIMEOUT = httpx.Timeout(0.5)  # well inside the probe's own (one second in Kubernetes)


async def search_index_answers(search: httpx.AsyncClient) -> bool:
    """Whether the search index says it is healthy, within READINESS_TIMEOUT."""
    try:
        response = await search.get("/health", timeout=READINESS_TIMEOUT)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


# --8<-- [end:dependency-check]


def make_api(settings: Settings) -> FastAPI:
    """The FastAPI app: routes, lifespan, and the middleware that sits inside Starlette's."""

    # --8<-- [start:lifespan]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        health = Health()
        stop_watching = watch_for_sigterm(health, settings.drain_seconds)
        try:
            async with httpx.AsyncClient(
                base_url=settings.search_url, timeout=SEARCH_TIMEOUT
            ) as search:
                yield {"health": health, "search": search}  # request.state.health, .search
        finally:
            stop_watching()

    # --8<-- [end:lifespan]

    # --8<-- [start:docs]
    docs = settings.stage != "production"
    api = FastAPI(
        title="Catalogue",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,  # the schema, which both pages read
    )
    # --8<-- [end:docs]

    # --8<-- [start:probes]
    @api.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        """Liveness: the process runs and its event loop answers. Nothing else is checked."""
        return {"status": "alive"}

    @api.get("/readyz", include_in_schema=False)
    async def readyz(request: Request, response: Response) -> dict[str, str]:
        """Readiness: whether to send this process traffic now. Not while it drains, nor while
        the search index, without which no search can succeed, does not answer."""
        if request.state.health.draining:
            response.status_code = 503
            return {"status": "draining"}
        if not await search_index_answers(request.state.search):
            response.status_code = 503
            return {"status": "search index unavailable"}
        return {"status": "ready"}

    # --8<-- [end:probes]

    @api.get("/books")
    async def search_books(
        request: Request, q: Annotated[str, Query(min_length=1, max_length=100)]
    ) -> dict[str, object]:
        try:
            response = await request.state.search.get("/search", params={"q": q})
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise HTTPException(502, "the search index did not answer") from error
        return {"query": q, "books": response.json()["hits"]}

    # --8<-- [start:middleware]
    # The last added runs first: a request with a foreign Host is refused before anything else.
    api.add_middleware(GZipMiddleware, minimum_size=1000)
    api.add_middleware(
        TrustedHostMiddleware,
        allowed_hosts=[*settings.public_hosts, "127.0.0.1"],  # 127.0.0.1: the image's HEALTHCHECK
    )
    # --8<-- [end:middleware]
    return api


# --8<-- [start:app]
def make_app(settings: Settings) -> ASGIApp:
    """The FastAPI app, inside the security headers: outside even Starlette's error handling."""
    return SecurityHeaders(make_api(settings))


app = make_app(Settings())
# --8<-- [end:app]
