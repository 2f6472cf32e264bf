"""Testing with `app.dependency_overrides`: the endpoint gets a fake LLM client, never the real one.

Module 1's lesson (section "Fakes in tests") includes parts of this file. Run it on its own with
`pytest examples/dependency_overrides.py`.
"""

# --8<-- [start:app]
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel


class LLMClient:
    """Stands in for anthropic.AsyncAnthropic: the real thing needs a key and the network."""

    async def complete(self, prompt: str) -> str:
        raise RuntimeError("a test reached the real LLM API")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.llm = LLMClient()
    yield


app = FastAPI(lifespan=lifespan)


def get_llm_client(request: Request) -> LLMClient:
    return request.app.state.llm


LLMDep = Annotated[LLMClient, Depends(get_llm_client)]


class Prompt(BaseModel):
    text: str


@app.post("/chat")
async def chat(prompt: Prompt, llm: LLMDep) -> dict[str, str]:
    return {"answer": await llm.complete(prompt.text)}


# --8<-- [end:app]


# --8<-- [start:tests]
class FakeLLM:
    """Answers at once, offline, and remembers its prompts so that a test can check them."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def complete(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return f"fake answer to {prompt!r}"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """The fake, for one test: the overrides are cleared afterwards, even when the test fails."""
    fake = FakeLLM()
    app.dependency_overrides[get_llm_client] = lambda: fake
    yield fake
    app.dependency_overrides.clear()


def test_chat_answers_with_the_fake(fake_llm: FakeLLM) -> None:
    with TestClient(app) as client:  # `with` runs the lifespan, as a server would
        response = client.post("/chat", json={"text": "hello"})
    assert response.status_code == 200
    assert response.json() == {"answer": "fake answer to 'hello'"}
    assert fake_llm.prompts == ["hello"]


# --8<-- [end:tests]


def test_without_the_override_the_real_client_is_used() -> None:
    """What the fixture protects against, and proof that no override outlives its test."""
    assert not app.dependency_overrides
    with TestClient(app) as client, pytest.raises(RuntimeError, match="real LLM API"):
        client.post("/chat", json={"text": "hello"})
