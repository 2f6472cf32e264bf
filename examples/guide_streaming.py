"""The audio guide's answers, streamed word by word as server-sent events with FastAPI's own
`EventSourceResponse`: a `delta` event per piece of text, then a `done` event with the usage.
Beside it, the same answer buffered (sent whole once the model has finished), a middleware that
buffers a stream without meaning to, and a stream detached from its request, which keeps paying
for tokens after the visitor has gone. Last, why the model's stream is opened on the response's
exits rather than in the generator alone: a generator that FastAPI stops at a `yield` is closed
only by the garbage collector.

Module 9's lesson (sections "Server-sent events", "Time to first token" and "When the client
disconnects") includes this file. Run its tests with `pytest examples/guide_streaming.py`: each
serves the app on a real uvicorn server, in front of the fake Anthropic API.
"""

import asyncio
import gc
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Annotated

import anthropic
import fastapi.routing
import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent
from guide_client import GuideSettings, ModelClient, model_lifespan, serving, settings_for
from pydantic import BaseModel, Field
from travel_upstreams import running

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic

logger = logging.getLogger(__name__)
SYSTEM = "You are the Harbour Museum's audio guide. Answer in at most three short sentences."


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500)


class Answer(BaseModel):
    text: str


# --8<-- [start:exits]
async def response_exits() -> AsyncIterator[AsyncExitStack]:
    """What a route opens for its response, closed when the response ends, however it ended:
    FastAPI runs a dependency's code after `yield` once the response is over."""
    async with AsyncExitStack() as exits:
        yield exits


ResponseExits = Annotated[AsyncExitStack, Depends(response_exits)]
# --8<-- [end:exits]


def make_app(settings: GuideSettings) -> FastAPI:
    app = FastAPI(title="Harbour Museum audio guide", lifespan=model_lifespan(settings))

    def request_for(question: Question) -> dict:
        return {
            "model": settings.guide_model,
            "max_tokens": 400,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": question.question}],
        }

    # --8<-- [start:stream]
    @app.post("/guide/answers/stream", response_class=EventSourceResponse)
    async def stream_answer(
        question: Question, client: ModelClient, exits: ResponseExits
    ) -> AsyncIterator[ServerSentEvent]:
        try:
            # closed with the response, the visitor gone included ("When the client disconnects")
            stream = await exits.enter_async_context(
                client.messages.stream(**request_for(question))
            )
            async for text in stream.text_stream:
                yield ServerSentEvent(event="delta", data={"text": text})
            message = await stream.get_final_message()
        except anthropic.APIError as error:  # the 200 has gone: say it in the stream
            yield ServerSentEvent(event="error", data={"message": type(error).__name__})
            return
        usage = {"input_tokens": message.usage.input_tokens}
        usage["output_tokens"] = message.usage.output_tokens
        yield ServerSentEvent(event="done", data={"stop_reason": message.stop_reason, **usage})

    # --8<-- [end:stream]

    # --8<-- [start:buffered]
    @app.post("/guide/answers")
    async def answer(question: Question, client: ModelClient) -> Answer:
        """The whole answer at once: nothing reaches the visitor until the model has finished.
        (Collected from a stream here, because the fake API, unlike a real model, answers a
        request that is not streamed at once.)"""
        async with client.messages.stream(**request_for(question)) as stream:
            return Answer(text=await stream.get_final_text())

    # --8<-- [end:buffered]

    # --8<-- [start:detached]
    pumps: set[asyncio.Task[None]] = set()

    @app.post("/guide/answers/stream-detached", response_class=EventSourceResponse)
    async def stream_answer_detached(
        question: Question, client: ModelClient
    ) -> AsyncIterator[ServerSentEvent]:
        """Wrong: the model's stream is read by a task that belongs to no request, so a visitor
        who leaves never stops it, and every remaining token is paid for nobody."""
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        async def pump() -> None:
            async with client.messages.stream(**request_for(question)) as stream:
                async for text in stream.text_stream:
                    pieces.put_nowait(text)
            pieces.put_nowait(None)

        task = asyncio.create_task(pump())
        pumps.add(task)
        task.add_done_callback(pumps.discard)
        while (text := await pieces.get()) is not None:
            yield ServerSentEvent(event="delta", data={"text": text})

    # --8<-- [end:detached]
    return app


def serve() -> FastAPI:
    """For `uvicorn guide_streaming:serve --factory`, configured by the environment
    (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL): benchmarks/ai_api.py runs it so."""
    return make_app(GuideSettings())


# --8<-- [start:buffering_middleware]
class ResponseBodyLogger:
    """Wrong for streams: a pure ASGI middleware that holds the whole body back, to log it,
    before sending any of it. A stream passed through it arrives in one piece, at the end."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: list[dict] = []

        async def hold(message: dict) -> None:
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                body = b"".join(part.get("body", b"") for part in held[1:])
                logger.info("%s answered %d bytes", scope["path"], len(body))
                for each in held:
                    await send(each)

        await self.app(scope, receive, hold)


# --8<-- [end:buffering_middleware]


def events(lines: Iterator[str]) -> Iterator[dict]:
    """Server-sent events as dicts (`event`, `data` parsed as JSON, `comment`): a blank line ends
    each one."""
    event: dict = {}
    for line in lines:
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            event["comment"] = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            event[name] = json.loads(value) if name == "data" else value.strip()


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        api.words, api.pace = 12, 0.02
        yield api


QUESTION = {"question": "Who painted the lifeboat in the storm?"}


def wait_until_ended(api: FakeAnthropic, number: int = -1, timeout: float = 5.0) -> None:
    """The fake notes a reply's end (or the client's hang-up) a moment after the client sees it."""
    deadline = time.monotonic() + timeout
    while api.messages()[number].ended is None:
        assert time.monotonic() < deadline, "the model's reply never ended"
        time.sleep(0.01)


# --8<-- [start:sse_tests]
def test_the_answer_arrives_as_deltas_then_a_done_event(api: FakeAnthropic) -> None:
    with serving(make_app(settings_for(api))) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/guide/answers/stream", json=QUESTION) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"  # nginx: do not buffer this
            received = list(events(response.iter_lines()))
    *deltas, done = received
    call = api.messages()[0]
    assert [event["event"] for event in deltas] == ["delta"] * 12
    assert "".join(event["data"]["text"] for event in deltas) == call.text
    assert done == {"event": "done", "data": {"stop_reason": "end_turn", **call.usage}}


def test_an_overloaded_model_is_reported_in_the_stream(api: FakeAnthropic) -> None:
    api.overload()
    settings = settings_for(api, model_max_retries=0)
    with serving(make_app(settings)) as url, httpx.Client(base_url=url) as http:
        response = http.post("/guide/answers/stream", json=QUESTION)
    assert response.status_code == 200  # sent before the model was asked
    assert list(events(iter(response.text.splitlines()))) == [
        {"event": "error", "data": {"message": "OverloadedError"}}
    ]


def test_a_quiet_stream_gets_keep_alive_comments(
    api: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.05)  # 15 s in production
    api.hold_streams()  # the model stops after its first word, until released
    with serving(make_app(settings_for(api))) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/guide/answers/stream", json=QUESTION) as response:
            lines = response.iter_lines()
            assert ": ping" in lines  # reads up to the first keep-alive comment
            api.release()
            assert list(events(lines))[-1]["event"] == "done"


# --8<-- [end:sse_tests]


# --8<-- [start:first_token_tests]
def test_a_streamed_answer_starts_before_the_model_has_finished(api: FakeAnthropic) -> None:
    with serving(make_app(settings_for(api))) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/guide/answers/stream", json=QUESTION) as response:
            received = events(response.iter_lines())
            first = next(received)
            first_at = time.perf_counter()
            assert list(received)[-1]["event"] == "done"
    assert first["event"] == "delta"
    assert first_at < api.messages()[0].deltas[-1]  # read before the model wrote its last word


def test_a_buffered_answer_waits_for_the_last_word(api: FakeAnthropic) -> None:
    with serving(make_app(settings_for(api))) as url, httpx.Client(base_url=url) as http:
        response = http.post("/guide/answers", json=QUESTION)
        answered_at = time.perf_counter()
    assert response.json()["text"] == api.messages()[0].text
    assert answered_at > api.messages()[0].deltas[-1]


def test_a_middleware_that_reads_the_body_buffers_the_stream(api: FakeAnthropic) -> None:
    app = make_app(settings_for(api))
    app.add_middleware(ResponseBodyLogger)
    with serving(app) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/guide/answers/stream", json=QUESTION) as response:
            next(events(response.iter_lines()))
            first_at = time.perf_counter()
    assert first_at > api.messages()[0].deltas[-1]  # the first word came with the last


# --8<-- [end:first_token_tests]


# --8<-- [start:disconnect_tests]
def test_a_visitor_who_leaves_stops_the_model(api: FakeAnthropic) -> None:
    api.words = 40  # 0.8 s of reply
    with serving(make_app(settings_for(api))) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/guide/answers/stream", json=QUESTION) as response:
            next(events(response.iter_lines()))  # one word, then the visitor walks away
        wait_until_ended(api)
    call = api.messages()[0]
    assert call.hung_up  # the app closed its stream from the model...
    assert len(call.deltas) < 40  # ...before the model had written (and billed) every word


def test_a_detached_stream_keeps_paying_after_the_visitor_left(api: FakeAnthropic) -> None:
    api.words = 40
    with serving(make_app(settings_for(api))) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/guide/answers/stream-detached", json=QUESTION) as response:
            next(events(response.iter_lines()))
        wait_until_ended(api)
    call = api.messages()[0]
    assert not call.hung_up and len(call.deltas) == 40  # every word, for nobody


# --8<-- [end:disconnect_tests]


# --8<-- [start:parked]
class Reel:
    """Stands for whatever a stream holds open, the model's response among them: it notes when
    it is closed (`time.perf_counter()`), None while open."""

    def __init__(self) -> None:
        self.closed_at: float | None = None

    async def __aenter__(self) -> "Reel":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed_at = time.perf_counter()


def captions_app(reel: Reel) -> FastAPI:
    """Captions without end, each ready at once: the generator is always ahead of its reader, so
    it is stopped at a `yield` when the visitor leaves, never at an `await`."""
    app = FastAPI()

    @app.get("/captions/held-by-generator", response_class=EventSourceResponse)
    async def held_by_generator() -> AsyncIterator[ServerSentEvent]:
        async with reel:
            for number in itertools.count():
                yield ServerSentEvent(data={"caption": number})

    @app.get("/captions/held-by-response", response_class=EventSourceResponse)
    async def held_by_response(exits: ResponseExits) -> AsyncIterator[ServerSentEvent]:
        await exits.enter_async_context(reel)
        for number in itertools.count():
            yield ServerSentEvent(data={"caption": number})

    return app


# --8<-- [end:parked]


def leave_after_two_events(url: str, path: str) -> None:
    with httpx.Client(base_url=url) as http, http.stream("GET", path) as response:
        received = events(response.iter_lines())
        next(received), next(received)


@pytest.fixture
def no_garbage_collection() -> Iterator[None]:
    """Python's collector runs whenever enough objects have been made; off, a test sees what is
    left to it."""
    gc.disable()
    yield
    gc.enable()


def wait_until_closed(reel: Reel, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while reel.closed_at is None:
        assert time.monotonic() < deadline, "the reel was never closed"
        time.sleep(0.01)


# --8<-- [start:parked_tests]
@pytest.mark.usefixtures("no_garbage_collection")
def test_a_generator_stopped_at_yield_is_left_to_the_garbage_collector() -> None:
    reel = Reel()
    with running(captions_app(reel)) as url:
        leave_after_two_events(url, "/captions/held-by-generator")
        time.sleep(0.5)
        assert reel.closed_at is None  # FastAPI cancelled its task; the generator holds the reel
        gc.collect()
        wait_until_closed(reel)  # the collector finalizes the generator: only then is it closed


@pytest.mark.usefixtures("no_garbage_collection")
def test_what_the_response_holds_closes_when_the_visitor_leaves() -> None:
    reel = Reel()
    with running(captions_app(reel)) as url:
        leave_after_two_events(url, "/captions/held-by-response")
        wait_until_closed(reel)  # by the response's exits: the collector is off


# --8<-- [end:parked_tests]
