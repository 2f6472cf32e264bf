"""Liveness and readiness for the audio guide: `/health` says the process serves, and calls
nothing; `/ready` probes the model API (a token count: no tokens generated, no retries, a short
timeout) and the vector store, and answers 503 naming what failed.

Module 9's lesson (section "Liveness and readiness") includes this file. Run its tests with
`pytest examples/guide_readiness.py`.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import chromadb
import pytest
from chromadb.api.models.Collection import Collection
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from guide_client import GuideSettings, ModelClient, calling, model_lifespan, settings_for
from guide_retrieval import open_exhibits

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic


class ReadinessSettings(GuideSettings):
    chroma_path: Path = Path("chroma")
    probe_timeout: float = 2.0  # well under the orchestrator's own probe timeout


# --8<-- [start:probes]
async def model_problem(client: anthropic.AsyncAnthropic, settings: ReadinessSettings) -> str:
    """'' if the model API answers; else what went wrong. Counting tokens generates none."""
    probe = client.with_options(max_retries=0, timeout=settings.probe_timeout)
    try:
        await probe.messages.count_tokens(
            model=settings.guide_model, messages=[{"role": "user", "content": "ping"}]
        )
    except anthropic.APIError as error:
        return type(error).__name__
    return ""


async def store_problem(exhibits: Collection) -> str:
    try:
        await run_in_threadpool(exhibits.count)
    except Exception as error:  # whatever the store raises, it is not ready
        return type(error).__name__
    return ""


# --8<-- [end:probes]


# --8<-- [start:app]
def make_app(settings: ReadinessSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        exhibits = await run_in_threadpool(open_exhibits, settings.chroma_path)
        async with model_lifespan(settings)(app) as state:
            yield {**state, "exhibits": exhibits}

    app = FastAPI(title="Harbour Museum audio guide", lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: this process answers. Never a dependency: restarting cannot fix one."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request, client: ModelClient) -> JSONResponse:
        """Readiness: send me traffic, or not yet. Both probes run at once."""
        problems = await asyncio.gather(
            model_problem(client, settings), store_problem(request.state.exhibits)
        )
        checks = {
            name: problem or "ok"
            for name, problem in zip(["model", "vector_store"], problems, strict=True)
        }
        ready = not any(problems)
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app


# --8<-- [end:app]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


@pytest.fixture
def settings(api: FakeAnthropic, tmp_path: Path) -> ReadinessSettings:
    return settings_for(api, ReadinessSettings, chroma_path=tmp_path / "chroma", probe_timeout=0.3)


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_ready_when_the_model_and_the_store_answer(api, settings) -> None:
    async with calling(make_app(settings)) as guide:
        response = await guide.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"model": "ok", "vector_store": "ok"}}
    assert len(api.token_counts()) == 1 and api.messages() == []  # nothing generated, nothing paid


@pytest.mark.asyncio
async def test_a_model_api_that_is_down_makes_it_unready_but_alive(api, settings) -> None:
    async with calling(make_app(settings)) as guide:
        api.stop()
        ready, health = await guide.get("/ready"), await guide.get("/health")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"model": "APIConnectionError", "vector_store": "ok"}
    assert health.status_code == 200  # a restart would not bring the model API back


@pytest.mark.asyncio
async def test_a_model_api_that_hangs_fails_the_probe_fast_and_once(api, settings) -> None:
    async with calling(make_app(settings)) as guide:
        api.hang()
        began = time.perf_counter()
        ready = await guide.get("/ready")
        took = time.perf_counter() - began
    assert ready.json()["checks"]["model"] == "APITimeoutError"
    assert len(api.arrived("/v1/messages/count_tokens")) == 1  # no retries
    assert took < 10 * settings.probe_timeout  # not the client's 30 s, nor three of them


@pytest.mark.asyncio
async def test_an_overloaded_model_is_named(api, settings) -> None:
    async with calling(make_app(settings)) as guide:
        api.overload()
        ready = await guide.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["model"] == "OverloadedError"


@pytest.mark.asyncio
async def test_a_missing_collection_is_named(api, settings) -> None:
    async with calling(make_app(settings)) as guide:
        chromadb.PersistentClient(path=str(settings.chroma_path)).delete_collection("exhibits")
        ready = await guide.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["model"] == "ok"
    assert ready.json()["checks"]["vector_store"] != "ok"


# --8<-- [end:tests]
