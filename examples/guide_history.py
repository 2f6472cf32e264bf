"""A conversation with the audio guide: each visit keeps its earlier questions and answers, and
sends them back to the model with every new question, because the Messages API remembers
nothing between calls. The history is bounded, and kept in this process only.

Module 9's lesson (section "Conversation history") includes this file. Run its tests with
`pytest examples/guide_history.py`.
"""

from collections.abc import Iterator

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam
from fastapi import FastAPI
from guide_client import GuideSettings, ModelClient, calling, model_lifespan, settings_for
from pydantic import BaseModel, Field

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic


# --8<-- [start:history]
class Conversations:
    """Each visit's recent turns, oldest first, in this process's memory: lost on restart, and
    not shared with the other workers (a Redis list per visit would be)."""

    def __init__(self, max_turns: int) -> None:
        self.max_turns = max_turns  # one turn: a question and its answer
        self.visits: dict[str, list[MessageParam]] = {}

    def history(self, visit_id: str) -> list[MessageParam]:
        return list(self.visits.get(visit_id, []))

    def add_turn(self, visit_id: str, question: str, answer: str) -> None:
        turns = self.visits.setdefault(visit_id, [])
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        del turns[: -2 * self.max_turns]  # drop whole turns: it still starts with a question


# --8<-- [end:history]


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500)


class Reply(BaseModel):
    answer: str
    turns: int


# --8<-- [start:app]
def make_app(settings: GuideSettings, *, max_turns: int = 10) -> FastAPI:
    app = FastAPI(title="Harbour Museum audio guide", lifespan=model_lifespan(settings))
    conversations = Conversations(max_turns)

    @app.post("/guide/visits/{visit_id}/questions")
    async def ask(visit_id: str, question: Question, client: ModelClient) -> Reply:
        messages = conversations.history(visit_id)
        messages.append({"role": "user", "content": question.question})
        message = await client.messages.create(
            model=settings.guide_model,
            max_tokens=400,
            system="You are the Harbour Museum's audio guide.",
            messages=messages,
        )
        answer = message.content[0].text
        # Only a turn that was answered: a failed call must not leave a question without reply.
        conversations.add_turn(visit_id, question.question, answer)
        return Reply(answer=answer, turns=len(conversations.history(visit_id)) // 2)

    return app


# --8<-- [end:app]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


async def ask(guide: httpx.AsyncClient, visit_id: str, question: str) -> dict:
    response = await guide.post(f"/guide/visits/{visit_id}/questions", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_each_question_carries_the_visits_earlier_turns(api: FakeAnthropic) -> None:
    async with calling(make_app(settings_for(api))) as guide:
        first = await ask(guide, "v1", "What is in Room 3?")
        await ask(guide, "v1", "Who painted it?")
    sent = api.messages()[1].body["messages"]
    assert [message["role"] for message in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "What is in Room 3?"
    assert sent[1]["content"] == first["answer"]  # the model's own earlier answer
    assert sent[2]["content"] == "Who painted it?"


@pytest.mark.asyncio
async def test_visits_do_not_share_their_history(api: FakeAnthropic) -> None:
    async with calling(make_app(settings_for(api))) as guide:
        await ask(guide, "v1", "What is in Room 3?")
        await ask(guide, "v2", "Where is the café?")
    assert api.messages()[1].body["messages"] == [{"role": "user", "content": "Where is the café?"}]


@pytest.mark.asyncio
async def test_the_history_keeps_only_the_latest_turns(api: FakeAnthropic) -> None:
    async with calling(make_app(settings_for(api), max_turns=2)) as guide:
        for number in range(1, 6):
            reply = await ask(guide, "v1", f"Question {number}?")
    assert reply["turns"] == 2
    sent = api.messages()[-1].body["messages"]
    assert [message["content"] for message in sent[::2]] == [
        "Question 3?",
        "Question 4?",
        "Question 5?",
    ]
    assert sent[0]["role"] == "user"  # still starts with a question, as the API requires


@pytest.mark.asyncio
async def test_a_failed_call_leaves_no_half_turn(api: FakeAnthropic) -> None:
    async with calling(make_app(settings_for(api, model_max_retries=0))) as guide:
        await ask(guide, "v1", "What is in Room 3?")
        api.fail(500, times=1)
        with pytest.raises(anthropic.InternalServerError):  # no handler here: it propagates
            await guide.post("/guide/visits/v1/questions", json={"question": "Lost?"})
        await ask(guide, "v1", "Who painted it?")
    roles = [message["role"] for message in api.messages()[-1].body["messages"]]
    assert roles == ["user", "assistant", "user"]


# --8<-- [end:tests]
