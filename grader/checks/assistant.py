"""Checks of an assistant on a model API and a document store: Lab 9's, and the capstone's.

Each starts the app with a fake Anthropic API (grader/fakes/anthropic.py) that the app's real
`anthropic` client talks to over a real socket, and an empty ChromaDB folder of its own; the
documents and questions are the help desk's (grader/helpdesk.py). The app serves `POST
/chat/message`, `POST /rag/documents`, `POST /rag/ask`, `GET /admin/health`, `GET /admin/ready` and
`GET /admin/usage` as Lab 9's page says; an app that needs more to serve them (the capstone's keys)
is given it by the check's `Service`.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import httpx

from grader import LabContext, expect_error, expect_status, fail, scaled
from grader.expect import answer
from grader.fakes.anthropic import COUNT_TOKENS, Call, FakeAnthropic, fake_anthropic
from grader.helpdesk import DOCUMENTS, MIN_RELEVANCE, QUESTIONS, UNRELATED
from grader.server import LabServer
from grader.sse import Event, events

MODEL = "claude-grader-primary"
FALLBACK = "claude-grader-fallback"
PACE = max(scaled(0.1), 0.1)
"""Seconds between the fake model's words in the check whose client leaves: never less than a
tenth of a real second, so that half of the answer (20 words) gives the app 2 real seconds to
notice; a busy machine delays that by real time, whatever the course's time scale."""
RETRY_BASE = scaled(0.4)
"""RETRY_BASE_SECONDS: the pause before the overloaded MODEL is asked again."""
BACKOFF_FLOOR = 0.9
"""The pause must last at least this share of RETRY_BASE_SECONDS: load only lengthens it."""
PROBE = max(scaled(1.0), 1.0)
"""PROBE_TIMEOUT_SECONDS: how long /admin/ready waits for the model API. Never less than a real
second: the probe of a model that is up is a real request, and a busy machine (two gradings in
their sandboxes, say) delays it by real time, whatever the course's time scale."""
PROBE_SLACK = 3.0
"""Real seconds /admin/ready may take past PROBE_TIMEOUT_SECONDS before the check says it hangs."""
HELD = 5.0
"""Real seconds the fake holds a stream after its first word, waiting for that word to reach the
client; an app that streams passes it on in milliseconds."""
LONG_REPLY = 40
"""Words in the reply whose client leaves after two of them."""
SETTLE = 2.0
"""Real seconds the usage totals may lag the answers they count."""


def settings(api: FakeAnthropic, chroma: object, **changes: object) -> dict[str, str]:
    values = {
        **api.settings, "CHROMA_PATH": chroma, "MODEL": MODEL, "FALLBACK_MODEL": FALLBACK,
        "MIN_RELEVANCE": MIN_RELEVANCE, "RETRY_BASE_SECONDS": RETRY_BASE,
        "PROBE_TIMEOUT_SECONDS": PROBE,
    }  # fmt: skip
    return {name: str(value) for name, value in {**values, **changes}.items()}


@asynccontextmanager
async def assistant(lab: LabContext) -> AsyncIterator[tuple[FakeAnthropic, LabServer]]:
    """The fake model API, and the app on it with an empty document store of its own."""
    with fake_anthropic() as api, lab.folder() as chroma:
        async with lab.server(settings(api, chroma)) as app:
            yield api, app


# --- What the checks send, and how they read the answers ---


def chat_body(message: str, session_id: str) -> dict[str, str]:
    return {"message": message, "session_id": session_id}


def sent_chat(message: str, session_id: str) -> str:
    return f"POST /chat/message with {json.dumps(chat_body(message, session_id))}"


@asynccontextmanager
async def chat(
    client: httpx.AsyncClient, message: str, session_id: str = "grader"
) -> AsyncIterator[AsyncIterator[Event]]:
    """POST /chat/message: its events as they arrive, once the answer is a stream of them."""
    async with client.stream(
        "POST", "/chat/message", json=chat_body(message, session_id)
    ) as response:
        media_type = response.headers.get("content-type", "").split(";")[0]
        if response.status_code != 200 or media_type != "text/event-stream":
            await response.aread()
            raise fail(
                sent_chat(message, session_id),
                answer(response) + f" (Content-Type: {media_type or 'none'})",
                "200 with Content-Type: text/event-stream, the answer as server-sent events",
                response=response,
            )
        yield events(response)


async def whole_chat(
    client: httpx.AsyncClient, message: str, session_id: str = "grader"
) -> list[Event]:
    async with chat(client, message, session_id) as stream:
        return [event async for event in stream]


def texts_and_done(received: list[Event], sent: str) -> tuple[list[str], dict]:
    """The texts of the `data: {"text": ...}` events, and the data of the `done` event that ends
    the stream, once the events are as the lab asks."""
    shown = "; ".join(event.shown() for event in received[:12]) or "no events"

    def wrong(why: str) -> Exception:
        return fail(
            sent,
            f"the events {shown}: {why}",
            'one `data: {"text": "<words>"}` event per piece of text, then `event: done` with '
            '`data: {"session_id": ..., "usage": {"input_tokens": ..., "output_tokens": ...}}`',
        )

    if not received or received[-1].name != "done":
        raise wrong("the last event is not `event: done`")
    texts = []
    for event in received[:-1]:
        data = event.json()
        if event.name != "message" or not isinstance(data, dict) or "text" not in data:
            raise wrong(f"`{event.shown()}` is not a text event")
        texts.append(data["text"])
    done = received[-1].json()
    if not isinstance(done, dict):
        raise wrong("the done event's data is not a JSON object")
    return texts, done


def tokens(usage: object) -> dict[str, object] | None:
    """The input and output tokens of a usage object; other keys (the SDK's cache counts, say)
    are allowed beside them."""
    if not isinstance(usage, dict):
        return None
    return {kind: usage.get(kind) for kind in ("input_tokens", "output_tokens")}


async def store(client: httpx.AsyncClient, documents: dict[str, str] = DOCUMENTS) -> None:
    body = [{"id": id, "text": text} for id, text in documents.items()]
    response = await client.post("/rag/documents", json=body)
    expect_status(response, 201)


async def ask(client: httpx.AsyncClient, question: str) -> tuple[httpx.Response, dict]:
    """POST /rag/ask: the response, and its body once it has an answer and sources."""
    response = await client.post("/rag/ask", json={"question": question})
    expect_status(response, 200)
    body = response.json()
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("answer"), str)
        or not isinstance(body.get("sources"), list)
    ):
        raise fail(
            f"POST /rag/ask with {json.dumps({'question': question})}",
            answer(response),
            '200 with {"answer": "<text>", "sources": ["<document id>", ...]}',
            response=response,
        )
    return response, body


def models_asked(calls: list[Call]) -> str:
    return ", ".join(f"{call.model} ({call.status or 'no answer'})" for call in calls) or "none"


# --- One client for the process ---


async def one_client(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        await store(client)
        for number in range(3):
            await whole_chat(client, f"Question number {number}, please.")
        for question in list(QUESTIONS)[:2]:
            await ask(client, question)
    if api.connections > 2:
        raise fail(
            "3 chat messages and 2 questions, one after another",
            f"{len(api.messages())} requests to the model API on {api.connections} connections",
            "at most 2 connections: one client, created once, keeps its connections and reuses "
            "them; a client per request opens one each time",
        )


# --- The chat, streamed ---


async def chat_streams_each_word(lab: LabContext) -> None:
    message = "My laptop will not start, what can I do?"
    async with assistant(lab) as (api, app), app.client() as client:
        received = await whole_chat(client, message, "streams")
    texts, done = texts_and_done(received, sent_chat(message, "streams"))
    call = api.messages()[-1] if api.messages() else None
    if call is None or not call.stream:
        how = "nothing" if call is None else "a request without `stream: true`"
        raise fail(
            sent_chat(message, "streams"),
            f"the model API received {how}",
            "a request for a stream (`client.messages.stream(...)`)",
        )
    words = call.text.split(" ")
    if "".join(texts) != call.text or len(texts) != len(words):
        raise fail(
            sent_chat(message, "streams"),
            f"{len(texts)} text events: {json.dumps(texts)[:300]}",
            f"{len(words)} text events, one per piece the model sent, together {call.text!r}",
        )
    expected = {"session_id": "streams", "usage": call.usage}
    if done.get("session_id") != "streams" or tokens(done.get("usage")) != call.usage:
        raise fail(
            sent_chat(message, "streams"),
            f"event: done with data {json.dumps(done)}",
            f"data {json.dumps(expected)}: the session and the usage the model reported",
        )


async def first_word_arrives_first(lab: LabContext) -> None:
    message = "How do I reset my password?"
    async with assistant(lab) as (api, app), app.client() as client:
        api.hold_streams()
        started = time.perf_counter()
        async with chat(client, message, "first") as stream:
            try:
                first = await asyncio.wait_for(anext(stream, None), HELD)
            except TimeoutError:
                first = None
            held = [call for call in api.messages() if call.stream and len(call.deltas) == 1]
            api.release()
            rest = [event async for event in stream]
    asked_whole = [call for call in api.messages() if not call.stream]
    if first is None or first.name != "message" or not held:
        if asked_whole:
            seen = "one event with the whole answer: the model was asked for it whole"
        elif first is None:
            seen = f"no event in {HELD:g} s, then {len(rest)} events once the model went on"
        else:
            seen = f"{first.shown()} {first.at - started:.2f} s after the request, the model done"
        raise fail(
            sent_chat(message, "first"),
            seen,
            "the model's first word as an event while the model is still writing (it waits "
            f"up to {HELD:g} s for that word to reach the client before it goes on)",
        )
    texts_and_done([first, *rest], sent_chat(message, "first"))


async def leaving_client_stops_the_model(lab: LabContext) -> None:
    message = "Explain the VPN to me in great detail."
    async with assistant(lab) as (api, app), app.client() as client:
        api.pace, api.words = PACE, LONG_REPLY
        async with chat(client, message, "leaves") as stream:
            for _ in range(2):
                await anext(stream, None)
        left = time.perf_counter()
        call = api.messages()[-1]
        half = left + PACE * LONG_REPLY / 2
        while call.ended is None and time.perf_counter() < half + 1.0:
            await asyncio.sleep(0.01)
    if not call.stream:
        raise fail(
            sent_chat(message, "leaves"),
            "a request to the model for its whole answer, not a stream",
            "a stream to the model, closed as soon as the client leaves",
        )
    if not call.hung_up or call.ended is None or call.ended > half:
        after = f"{call.ended - left:.2f} s" if call.ended else "never, while the check watched"
        raise fail(
            sent_chat(message, "leaves") + ", then closed the connection after two events",
            f"the model's stream {'closed' if call.hung_up else 'finished'} {after} later, "
            f"after {len(call.deltas)} of its {LONG_REPLY} words",
            f"the app closes its stream to the model as soon as its client leaves (before the "
            f"model has written half of its answer, {PACE * LONG_REPLY / 2:.2f} s): nobody "
            "reads the rest, but it is paid for",
        )


async def chat_remembers_the_session(lab: LabContext) -> None:
    first, second, other = "My screen is flickering.", "It is the left one.", "Hello."
    async with assistant(lab) as (api, app), app.client() as client:
        await whole_chat(client, first, "alice")
        reply = api.messages()[-1].text
        await whole_chat(client, second, "alice")
        followed_up = api.messages()[-1].body.get("messages")
        await whole_chat(client, other, "bob")
        stranger = api.messages()[-1].body.get("messages")
    turns = [("user", first), ("assistant", reply), ("user", second)]
    if conversation(followed_up) != turns:
        raise fail(
            f"{sent_chat(first, 'alice')}, then {sent_chat(second, 'alice')}",
            f"the model was sent the messages {json.dumps(followed_up)[:400]}",
            f"the session so far, then the new message: {json.dumps(turns)}",
        )
    if conversation(stranger) != [("user", other)]:
        raise fail(
            f"then {sent_chat(other, 'bob')}",
            f"the model was sent the messages {json.dumps(stranger)[:400]}",
            f"only bob's message: {json.dumps([('user', other)])}: sessions do not share turns",
        )


def conversation(messages: object) -> list[tuple[str, str]] | None:
    """(role, text) of each message, its content a string or a list of text blocks."""
    if not isinstance(messages, list):
        return None
    turns = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
        turns.append((message.get("role") if isinstance(message, dict) else None, content))
    return turns


# --- Answers from the help desk's documents ---


async def documents_survive_a_restart(lab: LabContext) -> None:
    question, expected = next(iter(QUESTIONS.items()))
    with fake_anthropic() as api, lab.folder() as chroma:
        async with lab.server(settings(api, chroma)) as first, first.client() as client:
            await store(client)
        async with lab.server(settings(api, chroma)) as second, second.client() as client:
            response, body = await ask(client, question)
    if body["sources"] != expected:
        raise fail(
            f"POST /rag/documents (8 documents), a restart of the app on the same CHROMA_PATH, "
            f"then POST /rag/ask with {json.dumps({'question': question})}",
            answer(response),
            f'"sources": {json.dumps(expected)}: the documents are kept in CHROMA_PATH '
            "(chromadb.PersistentClient) and found again after a restart",
            response=response,
        )


async def answers_cite_their_sources(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        await store(client)
        for question, expected in QUESTIONS.items():
            response, body = await ask(client, question)
            call = api.messages()[-1] if api.messages() else None
            if body["sources"] != expected or call is None or body["answer"] != call.text:
                model_said = f"the model answered {call.text!r}" if call else "no model call"
                raise fail(
                    f"POST /rag/ask with {json.dumps({'question': question})}",
                    f"{answer(response)} ({model_said})",
                    f'"sources": {json.dumps(expected)} (every document at or above '
                    f"MIN_RELEVANCE={MIN_RELEVANCE}, most similar first, three at most) and the "
                    "model's answer as the answer",
                    response=response,
                )


async def prompt_holds_the_sources(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        await store(client)
        for question, expected in QUESTIONS.items():
            await ask(client, question)
            prompt = api.messages()[-1].prompt if api.messages() else ""
            missing = [id for id in expected if DOCUMENTS[id] not in prompt]
            extra = [id for id in DOCUMENTS if id not in expected and DOCUMENTS[id] in prompt]
            if missing or extra:
                raise fail(
                    f"POST /rag/ask with {json.dumps({'question': question})}",
                    f"a prompt to the model {describe(missing, extra)}: {prompt[:500]!r}",
                    f"the text of {', '.join(expected)} in the prompt (system prompt or "
                    "messages), and of no other document: the model answers from what it reads",
                )


def describe(missing: list[str], extra: list[str]) -> str:
    parts = [f"without {', '.join(missing)}"] if missing else []
    return " and ".join(parts + ([f"with {', '.join(extra)}"] if extra else []))


async def nothing_relevant_asks_no_model(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        await store(client)
        response, body = await ask(client, UNRELATED)
    calls = api.messages()
    if body["sources"] or not body["answer"].strip() or calls:
        raise fail(
            f"POST /rag/ask with {json.dumps({'question': UNRELATED})}",
            f"{answer(response)}, after {len(calls)} request(s) to the model",
            f'200 with an answer saying so, "sources": [], and no request to the model: no '
            f"document reaches MIN_RELEVANCE={MIN_RELEVANCE}, so there is nothing to answer from",
            response=response,
        )


# --- Liveness and readiness ---


async def health_needs_no_model(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        for state, break_it in (("stopped", api.stop), ("answering nothing", api.hang)):
            break_it()
            started = time.perf_counter()
            response = await answer_within(client.get("/admin/health"), PROBE + PROBE_SLACK)
            took = time.perf_counter() - started
            api.start()
            api.recover()
            if response is None or response.status_code != 200:
                raise fail(
                    f"GET /admin/health with the model API {state}",
                    f"no answer in {took:.1f} s" if response is None else answer(response),
                    "200 at once: the process serves. A model API that is down is no reason to "
                    "restart it",
                    response=response,
                )
    if api.calls:
        raise fail(
            "GET /admin/health, twice",
            f"{len(api.calls)} request(s) to the model API",
            "none: liveness asks nothing of the model (readiness does)",
        )


async def answer_within(
    request: Awaitable[httpx.Response], seconds: float
) -> httpx.Response | None:
    """The response, or None if it takes longer than `seconds`."""
    try:
        return await asyncio.wait_for(request, seconds)
    except TimeoutError:
        return None


async def ready_follows_the_model(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        up = await client.get("/admin/ready")
        probed = len(api.token_counts())
        api.stop()
        down = await answer_within(client.get("/admin/ready"), PROBE + PROBE_SLACK)
        api.start()
        back = await client.get("/admin/ready")
    expect_readiness(up, 200, "ready", "up")
    if not probed:
        raise fail(
            "GET /admin/ready",
            "200, without a request to the model API",
            "a probe of the model API on each request: `client.messages.count_tokens(...)`",
        )
    if down is None:
        raise fail(
            "GET /admin/ready with the model API stopped",
            f"no answer in {PROBE + PROBE_SLACK:g} s",
            "503 at once: a refused connection is a clear answer",
        )
    expect_readiness(down, 503, "degraded", "stopped")
    expect_readiness(back, 200, "ready", "started again")


def expect_readiness(response: httpx.Response, status: int, word: str, model_is: str) -> None:
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    body = body if isinstance(body, dict) else {}
    checks = body.get("checks")
    model_ok = status == 200
    if (
        response.status_code != status
        or body.get("status") != word
        or not isinstance(checks, dict)
        or (checks.get("model") == "ok") != model_ok
        or checks.get("vector_store") != "ok"
    ):
        model = '"ok"' if model_ok else 'what went wrong (not "ok")'
        raise fail(
            f"GET /admin/ready with the model API {model_is}",
            answer(response),
            f'{status} with {{"status": "{word}", "checks": {{"model": {model}, '
            '"vector_store": "ok"}}',
            response=response,
        )


async def ready_gives_up_in_time(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        api.hang()
        started = time.perf_counter()
        response = await answer_within(client.get("/admin/ready"), PROBE + PROBE_SLACK)
        took = time.perf_counter() - started
        probes = len(await asyncio.to_thread(api.arrived, COUNT_TOKENS, within=PROBE_SLACK))
        api.recover()
    sent = (
        f"GET /admin/ready with the model API answering nothing (PROBE_TIMEOUT_SECONDS={PROBE:g})"
    )
    once = (
        "one probe, not retried (`max_retries=0` for it): a readiness probe must answer within "
        "the orchestrator's own timeout"
    )
    if response is None:
        raise fail(
            sent,
            f"no answer in {took:.1f} s, after {probes} probe{'s' * (probes != 1)} of the model "
            "API",
            f"503 once the probe's timeout has passed, after {once}",
        )
    expect_readiness(response, 503, "degraded", "answering nothing")
    if probes != 1:
        raise fail(sent, f"503 after {took:.2f} s and {probes} probes of the model API", once)


# --- Overload, and the token totals ---


async def overloaded_model_falls_back(lab: LabContext) -> None:
    question, expected = next(iter(QUESTIONS.items()))
    asked = f"POST /rag/ask with {json.dumps({'question': question})}, {MODEL} overloaded (529)"
    async with assistant(lab) as (api, app), app.client() as client:
        await store(client)
        api.overload(MODEL)
        response = await client.post("/rag/ask", json={"question": question})
        expect_fallback(asked, api.messages())
        if response.status_code != 200 or response.json().get("sources") != expected:
            raise fail(
                asked,
                answer(response),
                f'200 with "sources": {json.dumps(expected)}',
                response=response,
            )
        before_chat = len(api.calls)
        received = await whole_chat(client, "Is the VPN down?", "overload")
        expect_fallback("then POST /chat/message", api.messages(since=before_chat))
        texts_and_done(received, f"POST /chat/message with {MODEL} overloaded")
        api.overload(FALLBACK)
        failed = await client.post("/rag/ask", json={"question": question})
        expect_error(failed, 503, "MODEL_UNAVAILABLE")
        await expect_error_event(client, f"POST /chat/message, {MODEL} and {FALLBACK} overloaded")


async def expect_error_event(client: httpx.AsyncClient, sent: str) -> None:
    """The chat's stream, begun before any model could answer, ends with an `error` event whose
    data is the MODEL_UNAVAILABLE error body, and has no `done` event."""
    expected = (
        'a stream that ends with `event: error`, its data the error body {"error_code": '
        '"MODEL_UNAVAILABLE", "message": ..., "details": ...}, and no `done` event'
    )
    try:
        received = await whole_chat(client, "Is the VPN down?", "overload")
    except httpx.TransportError as error:
        raise fail(sent, f"the stream broke off ({type(error).__name__})", expected) from None
    shown = "; ".join(event.shown() for event in received[-3:]) or "no events"
    last = received[-1] if received else None
    body = last.json() if last else None
    if (
        last is None
        or last.name != "error"
        or not isinstance(body, dict)
        or body.get("error_code") != "MODEL_UNAVAILABLE"
        or {"message", "details"} - body.keys()
        or any(event.name == "done" for event in received)
    ):
        raise fail(sent, f"the events, ending: {shown}", expected)


def expect_fallback(sent: str, calls: list[Call]) -> None:
    """MODEL answered 529 twice, a pause apart, then FALLBACK answered."""
    expected = f"{MODEL} (529), {MODEL} (529), {FALLBACK} (200)"
    if models_asked(calls) != expected:
        raise fail(
            sent,
            f"the models asked, in order: {models_asked(calls)}",
            f"{expected}: the model tried twice, then the fallback; the client's own retries "
            "off (`max_retries=0`), or counted in",
        )
    pause = calls[1].at - (calls[0].ended or calls[0].at)
    if pause < BACKOFF_FLOOR * RETRY_BASE:
        raise fail(
            sent,
            f"{MODEL} asked again {pause:.3f} s after it answered 529",
            f"a pause of RETRY_BASE_SECONDS ({RETRY_BASE:g} s) before asking again",
        )


async def usage_adds_up(lab: LabContext) -> None:
    async with assistant(lab) as (api, app), app.client() as client:
        await store(client)
        await whole_chat(client, "Where is the printer?", "usage")
        await whole_chat(client, "And the scanner?", "usage")
        for question in list(QUESTIONS)[:2]:
            await ask(client, question)
        expected = api.usage()
        deadline = time.perf_counter() + SETTLE
        while True:
            response = await client.get("/admin/usage")
            expect_status(response, 200)
            if tokens(response.json()) == expected or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.05)
    if tokens(response.json()) != expected:
        got = response.json()
        more = isinstance(got, dict) and any(
            isinstance(got.get(kind), int) and got[kind] > tokens
            for kind, tokens in expected.items()
        )
        raise fail(
            "2 chat messages and 2 questions, then GET /admin/usage",
            answer(response) + (" (more than the model reported: counted twice?)" if more else ""),
            f"{json.dumps(expected)} within {SETTLE:g} s: the usage the model reported for "
            "each answer, added up",
            response=response,
        )
