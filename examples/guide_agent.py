"""Tool use in a bounded loop: the audio guide plans a short tour, and the model looks the museum's
exhibits up with a tool, `find_exhibits`, which the app runs for it.

The model cannot run code: when it wants exhibits it stops (`stop_reason == "tool_use"`) and asks.
The app keeps the model's turn whole, runs each tool it asked for, sends one `tool_result` per
`tool_use` back in the next user message, and asks again, until the model answers in text, or
until `tour_max_steps` model requests have been made: then a 502 with an error code, never a loop
that runs for ever. A tool's bad input, or a tool that does not exist, goes back to the model as a
result marked `is_error`, not as an exception.

Module 9's lesson (section "Tool use, in a bounded loop") includes this file. Run its tests with
`pytest examples/guide_agent.py`: the fake API asks for the first tool it is offered
`api.tool_turns` times per conversation, then answers in text.
"""

import logging
import re
from collections.abc import Callable, Iterator

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam, ToolResultBlockParam, ToolUseBlock
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from guide_client import GuideSettings, ModelClient, calling, model_lifespan, settings_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic

logger = logging.getLogger(__name__)


class Exhibit(BaseModel):
    room: str
    topics: frozenset[str]
    note: str


# --8<-- [start:tool]
COLLECTION = {
    "lifeboat-painting": Exhibit(
        room="2",
        topics=frozenset({"ships", "storms", "sea", "paintings", "rescue"}),
        note="A lifeboat fighting the waves of the great gale of 1881.",
    ),
    "shipwreck-coins": Exhibit(
        room="4",
        topics=frozenset({"ships", "shipwrecks", "treasure", "coins"}),
        note="Silver coins raised from a merchant ship that sank in 1702.",
    ),
    "tide-clock": Exhibit(
        room="5",
        topics=frozenset({"sea", "tides", "clocks", "instruments"}),
        note="A brass clock of 1851 that still shows high and low water.",
    ),
    "lighthouse-lens": Exhibit(
        room="stairwell",
        topics=frozenset({"lighthouses", "light", "sea", "instruments"}),
        note="A Fresnel lens three metres tall, from the old harbour light.",
    ),
    "civic-guard": Exhibit(
        room="3",
        topics=frozenset({"paintings", "portraits", "history"}),
        note="The group portrait of the civic guard, alone behind glass.",
    ),
}


class FindExhibits(BaseModel):
    """The tool's input as the model wrote it: untrusted, so validated like a request body."""

    model_config = ConfigDict(extra="forbid")
    topic: str = Field(min_length=2, max_length=40, description="a word or two: ships, clocks")


FIND_EXHIBITS: ToolParam = {
    "name": "find_exhibits",
    "description": "The museum's exhibits on a topic: name, room and a one-line note. "
    "Use it before you suggest any exhibit; suggest none that it did not return.",
    "input_schema": FindExhibits.model_json_schema(),  # the schema the input is checked against
}


def find_exhibits(tool_input: object) -> str:
    query = FindExhibits.model_validate(tool_input)  # raises ValidationError on bad input
    words = set(re.findall(r"[a-z]+", query.topic.lower()))
    found = [
        f"{name} (room {exhibit.room}): {exhibit.note}"
        for name, exhibit in COLLECTION.items()
        if words & exhibit.topics
    ]
    return "\n".join(found) or f"No exhibit matches {query.topic!r}."


TOOLS: dict[str, Callable[[object], str]] = {"find_exhibits": find_exhibits}


def run_tool(use: ToolUseBlock) -> ToolResultBlockParam:
    """One result for each tool_use, always. What the model can correct (a tool that does not
    exist, input that fails validation) goes back to it, marked is_error: not an exception."""
    tool = TOOLS.get(use.name)
    if tool is None:
        return tool_error(use, f"There is no tool named {use.name!r}: use one of {list(TOOLS)}.")
    try:
        return {"type": "tool_result", "tool_use_id": use.id, "content": tool(use.input)}
    except ValidationError as error:
        problems = [(".".join(map(str, e["loc"])) or "input", e["msg"]) for e in error.errors()]
        return tool_error(use, "; ".join(f"{field}: {message}" for field, message in problems))


def tool_error(use: ToolUseBlock, message: str) -> ToolResultBlockParam:
    return {"type": "tool_result", "tool_use_id": use.id, "content": message, "is_error": True}


# --8<-- [end:tool]


class TourSettings(GuideSettings):
    tour_max_steps: int = Field(default=4, ge=1)  # model requests per tour, the answer included


class TourRequest(BaseModel):
    wish: str = Field(min_length=1, max_length=300)  # "ships and storms", "something for kids"


# --8<-- [start:loop]
SYSTEM = (
    "You are the Harbour Museum's audio guide. Plan a short tour of three exhibits at most for "
    "the visitor's wish, with rooms, using only exhibits that find_exhibits returns."
)


class Tour(BaseModel):
    text: str
    steps: int  # model requests made, the last one (the answer) included
    input_tokens: int  # over every step: each one sent the whole conversation again


class TourStepsExhausted(Exception):
    def __init__(self, steps: int) -> None:
        super().__init__(f"the model still asked for tools after {steps} requests")
        self.steps = steps


async def plan_tour(client: anthropic.AsyncAnthropic, settings: TourSettings, wish: str) -> Tour:
    messages: list[MessageParam] = [{"role": "user", "content": wish}]
    input_tokens = 0
    for step in range(1, settings.tour_max_steps + 1):
        message = await client.messages.create(
            model=settings.guide_model,
            max_tokens=600,
            system=SYSTEM,
            tools=[FIND_EXHIBITS],
            messages=messages,  # the whole conversation, every time: the API keeps nothing
        )
        input_tokens += message.usage.input_tokens
        if message.stop_reason != "tool_use":  # end_turn (or max_tokens): the answer
            text = "".join(block.text for block in message.content if block.type == "text")
            return Tour(text=text, steps=step, input_tokens=input_tokens)
        # The model's turn as it came (any text and every tool_use block), then one user turn
        # that holds a tool_result for each tool_use, matched by its id.
        messages.append({"role": "assistant", "content": message.content})
        uses = [block for block in message.content if block.type == "tool_use"]
        messages.append({"role": "user", "content": [run_tool(use) for use in uses]})
    raise TourStepsExhausted(settings.tour_max_steps)  # the bound: no endless loop


# --8<-- [end:loop]


# --8<-- [start:app]
def make_app(settings: TourSettings) -> FastAPI:
    app = FastAPI(title="Harbour Museum audio guide", lifespan=model_lifespan(settings))

    @app.exception_handler(TourStepsExhausted)
    async def steps_exhausted(request: Request, error: TourStepsExhausted) -> JSONResponse:
        logger.warning("tour abandoned: %s", error)  # a rising count: a confusing prompt or tool
        return JSONResponse(
            status_code=502,  # the model, upstream, gave no usable answer: not our 500
            content={
                "error_code": "TOUR_STEPS_EXHAUSTED",
                "message": "The guide could not plan this tour. Try a simpler wish.",
                "details": {"steps": error.steps},
            },
        )

    @app.post("/guide/tours")
    async def tour(request: TourRequest, client: ModelClient) -> Tour:
        return await plan_tour(client, settings, request.wish)

    return app


# --8<-- [end:app]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


@pytest.fixture
def settings(api: FakeAnthropic) -> TourSettings:
    return settings_for(api, TourSettings, tour_max_steps=4)


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_the_tool_runs_and_its_result_reaches_the_model(api, settings) -> None:
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/tours", json={"wish": "ships and storms"})
    asked, answered = api.messages()
    assert asked.tool_use["name"] == "find_exhibits"
    assert asked.tool_use["input"] == {"topic": "ships and storms"}
    assert answered.body["messages"][1] == {"role": "assistant", "content": [asked.tool_use]}
    [result] = answered.tool_results
    assert result["tool_use_id"] == asked.tool_use["id"] and not result.get("is_error")
    assert result["content"].splitlines() == [
        "lifeboat-painting (room 2): A lifeboat fighting the waves of the great gale of 1881.",
        "shipwreck-coins (room 4): Silver coins raised from a merchant ship that sank in 1702.",
    ]
    assert response.status_code == 200
    assert response.json()["text"] == answered.text  # the model's words, once it had the result
    assert response.json()["steps"] == 2


@pytest.mark.asyncio
async def test_over_several_rounds_each_result_names_its_own_request(api, settings) -> None:
    api.tool_turns = 3  # three tool requests, then an answer: four steps, the bound
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/tours", json={"wish": "clocks"})
    calls = api.messages()
    for asked, answered in zip(calls, calls[1:], strict=False):
        assert [r["tool_use_id"] for r in answered.tool_results] == [asked.tool_use["id"]]
    assert response.json() == {
        "text": calls[-1].text,
        "steps": 4,
        "input_tokens": api.usage()["input_tokens"],  # what the API billed for the four
    }


@pytest.mark.asyncio
async def test_a_model_that_never_stops_asking_gets_a_502_after_max_steps(api, settings) -> None:
    api.tool_turns = 100
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/tours", json={"wish": "ships"})
    assert response.status_code == 502
    assert response.json()["error_code"] == "TOUR_STEPS_EXHAUSTED"
    assert len(api.messages()) == settings.tour_max_steps  # exactly: then it stopped asking
    inputs = [call.usage["input_tokens"] for call in api.messages()]
    assert inputs == sorted(set(inputs))  # each step re-sent everything, and more


@pytest.mark.asyncio
async def test_bad_tool_input_goes_back_to_the_model_as_an_error(api, settings) -> None:
    wish = "something for my children, who love pirates and the sea"  # too long for a topic
    async with calling(make_app(settings)) as guide:
        response = await guide.post("/guide/tours", json={"wish": wish})
    [result] = api.messages()[1].tool_results
    assert result["is_error"] is True and result["content"].startswith("topic: String should")
    assert response.status_code == 200  # the model read the error and answered


def test_an_unknown_tool_is_an_error_result_not_an_exception() -> None:
    use = ToolUseBlock(type="tool_use", id="toolu_1", name="open_vault", input={"room": "4"})
    result = run_tool(use)
    assert result["is_error"] is True and "no tool named 'open_vault'" in result["content"]


# --8<-- [end:tests]
