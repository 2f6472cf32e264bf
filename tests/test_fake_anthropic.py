"""The fake Anthropic API speaks the real API's wire format to the real SDK, and tells the checks
what a correct app must show: the words it sent, the usage, who left early, what was asked."""

import asyncio
import time

import anthropic
import httpx
import pytest

from grader.fakes.anthropic import API_KEY, FakeAnthropic, fake_anthropic, input_tokens
from grader.sse import events

MESSAGES = [{"role": "user", "content": "three words here"}]


def client(api: FakeAnthropic, **options) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=api.url, api_key=API_KEY, max_retries=0, **options)


@pytest.mark.asyncio
async def test_whole_answers_streams_and_token_counts_through_the_sdk():
    with fake_anthropic() as api:
        async with client(api) as sdk:
            whole = await sdk.messages.create(model="m", max_tokens=50, messages=MESSAGES)
            async with sdk.messages.stream(
                model="m", max_tokens=50, system="be brief", messages=MESSAGES
            ) as stream:
                pieces = [text async for text in stream.text_stream]
                streamed = await stream.get_final_message()
            counted = await sdk.messages.count_tokens(model="m", messages=MESSAGES)
    first, second = api.messages()
    assert whole.content[0].text == first.text and len(first.text.split()) == api.words
    assert (whole.usage.input_tokens, whole.usage.output_tokens) == (3, api.words)
    assert "".join(pieces) == second.text and len(pieces) == api.words  # one delta per word
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (5, api.words)
    assert counted.input_tokens == 3
    assert api.usage() == {"input_tokens": 8, "output_tokens": 2 * api.words}
    assert second.stream and second.prompt == "be brief\nthree words here"
    assert api.connections == 1  # one client, one kept-alive connection


def test_tokens_are_words_of_the_system_prompt_and_every_message():
    body = {
        "system": [{"type": "text", "text": "two words"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a b c"}]}],
    }
    assert input_tokens(body) == 5


@pytest.mark.asyncio
async def test_a_stream_is_paced_and_sees_its_client_leave():
    with fake_anthropic() as api:
        api.pace, api.words = 0.05, 40
        async with client(api) as sdk:
            async with sdk.messages.stream(model="m", max_tokens=50, messages=MESSAGES) as stream:
                async for _ in stream.text_stream:
                    break
            left = time.perf_counter()
            call = api.messages()[0]
            while call.ended is None and time.perf_counter() < left + 10:
                await asyncio.sleep(0.01)
    assert call.hung_up and call.usage is None
    assert len(call.deltas) < 10  # of 40 words: it stopped writing soon after the client left


@pytest.mark.asyncio
async def test_latency_delays_each_answer_and_answers_at_once_are_counted():
    """Judged on the fake's own records, not on how long the client waited: a busy machine makes
    any wait longer, never shorter."""
    with fake_anthropic() as api:
        api.latency = 0.5
        async with client(api) as sdk:
            ask = sdk.messages.create(model="m", max_tokens=50, messages=MESSAGES)
            await asyncio.gather(
                ask, sdk.messages.create(model="m", max_tokens=50, messages=MESSAGES)
            )
            await sdk.messages.create(model="m", max_tokens=50, messages=MESSAGES)
    calls = api.messages()
    assert all(call.ended - call.at >= api.latency for call in calls)
    first, second = calls[:2]  # in order of arrival
    assert second.at < first.ended  # thought about at the same time, not one after the other
    assert api.most_at_once == 2 and api.at_once == 0


@pytest.mark.asyncio
async def test_a_held_stream_waits_for_release():
    with fake_anthropic() as api:
        api.hold_streams()
        async with client(api) as sdk:
            async with sdk.messages.stream(model="m", max_tokens=50, messages=MESSAGES) as stream:
                pieces = stream.text_stream.__aiter__()
                await anext(pieces)
                await asyncio.sleep(0.2)
                assert len(api.messages()[0].deltas) == 1
                api.release()
                rest = [piece async for piece in pieces]
    assert len(rest) == api.words - 1


@pytest.mark.asyncio
async def test_overload_failure_and_recovery():
    with fake_anthropic() as api:
        api.overload("busy", times=1)
        async with client(api) as sdk:
            with pytest.raises(anthropic.OverloadedError):
                await sdk.messages.create(model="busy", max_tokens=5, messages=MESSAGES)
            await sdk.messages.create(model="busy", max_tokens=5, messages=MESSAGES)
            api.fail(500)
            with pytest.raises(anthropic.InternalServerError):
                await sdk.messages.create(model="other", max_tokens=5, messages=MESSAGES)
            api.recover()
            await sdk.messages.create(model="other", max_tokens=5, messages=MESSAGES)
    assert [call.status for call in api.messages()] == [529, 200, 500, 200]


@pytest.mark.asyncio
async def test_hanging_stopped_and_started_again_on_the_same_port():
    with fake_anthropic() as api:
        async with client(api, timeout=0.3) as sdk:
            api.hang()
            with pytest.raises(anthropic.APITimeoutError):
                await sdk.messages.count_tokens(model="m", messages=MESSAGES)
            api.recover()
            api.stop()
            with pytest.raises(anthropic.APIConnectionError):
                await sdk.messages.count_tokens(model="m", messages=MESSAGES)
            api.start()
            assert (await sdk.messages.count_tokens(model="m", messages=MESSAGES)).input_tokens
    assert api.token_counts()[0].hung_up


@pytest.mark.asyncio
async def test_a_wrong_key_is_refused():
    with fake_anthropic() as api:
        sdk = anthropic.AsyncAnthropic(base_url=api.url, api_key="wrong", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            await sdk.messages.create(model="m", max_tokens=5, messages=MESSAGES)


@pytest.mark.asyncio
async def test_server_sent_events_are_read_as_a_browser_reads_them():
    body = b': ping\n\nevent: done\ndata: {"a": 1}\n\ndata: one\ndata: two\n\ndata: x'
    response = httpx.Response(200, content=body)
    received = [event async for event in events(response)]
    assert [(event.name, event.data) for event in received] == [
        ("done", '{"a": 1}'),
        ("message", "one\ntwo"),
    ]  # the last has no blank line: never dispatched
    assert received[0].json() == {"a": 1} and received[1].json() is None


SEARCH = {
    "name": "search_documents",
    "description": "Search the help desk's notes.",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}


@pytest.mark.asyncio
async def test_offered_tools_it_asks_for_one_then_answers_what_the_tool_returned():
    with fake_anthropic() as api:
        api.tool_turns = 2
        messages = [{"role": "user", "content": "where is the printer"}]
        async with client(api) as sdk:
            replies = []
            for _ in range(3):
                reply = await sdk.messages.create(
                    model="m", max_tokens=50, tools=[SEARCH], messages=messages
                )
                replies.append(reply)
                if reply.stop_reason != "tool_use":
                    break
                use = reply.content[0]
                messages += [
                    {"role": "assistant", "content": [use.model_dump()]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": use.id, "content": "room 4"}
                        ],
                    },
                ]
    assert [reply.stop_reason for reply in replies] == ["tool_use", "tool_use", "end_turn"]
    assert replies[0].content[0].name == "search_documents"
    assert replies[0].content[0].input == {"query": "where is the printer"}
    first, second, last = api.messages()
    assert first.tool_use["id"] == replies[0].content[0].id and not first.tool_results
    assert [result["content"] for result in second.tool_results] == ["room 4"]
    assert last.tool_use is None and last.text == replies[2].content[0].text
    assert "room 4" in last.prompt  # a tool's result is read, and counted as input
    assert replies[0].usage.output_tokens == 5  # words of '{"query": "where is the printer"}'


@pytest.mark.asyncio
async def test_a_streamed_tool_call_arrives_whole_and_no_tools_means_no_tool_call():
    with fake_anthropic() as api:
        async with client(api) as sdk:
            async with sdk.messages.stream(
                model="m", max_tokens=50, tools=[SEARCH], messages=MESSAGES
            ) as stream:
                asked = await stream.get_final_message()
            plain = await sdk.messages.create(
                model="m", max_tokens=50, tools=[SEARCH], tool_choice={"type": "none"},
                messages=MESSAGES,
            )  # fmt: skip
    assert asked.stop_reason == "tool_use"
    assert asked.content[0].input == {"query": "three words here"}
    assert plain.stop_reason == "end_turn" and plain.content[0].type == "text"
