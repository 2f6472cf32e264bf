"""Capstone grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/capstone`. Most checks are the modules' own (grader/checks/), run on your
project: every server gets ADMIN_API_KEY, a DATABASE_PATH and a CHROMA_PATH in a folder of its
own, and a model API that answers nothing unless the check starts the grader's fake Anthropic API
(grader/fakes/anthropic.py) for it; every request the checks send carries an X-API-Key your admin
API issued for it, with the scopes `ask` and `documents:write`, unless the check is about keys.
The documents and questions are the help desk's (grader/helpdesk.py).
"""

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from grader import LabContext, Service, alone, expect_error, fail
from grader.checks import access_log, api_keys, assistant, cors, deployment, load
from grader.checks.api_keys import KeyedApi, Route
from grader.expect import answer
from grader.fakes.anthropic import Call, FakeAnthropic, fake_anthropic
from grader.helpdesk import DOCUMENTS, QUESTIONS
from grader.reproduce import PORT, variable
from grader.server import LabServer
from grader.sse import Event

ADMIN_KEY = "grader-admin-" + uuid.uuid4().hex
SCOPES = ("ask", "documents:write")
MAX_STEPS = 3
"""MAX_AGENT_STEPS: the model requests one question may make."""
NOWHERE = "http://127.0.0.1:9"
"""The model API of a check that starts no fake one: nothing listens on the discard port."""
API = KeyedApi(
    ADMIN_KEY,
    reader=Route("POST", "/rag/ask", "ask", {}, status=422),
    writer=Route(
        "POST",
        "/rag/documents",
        "documents:write",
        [{"id": "grader", "text": "A note the grader stores."}],
        status=201,
    ),
)
"""The capstone's routes, as the key checks see them, with requests that need no model: a question
without its text is refused (422) once its key is let through and counted, and a document is
stored."""
TOOL = "search_documents"


def settings(folder: Path) -> Mapping[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-ant-grader-unused",
        "ANTHROPIC_BASE_URL": NOWHERE,
        "ADMIN_API_KEY": ADMIN_KEY,
        "DATABASE_PATH": str(folder / "capstone.db"),
        "CHROMA_PATH": str(folder / "chroma"),
        "RATE_LIMIT_PER_MINUTE": "100",
        "MAX_AGENT_STEPS": str(MAX_STEPS),
    }


GRADERS_KEY = {"owner": "grader", "scopes": list(SCOPES)}
"""What the grader asks the admin API for: the key every reused check sends."""


async def credentials(server: LabServer) -> Mapping[str, str]:
    """A key with every scope, from the admin API: what the reused checks send."""
    body = GRADERS_KEY
    async with server.client(credentials=False) as client:
        response = await client.post("/admin/api-keys", json=body, headers=API.admin)
    created = response.json() if response.status_code == 201 else None
    if not isinstance(created, dict) or not isinstance(created.get("api_key"), str):
        raise fail(
            f"POST /admin/api-keys with the admin key and {json.dumps(body)}",
            answer(response),
            '201 with {"api_key": ..., "key_id": ...}: this check sends its requests with a key '
            "your admin API issued (task 3a)",
            response=response,
        )
    return {"X-API-Key": created["api_key"]}


ISSUE_BY_HAND = (
    f"export {variable('X-API-Key')}=$(curl -s -X POST -H 'X-API-Key: {ADMIN_KEY}' "
    f"-H 'Content-Type: application/json' --data-binary '{json.dumps(GRADERS_KEY)}' "
    f"http://127.0.0.1:{PORT}/admin/api-keys "
    """| python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')"""
)
"""The same key, issued by hand by the learner's own server."""
CAPSTONE = Service(settings, credentials, by_hand=[ISSUE_BY_HAND])
"""How the modules' checks start and reach the project."""


# --- Task 1: structure, settings and lifespan ---


async def test_one_client(lab: LabContext):
    await assistant.one_client(lab.serving(CAPSTONE))


# --- Task 2: middleware ---


async def test_request_id_is_returned_and_logged(lab: LabContext):
    await access_log.request_id_is_returned_and_logged(
        lab.serving(CAPSTONE), path="/admin/api-keys", headers=API.admin
    )


async def test_browser_enforces_cors(lab: LabContext):
    await cors.browser_enforces_cors(lab.serving(CAPSTONE), API.reader)


async def test_cors_allows_only_listed_origins(lab: LabContext):
    await cors.allows_only_listed_origins(lab.serving(CAPSTONE), API.reader)


# --- Task 3: API keys ---


async def test_no_valid_key_is_401(lab: LabContext):
    await api_keys.no_valid_key_is_401(lab.serving(CAPSTONE), API)


async def test_a_key_without_the_right_gets_403(lab: LabContext):
    await api_keys.a_key_without_the_right_gets_403(lab.serving(CAPSTONE), API)


async def test_rate_limit_follows_the_key(lab: LabContext):
    await api_keys.rate_limit_follows_the_key(lab.serving(CAPSTONE), API)


# --- Task 4: the assistant ---


async def test_chat_streams_each_word(lab: LabContext):
    await assistant.chat_streams_each_word(lab.serving(CAPSTONE))


async def test_leaving_client_stops_the_model(lab: LabContext):
    await assistant.leaving_client_stops_the_model(lab.serving(CAPSTONE))


async def test_chat_remembers_the_session(lab: LabContext):
    await assistant.chat_remembers_the_session(lab.serving(CAPSTONE))


async def test_answers_cite_their_sources(lab: LabContext):
    await assistant.answers_cite_their_sources(lab.serving(CAPSTONE))


async def test_nothing_relevant_asks_no_model(lab: LabContext):
    await assistant.nothing_relevant_asks_no_model(lab.serving(CAPSTONE))


async def test_overloaded_model_falls_back(lab: LabContext):
    await assistant.overloaded_model_falls_back(lab.serving(CAPSTONE))


# --- Task 5: operations ---


async def test_health_needs_no_model(lab: LabContext):
    await assistant.health_needs_no_model(lab.serving(CAPSTONE))


async def test_ready_follows_the_model(lab: LabContext):
    await assistant.ready_follows_the_model(lab.serving(CAPSTONE))


# --- Task 6: the agent ---


def agent_sent(question: str) -> str:
    return f"POST /agent/ask with {json.dumps({'question': question})}"


def steps_taken(calls: list[Call]) -> str:
    """The model's requests, each with what it answered: a tool call or text."""
    shown = [
        f"{number}. " + (f"asked for {call.tool_use['name']}" if call.tool_use else "answered")
        for number, call in enumerate(calls, start=1)
    ]
    return "; ".join(shown) or "none"


def offered(call: Call) -> list[str]:
    return [tool.get("name", "?") for tool in call.body.get("tools") or []]


async def test_agent_searches_then_answers(lab: LabContext):
    async with assistant.assistant(lab.serving(CAPSTONE)) as (api, app), app.client() as client:
        await assistant.store(client)
        for question, expected in list(QUESTIONS.items())[:3]:
            before = len(api.calls)
            response = await client.post("/agent/ask", json={"question": question})
            calls = api.messages(since=before)
            expect_agent_answer(question, expected, response, calls)


def expect_agent_answer(
    question: str, expected: list[str], response: httpx.Response, calls: list[Call]
) -> None:
    """Two model requests, the first offering the search tool, the second holding its results
    (the expected documents' texts, no other's), and the second's answer with their ids."""
    sent = agent_sent(question)
    if not calls or TOOL not in offered(calls[0]):
        raise fail(
            sent,
            f"{answer(response)}, after "
            + (
                f"a model request offering the tools {offered(calls[0])}"
                if calls
                else "no request to the model"
            ),
            f'a request offering the tool {TOOL} (input: {{"query": <text>}})',
            response=response,
        )
    if len(calls) != 2 or calls[0].tool_use is None:
        raise fail(
            sent,
            f"{len(calls)} model request(s): {steps_taken(calls)}",
            f"2: the model asks for {TOOL} once, the app runs it and sends the result back, and "
            "the model answers",
            response=response,
        )
    results = calls[1].tool_results
    text = json.dumps(results)
    missing = [id for id in expected if json.dumps(DOCUMENTS[id])[1:-1] not in text]
    extra = [
        id for id in DOCUMENTS if id not in expected and json.dumps(DOCUMENTS[id])[1:-1] in text
    ]
    ids = [result.get("tool_use_id") for result in results]
    if ids != [calls[0].tool_use["id"]] or missing or extra:
        raise fail(
            sent + f", the model asking for {TOOL} with {json.dumps(calls[0].tool_use['input'])}",
            f"the tool results {text[:500]}",
            f"one tool_result for tool_use_id {calls[0].tool_use['id']}, holding the text of "
            f"{', '.join(expected)} and of no other document: the same search as /rag/ask",
        )
    body = response.json() if response.status_code == 200 else None
    wanted = {"answer": calls[1].text, "sources": expected, "steps": 2}
    if not isinstance(body, dict) or {key: body.get(key) for key in wanted} != wanted:
        raise fail(sent, answer(response), f"200 with {json.dumps(wanted)}", response=response)


async def test_agent_stops_after_max_steps(lab: LabContext):
    question = next(iter(QUESTIONS))
    async with assistant.assistant(lab.serving(CAPSTONE)) as (api, app), app.client() as client:
        await assistant.store(client)
        api.tool_turns = MAX_STEPS + 10
        response = await client.post("/agent/ask", json={"question": question})
        calls = api.messages()
    sent = f"{agent_sent(question)}, the model asking for {TOOL} every time"
    if len(calls) != MAX_STEPS:
        raise fail(
            f"{sent} (MAX_AGENT_STEPS={MAX_STEPS})",
            f"{answer(response)}, after {len(calls)} model requests: {steps_taken(calls)}",
            f"an error once the model has been asked MAX_AGENT_STEPS={MAX_STEPS} times: the loop "
            "is bounded, whatever the model asks for",
            response=response,
        )
    expect_error(response, 502, "AGENT_STEP_LIMIT")


# --- Task 7: deployment ---


async def test_config_worker_and_bind(lab: LabContext):
    await deployment.worker_class_and_bind(lab.serving(CAPSTONE))


def one_process() -> tuple[set[str], str]:
    return {"1"}, (
        "one when WEB_CONCURRENCY is unset: the process holds the project's state (the rate "
        "limits, the chat sessions, the embedded store), not Lab 10's 2 × cores + 1"
    )


async def test_config_workers(lab: LabContext):
    await deployment.workers_from_the_platform(lab.serving(CAPSTONE), one_process)


async def test_config_graceful_and_recycling(lab: LabContext):
    await deployment.graceful_and_recycling(lab.serving(CAPSTONE))


async def test_procfile_runs_gunicorn(lab: LabContext):
    await deployment.procfile_runs_gunicorn(lab)


class StreamedChat(deployment.InFlight):
    """A chat whose reply the fake model streams for IN_FLIGHT seconds: in flight once its first
    words have reached the check."""

    WORDS = 20
    MESSAGE = "Is my ticket still open?"
    SESSION = "draining"

    def __init__(self, api: FakeAnthropic) -> None:
        api.words, api.pace = self.WORDS, deployment.IN_FLIGHT / self.WORDS
        self.env = api.settings
        self.described = (
            f"{assistant.sent_chat(self.MESSAGE, self.SESSION)}, the model streaming "
            f"{self.WORDS} words for {deployment.IN_FLIGHT:g} s"
        )
        self.whole = f"the whole stream: {self.WORDS} text events, then `event: done`"
        self._stack = AsyncExitStack()
        self._events: AsyncIterator[Event] | None = None
        self._received: list[Event] = []

    async def send(self, server: LabServer) -> None:
        client = await self._stack.enter_async_context(server.client())
        chat = assistant.chat(client, self.MESSAGE, self.SESSION)
        self._events = await self._stack.enter_async_context(chat)
        try:
            self._received = [await anext(self._events)]
        except StopAsyncIteration:
            raise fail(self.described, "a stream with no events", self.whole) from None

    async def answered(self) -> str | None:
        assert self._events is not None
        try:
            self._received += [event async for event in self._events]
        except httpx.HTTPError as error:
            return f"the stream cut off after {len(self._received)} events ({error!r})"
        texts = [event for event in self._received if event.name == "message"]
        if self._received[-1].name == "done" and len(texts) == self.WORDS:
            return None
        return f"{len(self._received)} events, the last `{self._received[-1].shown()}`"

    async def close(self) -> None:
        await self._stack.aclose()


async def test_sigterm_finishes_the_stream(lab: LabContext):
    with fake_anthropic() as api:
        await deployment.sigterm_drains(lab.serving(CAPSTONE), StreamedChat(api), workers=1)


# --- Task 8: under load (run alone, after the others: see grader/checks/load.py) ---


@alone
async def test_load_answers_every_request(lab: LabContext):
    await load.answers_every_request(lab.serving(CAPSTONE), API)


@alone
async def test_load_p95_follows_the_model(lab: LabContext):
    await load.p95_follows_the_model(lab.serving(CAPSTONE), API)


@alone
async def test_load_limit_holds_per_key(lab: LabContext):
    await load.limit_holds_under_load(lab.serving(CAPSTONE), API)


@alone
async def test_load_memory_stays_bounded(lab: LabContext):
    await load.memory_stays_bounded(lab.serving(CAPSTONE), API)


@alone
async def test_load_survives_the_model_going_away(lab: LabContext):
    await load.survives_the_model_going_away(lab.serving(CAPSTONE), API)
