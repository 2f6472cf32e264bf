"""Token usage, counted off the request path: each answer puts its usage on an asyncio queue (no
waiting), and a task started in the lifespan writes it down and keeps this process's totals.
Streams are counted from their final message, once.

Module 9's lesson (section "Usage accounting") includes this file. Run its tests with
`pytest examples/guide_usage.py`.
"""

import asyncio
import json
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import httpx
import pytest
from anthropic.types import Usage
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent
from guide_client import (
    GuideSettings,
    ModelClient,
    model_lifespan,
    new_model_client,
    serving,
    settings_for,
)
from pydantic import BaseModel, Field

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic


# --8<-- [start:ledger]
class UsageLedger:
    """Usage entries wait on a queue; one task writes each down (`write`, a blocking call run in
    a thread: a file, a billing service) and adds it to this process's totals."""

    def __init__(self, write: Callable[[dict], None]) -> None:
        self.write = write
        self.queue: asyncio.Queue[dict] = asyncio.Queue()
        self.totals: dict[str, Counter[str]] = {}

    def record(self, model: str, usage: Usage) -> None:
        """Called on the request path: returns at once."""
        entry = {"model": model, "input_tokens": usage.input_tokens}
        self.queue.put_nowait({**entry, "output_tokens": usage.output_tokens})

    async def run(self) -> None:
        while True:
            entry = await self.queue.get()
            try:
                await asyncio.to_thread(self.write, entry)
                tokens = {key: value for key, value in entry.items() if key != "model"}
                self.totals.setdefault(entry["model"], Counter()).update(tokens, requests=1)
            finally:
                self.queue.task_done()

    @asynccontextmanager
    async def running(self) -> AsyncIterator["UsageLedger"]:
        task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            await self.queue.join()  # a graceful shutdown loses no entry
            task.cancel()


def append_to(path: Path) -> Callable[[dict], None]:
    def write(entry: dict) -> None:
        with path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    return write


# --8<-- [end:ledger]


class UsageSettings(GuideSettings):
    usage_log: Path = Path("usage.jsonl")


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500)


# --8<-- [start:app]
def make_app(settings: UsageSettings, write: Callable[[dict], None] | None = None) -> FastAPI:
    ledger = UsageLedger(write or append_to(settings.usage_log))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        async with model_lifespan(settings)(app) as state, ledger.running():
            yield state

    app = FastAPI(title="Harbour Museum audio guide", lifespan=lifespan)

    def request_for(question: Question) -> dict:
        messages = [{"role": "user", "content": question.question}]
        return {"model": settings.guide_model, "max_tokens": 400, "messages": messages}

    @app.post("/guide/answers")
    async def answer(question: Question, client: ModelClient) -> dict[str, str]:
        message = await client.messages.create(**request_for(question))
        ledger.record(message.model, message.usage)
        return {"text": message.content[0].text}

    @app.post("/guide/answers/stream", response_class=EventSourceResponse)
    async def stream_answer(
        question: Question, client: ModelClient
    ) -> AsyncIterator[ServerSentEvent]:
        async with client.messages.stream(**request_for(question)) as stream:
            async for text in stream.text_stream:
                yield ServerSentEvent(event="delta", data={"text": text})
            message = await stream.get_final_message()
        ledger.record(message.model, message.usage)  # the final count, once
        yield ServerSentEvent(event="done", data=message.usage.model_dump(exclude_none=True))

    @app.get("/guide/usage")
    async def usage() -> dict[str, object]:
        """This process's totals only: with several workers, each has its own."""
        return {"pid": os.getpid(), "models": ledger.totals}

    return app


# --8<-- [end:app]


# --8<-- [start:double_count]
async def usage_from_every_event(client: anthropic.AsyncAnthropic, **request: object) -> int:
    """Wrong: output tokens summed over the stream's events. `message_start` carries a usage
    (with a provisional output count) and `message_delta` the final one: both are counted."""
    output_tokens = 0
    async with client.messages.stream(**request) as stream:
        async for event in stream:
            if event.type == "message_start":
                output_tokens += event.message.usage.output_tokens
            elif event.type == "message_delta":
                output_tokens += event.usage.output_tokens
    return output_tokens


# --8<-- [end:double_count]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


@pytest.fixture
def settings(api: FakeAnthropic, tmp_path: Path) -> UsageSettings:
    return settings_for(api, UsageSettings, usage_log=tmp_path / "usage.jsonl")


def recorded(http: httpx.Client, requests: int) -> dict[str, int]:
    """The totals, once the ledger has caught up: it writes a moment after the answer."""
    deadline = time.monotonic() + 5
    while True:
        totals = http.get("/guide/usage").json()["models"].get("claude-haiku-4-5", {})
        if totals.get("requests") == requests or time.monotonic() > deadline:
            return totals
        time.sleep(0.01)


# --8<-- [start:tests]
def test_the_totals_match_what_the_api_billed(api: FakeAnthropic, settings) -> None:
    with serving(make_app(settings)) as url, httpx.Client(base_url=url) as http:
        for number in range(3):
            http.post("/guide/answers", json={"question": f"What is in room {number}?"})
            http.post("/guide/answers/stream", json={"question": f"Who painted room {number}?"})
        totals = recorded(http, requests=6)
    assert totals == {**api.usage(), "requests": 6}
    assert len(settings.usage_log.read_text().splitlines()) == 6


def test_a_slow_ledger_does_not_slow_the_answer(api: FakeAnthropic, settings) -> None:
    written = threading.Event()
    may_write = threading.Event()

    def slow_write(entry: dict) -> None:
        may_write.wait(timeout=10)  # a billing service taking its time
        written.set()

    with serving(make_app(settings, slow_write)) as url, httpx.Client(base_url=url) as http:
        response = http.post("/guide/answers", json={"question": "Where is the café?"})
        assert response.status_code == 200 and not written.is_set()  # answered first
        may_write.set()
        assert written.wait(timeout=10)


@pytest.mark.asyncio
async def test_summing_every_events_usage_counts_twice(api: FakeAnthropic) -> None:
    request = {"model": "claude-haiku-4-5", "max_tokens": 100}
    request["messages"] = [{"role": "user", "content": "Describe the tide clock."}]
    async with new_model_client(settings_for(api)) as client:
        summed = await usage_from_every_event(client, **request)
        async with client.messages.stream(**request) as stream:
            final = (await stream.get_final_message()).usage.output_tokens
    assert final == api.messages()[1].usage["output_tokens"] == api.words
    assert summed > final  # the provisional count of message_start, added to the final one


# --8<-- [end:tests]
