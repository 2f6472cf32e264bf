"""The museum's audio guide and its one model client: created in the lifespan, handed out by a
dependency, closed at shutdown. Compared with a client per request, counted in the TCP
connections the (fake) Anthropic API accepts.

The other guide_*.py examples build on the settings, the lifespan and `serving` below.
Module 9's lesson (section "One client per process") includes this file. Run its tests with
`pytest examples/guide_client.py`: the real `anthropic` SDK talks to grader/fakes/anthropic.py.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Annotated, TypeVar

import anthropic
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings
from travel_upstreams import running

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, object]]]


# --8<-- [start:client]
class GuideSettings(BaseSettings):
    """Read from the environment: ANTHROPIC_API_KEY, GUIDE_MODEL, and so on."""

    anthropic_api_key: SecretStr
    anthropic_base_url: str | None = None  # None: the SDK's default, the real API
    guide_model: str = "claude-haiku-4-5"
    model_max_retries: int = 2  # the SDK's own retries: 529, 429, 5xx, timeouts, lost connections
    model_timeout: float = 30.0  # seconds for a whole call, streams included


def new_model_client(settings: GuideSettings) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=settings.model_max_retries,
        timeout=settings.model_timeout,
    )


def model_lifespan(settings: GuideSettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        async with new_model_client(settings) as client:  # closes its connections at shutdown
            yield {"model_client": client, "settings": settings}

    return lifespan


def model_client(request: Request) -> anthropic.AsyncAnthropic:
    return request.state.model_client


ModelClient = Annotated[anthropic.AsyncAnthropic, Depends(model_client)]
# --8<-- [end:client]


# --8<-- [start:per_request]
async def model_client_per_request(request: Request) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """Wrong: a new client, so a new connection pool, for every request."""
    async with new_model_client(request.state.settings) as client:
        yield client


# --8<-- [end:per_request]


class Blurb(BaseModel):
    artwork: str
    text: str


# --8<-- [start:app]
def make_app(settings: GuideSettings, *, client_per_request: bool = False) -> FastAPI:
    app = FastAPI(title="Harbour Museum audio guide", lifespan=model_lifespan(settings))
    Client = (
        Annotated[anthropic.AsyncAnthropic, Depends(model_client_per_request)]
        if client_per_request
        else ModelClient
    )

    @app.get("/guide/artworks/{artwork}/blurb")
    async def blurb(artwork: str, client: Client) -> Blurb:
        message = await client.messages.create(
            model=settings.guide_model,
            max_tokens=200,
            messages=[{"role": "user", "content": f"Introduce {artwork} in two sentences."}],
        )
        return Blurb(artwork=artwork, text=message.content[0].text)

    return app


# --8<-- [end:app]


Settings = TypeVar("Settings", bound=GuideSettings)


def settings_for(
    api: FakeAnthropic, kind: type[Settings] = GuideSettings, **overrides: object
) -> Settings:
    """Settings of `kind` that point the guide at the fake API, as its environment would."""
    return kind(
        anthropic_api_key=api.settings["ANTHROPIC_API_KEY"],
        anthropic_base_url=api.settings["ANTHROPIC_BASE_URL"],
        **overrides,
    )


@asynccontextmanager
async def calling(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, its lifespan running, and a client that calls it."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://guide") as client:
            yield client


def serving(app: FastAPI) -> AbstractContextManager[str]:
    """`app` on a real uvicorn server on 127.0.0.1, its lifespan run by the server, until the
    block ends: its URL. Streams, hang-ups and heartbeats need a real server."""
    return running(app, lifespan="on")


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_one_client_keeps_one_connection_for_every_request(api: FakeAnthropic) -> None:
    async with calling(make_app(settings_for(api))) as guide:
        for artwork in ["the-storm", "the-lens", "the-tide-clock"] * 4:
            assert (await guide.get(f"/guide/artworks/{artwork}/blurb")).status_code == 200
    assert len(api.messages()) == 12
    assert api.connections == 1  # one TCP (and, on the real API, TLS) handshake for all twelve


@pytest.mark.asyncio
async def test_a_client_per_request_opens_a_connection_per_request(api: FakeAnthropic) -> None:
    async with calling(make_app(settings_for(api), client_per_request=True)) as guide:
        for artwork in ["the-storm", "the-lens", "the-tide-clock"] * 4:
            assert (await guide.get(f"/guide/artworks/{artwork}/blurb")).status_code == 200
    assert api.connections == 12


@pytest.mark.asyncio
async def test_the_client_is_closed_at_shutdown(api: FakeAnthropic) -> None:
    async with model_lifespan(settings_for(api))(FastAPI()) as state:
        client = state["model_client"]
        assert not client.is_closed()
    assert client.is_closed()


# --8<-- [end:tests]
