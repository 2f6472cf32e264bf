"""When the model is overloaded: the SDK's own retries, with backoff, on the primary model, then
one try on a fallback model, and a clear 503 if both are overloaded. A request the API refuses
(4xx) is not retried, nor sent to another model: it would be refused again.

Module 9's lesson (section "Overload, retries and a fallback model") includes this file. Run its
tests with `pytest examples/guide_fallback.py`.
"""

from collections.abc import Iterator

import anthropic
import pytest
from anthropic.types import Message
from fastapi import FastAPI, HTTPException, status
from guide_client import GuideSettings, ModelClient, calling, model_lifespan, settings_for
from pydantic import BaseModel, Field

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic


class FallbackSettings(GuideSettings):
    guide_model: str = "claude-sonnet-4-6"
    fallback_model: str = "claude-haiku-4-5"


# --8<-- [start:fallback]
async def create_with_fallback(
    client: anthropic.AsyncAnthropic, settings: FallbackSettings, **request: object
) -> Message:
    """The primary model, retried by the SDK (`max_retries`, with backoff); if it is still
    overloaded, the fallback model. Any other error propagates: a 4xx is our request's fault."""
    try:
        return await client.messages.create(model=settings.guide_model, **request)
    except anthropic.OverloadedError:
        return await client.messages.create(model=settings.fallback_model, **request)


# --8<-- [end:fallback]


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500)


class Answer(BaseModel):
    text: str
    model: str


# --8<-- [start:app]
def make_app(settings: FallbackSettings) -> FastAPI:
    app = FastAPI(title="Harbour Museum audio guide", lifespan=model_lifespan(settings))

    @app.post("/guide/answers")
    async def answer(question: Question, client: ModelClient) -> Answer:
        try:
            message = await create_with_fallback(
                client,
                settings,
                max_tokens=400,
                messages=[{"role": "user", "content": question.question}],
            )
        except anthropic.OverloadedError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The guide is very busy: please ask again in a minute.",
                headers={"Retry-After": "30"},
            ) from None
        except anthropic.APIStatusError as error:  # 4xx: retrying would change nothing
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, "The guide failed.") from error
        return Answer(text=message.content[0].text, model=message.model)

    return app


# --8<-- [end:app]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


@pytest.fixture
def settings(api: FakeAnthropic) -> FallbackSettings:
    # One SDK retry (0.4-0.5 s of backoff) keeps the tests quick; production keeps 2 or more.
    return settings_for(api, FallbackSettings, model_max_retries=1)


QUESTION = {"question": "What is in Room 3?"}


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_a_passing_overload_is_absorbed_by_the_sdks_retry(api, settings) -> None:
    api.overload(settings.guide_model, times=1)
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/answers", json=QUESTION)
    assert response.json()["model"] == "claude-sonnet-4-6"
    assert [call.model for call in api.messages()] == ["claude-sonnet-4-6"] * 2
    first, retry = api.messages()
    assert retry.at - first.at >= 0.3  # the SDK waited before trying again


@pytest.mark.asyncio
async def test_a_lasting_overload_falls_back_to_the_other_model(api, settings) -> None:
    api.overload(settings.guide_model)
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/answers", json=QUESTION)
    assert response.status_code == 200 and response.json()["model"] == "claude-haiku-4-5"
    models = [call.model for call in api.messages()]
    assert models == ["claude-sonnet-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"]


@pytest.mark.asyncio
async def test_both_models_overloaded_is_a_503_with_retry_after(api, settings) -> None:
    api.overload()
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/answers", json=QUESTION)
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert len(api.messages()) == 4  # each model: one try and one retry


@pytest.mark.asyncio
async def test_a_refused_request_is_neither_retried_nor_sent_elsewhere(api, settings) -> None:
    api.fail(400)
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/answers", json=QUESTION)
    assert response.status_code == 502
    assert len(api.messages()) == 1


# --8<-- [end:tests]
