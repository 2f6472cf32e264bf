"""A fake Anthropic API: a real HTTP server on 127.0.0.1 that the real `anthropic` SDK talks to.

Point an app at it with `ANTHROPIC_BASE_URL` (its `settings`) and the app's own `AsyncAnthropic`
client sends real requests over real sockets, parses real server-sent events and applies its own
retries and timeouts. The fake answers `POST /v1/messages` (whole or streamed) and
`POST /v1/messages/count_tokens` in the wire format of the real API, and records every request:
the model asked for, the messages and system prompt, streamed or not, the connection it came on,
and whether the client went away before the end.

It is deterministic, so a check can compute what a correct app must show:

- a reply is `words` words long (`reply_to` chooses them); a stream sends one `text_delta` per
  word, `pace` seconds apart;
- usage counts one input token per word of the system prompt and messages, and one output token
  per word of the reply;
- offered tools, it asks for the first of them `tool_turns` times in a conversation (its input:
  the first user message's text), then answers in text, as an agent's model does;
- it takes `latency` seconds to begin a message's answer, as a model thinks before it writes,
  and counts how many it was answering at once (`most_at_once`): an app that waits for each
  answer before it takes the next request never has more than one;
- it can be told to answer 529 (overloaded) for a model, 500, or nothing at all (`hang`), to
  hold a stream after its first word until the check `release`s it, and it can be stopped and
  started again on the same port.

The server runs on an event loop of its own, in a thread, so a check, a test or a notebook can
use it whether or not it has a loop, and a check that blocks never stalls the model's stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

HOST = "127.0.0.1"
POLL = 0.005
"""How often a stream or a hanging request looks for its client having gone, in seconds."""
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
ARRIVAL = 10.0
"""Seconds `arrived` waits at most for the requests it is asked for: only a request that was
never sent makes it wait that long."""
API_KEY = "sk-ant-fake-course-key"
"""The key the fake accepts; any other is refused with 401, as the real API does."""
WORDS = (
    "Streaming lets the first words reach the reader while the model is still writing the rest "
    "so nobody stares at an empty screen waiting for a whole paragraph to arrive at once"
).split()


def texts(value: object) -> list[str]:
    """Every text of a request's system prompt or messages, however nested (strings, content
    blocks, lists of them), in order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    if isinstance(value, dict):
        return [text for key in ("text", "content") if key in value for text in texts(value[key])]
    return []


def input_tokens(body: dict) -> int:
    """The fake's token count of a request: one per word of its system prompt and messages."""
    read = texts(body.get("system", "")) + texts(body.get("messages", []))
    return sum(len(text.split()) for text in read)


def default_reply(call: Call, words: int) -> str:
    """`words` words of a fixed sentence, starting where the previous reply stopped."""
    start = (call.number * words) % len(WORDS)
    return " ".join(itertools.islice(itertools.cycle(WORDS), start, start + words))


@dataclass
class Call:
    """One request the fake received."""

    number: int
    """Its place among all requests, from 0."""
    path: str
    headers: dict[str, str]
    body: dict
    connection: int
    """The client's port: requests sent on one connection share it."""
    at: float
    """When it arrived (time.perf_counter())."""
    status: int | None = None
    """What the fake answered; None until it did, and for ever if it never did."""
    text: str = ""
    """The reply's text, as far as it was sent."""
    usage: dict[str, int] | None = None
    """The usage the fake reported for a whole reply (input and output tokens); None if the reply
    was not finished."""
    deltas: list[float] = field(default_factory=list)
    """When each text delta of a stream was sent."""
    ended: float | None = None
    """When the answer was finished, or the client seen gone. A whole answer is finished as its
    writing starts, the earliest its client can have it: a pause measured from then is never
    longer than the one the client made, however late this thread runs."""
    hung_up: bool = False
    """The client closed the connection before the reply was finished."""
    tool_use: dict | None = None
    """The tool_use block the fake answered with, when it asked for a tool instead of answering."""

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def prompt(self) -> str:
        """Everything the model was given to read: system prompt and every message's text."""
        return "\n".join(texts(self.body.get("system", "")) + texts(self.body.get("messages", [])))

    @property
    def tool_results(self) -> list[dict]:
        """The tool_result blocks of the request's last message: what the app's tools returned."""
        messages = self.body.get("messages") or [{}]
        return _blocks(messages[-1], "tool_result")


class FakeAnthropic:
    """The running fake. Change how it answers at any time; read `calls` for what it received."""

    def __init__(self, port: int = 0) -> None:
        self._reserved = socket.socket()
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._reserved.bind((HOST, port))
        self.port: int = self._reserved.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.words = 8
        """Words in each reply."""
        self.pace = 0.0
        """Seconds between a stream's text deltas."""
        self.latency = 0.0
        """Seconds before a message's answer begins: a whole answer's body, a stream's first
        event."""
        self.reply_to: Callable[[Call, int], str] = default_reply
        self.tool_turns = 1
        """How many times in a row the model asks for a tool when offered tools, before it answers
        in text. A large number plays a model that never stops asking."""
        self.calls: list[Call] = []
        self.connections = 0
        """TCP connections accepted so far: one client keeps reusing a few."""
        self.at_once = 0
        """Messages being answered now."""
        self.most_at_once = 0
        """The most messages it has answered at the same time."""
        self._failures: dict[str | None, tuple[int, int | None]] = {}
        self._hanging = False
        self._holding = False
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._arrival = threading.Condition(self._lock)
        """Notified as each request is recorded."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-anthropic")
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        """Each open connection, and the task serving it."""

    # What the app needs to reach it
    @property
    def settings(self) -> dict[str, str]:
        """ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, for the app's environment."""
        return {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": API_KEY}

    # How it answers
    def overload(self, model: str | None = None, *, times: int | None = None) -> None:
        """Answer 529 (overloaded_error) to requests for `model` (None: any model), `times`
        times or for ever."""
        self.fail(529, model=model, times=times)

    def fail(self, status: int, *, model: str | None = None, times: int | None = None) -> None:
        """Answer `status` with the API's error body to requests for `model` (None: any)."""
        with self._lock:
            self._failures[model] = (status, times)

    def hang(self, hanging: bool = True) -> None:
        """Accept requests but answer nothing, until told otherwise or stopped."""
        self._hanging = hanging

    def hold_streams(self) -> None:
        """From now on, a stream stops after its first word until `release()` is called."""
        self._released.clear()
        self._holding = True

    def release(self) -> None:
        self._released.set()

    def recover(self) -> None:
        """Answer every request normally again."""
        with self._lock:
            self._failures.clear()
        self._hanging = False
        self.release()

    # What it received
    def messages(self, since: int = 0) -> list[Call]:
        """The requests to `POST /v1/messages`, in order of arrival, from the `since`-th request
        received on (`len(api.calls)` before an action: the model calls the action made)."""
        return [call for call in self.calls[since:] if call.path == MESSAGES]

    def token_counts(self) -> list[Call]:
        return self._to(COUNT_TOKENS)

    def arrived(self, path: str, at_least: int = 1, within: float = ARRIVAL) -> list[Call]:
        """The requests to `path`, once `at_least` of them are recorded or `within` seconds have
        passed. What an app has sent may still wait in the fake's queue when the app answers
        without waiting for the fake (it timed out, say): the fake's thread shares the machine
        with the app, and a busy machine runs it late. Blocks: from async code, in a thread."""
        with self._arrival:
            self._arrival.wait_for(lambda: len(self._to(path)) >= at_least, within)
            return self._to(path)

    def _to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    def usage(self) -> dict[str, int]:
        """Tokens over every reply the fake finished: what a correct app's accounts sum to."""
        finished = [call.usage for call in self.messages() if call.usage]
        return {
            kind: sum(usage[kind] for usage in finished)
            for kind in ("input_tokens", "output_tokens")
        }

    # Running
    def start(self) -> None:
        """Accept connections (again) on the same port."""
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    def stop(self) -> None:
        """Refuse connections from now on, and cut those open: a model API that is down."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result()

    def close(self) -> None:
        self.release()
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._reserved.close()

    async def _start(self) -> None:
        if self._server is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, self.port))
            self._server = await asyncio.start_server(self._connection, sock=listener, backlog=128)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            handlers = list(self._handlers.values())
            for writer in list(self._handlers):
                writer.transport.abort()
            # Each request in progress sees its client gone and is recorded so before stop()
            # returns: a check reads its calls right after.
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._handlers[writer] = asyncio.current_task()  # type: ignore[assignment]
        port = writer.get_extra_info("peername")[1]
        try:
            while await self._request(reader, writer, port):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            del self._handlers[writer]
            writer.close()

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> bool:
        """Read and answer one request; False once the client has closed the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        _, path, _ = request_line.split(" ", 2)
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, value in (line.split(":", 1) for line in header_lines if ":" in line)
        )
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        with self._lock:
            call = Call(len(self.calls), path, headers, _json(body), port, time.perf_counter())
            self.calls.append(call)
            self._arrival.notify_all()
        await self._answer(call, reader, writer)
        return True

    async def _answer(
        self, call: Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._hanging:
            while not _gone(reader) and self._hanging:
                await asyncio.sleep(POLL)
            return _finish(call, hung_up=True)
        if not _authorised(call.headers):
            return await _respond(writer, call, 401, _error("authentication_error", "bad key"))
        if call.path not in (MESSAGES, COUNT_TOKENS):
            return await _respond(writer, call, 404, _error("not_found_error", call.path))
        failure = self._failure_for(call.model)
        if failure:
            kind = "overloaded_error" if failure == 529 else "api_error"
            return await _respond(writer, call, failure, _error(kind, "the fake says so"))
        if call.path == COUNT_TOKENS:
            return await _respond(writer, call, 200, {"input_tokens": input_tokens(call.body)})
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            await self._reply(call, reader, writer)
        finally:
            self.at_once -= 1

    async def _reply(
        self, call: Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.latency and not await self._wait(self.latency, reader):
            return _finish(call, hung_up=True)
        call.tool_use = tool_use(call, self.tool_turns)
        reply = "" if call.tool_use else self.reply_to(call, self.words)
        if call.stream:
            return await self._stream(call, reply, reader, writer)
        call.text = reply
        call.usage = _usage(call.body, reply, call.tool_use)
        content = [call.tool_use] if call.tool_use else [{"type": "text", "text": reply}]
        await _respond(writer, call, 200, _message(call, content, call.usage))

    def _failure_for(self, model: str | None) -> int | None:
        with self._lock:
            key = model if model in self._failures else None
            if key not in self._failures:
                return None
            status, times = self._failures[key]
            if times is not None:
                if times <= 0:
                    del self._failures[key]
                    return None
                self._failures[key] = (status, times - 1)
            return status

    async def _stream(
        self, call: Call, reply: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """The reply as server-sent events, one text delta per word, `pace` seconds apart (or a
        tool_use block, its input in one delta); the client leaving (its end of the connection
        closing) stops it at once."""
        call.status = 200
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        usage = _usage(call.body, reply, call.tool_use)
        start = _message(call, [], {"input_tokens": usage["input_tokens"], "output_tokens": 1})
        try:
            await _event(writer, "message_start", {"type": "message_start", "message": start})
            await _event(writer, "content_block_start", _block_start(call.tool_use))
            await _event(writer, "ping", {"type": "ping"})
            if call.tool_use:
                await _event(writer, "content_block_delta", _input_delta(call.tool_use))
            for number, word in enumerate(reply.split(" ") if reply else []):
                if number and not await self._wait_to_send(number, reader):
                    return _finish(call, hung_up=True)
                text = word if number == 0 else " " + word
                await _event(writer, "content_block_delta", _text_delta(text))
                call.text += text
                call.deltas.append(time.perf_counter())
            call.usage = usage
            await _event(writer, "content_block_stop", {"type": "content_block_stop", "index": 0})
            stop_reason = "tool_use" if call.tool_use else "end_turn"
            await _event(
                writer, "message_delta", _message_delta(stop_reason, usage["output_tokens"])
            )
            await _event(writer, "message_stop", {"type": "message_stop"})
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            _finish(call)
        except ConnectionError:
            _finish(call, hung_up=True)

    async def _wait_to_send(self, number: int, reader: asyncio.StreamReader) -> bool:
        """Wait for the next delta's time (and, when holding, for the check's release); False if
        the client goes away first."""
        return await self._wait(self.pace, reader, held=self._holding and number == 1)

    async def _wait(
        self, seconds: float, reader: asyncio.StreamReader, *, held: bool = False
    ) -> bool:
        """Wait `seconds` (and, if `held`, for the check's release); False if the client goes
        away first."""
        due = time.perf_counter() + seconds
        while time.perf_counter() < due or (held and not self._released.is_set()):
            if _gone(reader):
                return False
            await asyncio.sleep(min(POLL, max(due - time.perf_counter(), 0)) or POLL)
        return not _gone(reader)


def _gone(reader: asyncio.StreamReader) -> bool:
    """The client has closed its end of the connection. Seen without reading: a client sends
    nothing while it reads an answer, so the end of its stream is all that can arrive."""
    return reader.at_eof() or reader.exception() is not None


def _finish(call: Call, *, hung_up: bool = False) -> None:
    call.ended, call.hung_up = time.perf_counter(), hung_up


def _authorised(headers: dict[str, str]) -> bool:
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    return API_KEY in (headers.get("x-api-key"), bearer)


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(message: object, kind: str) -> list[dict]:
    """A message's content blocks of type `kind`."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict) and block.get("type") == kind]


def tool_use(call: Call, turns: int) -> dict | None:
    """The tool_use block the model answers `call` with, if any: while fewer than `turns` of the
    conversation's assistant messages asked for a tool, the request's first tool, its first
    required input (or `query`) set to the first user message's text."""
    tools = call.body.get("tools") or []
    choice = call.body.get("tool_choice") or {}
    messages = [m for m in call.body.get("messages") or [] if isinstance(m, dict)]
    asked = sum(1 for m in messages if m.get("role") == "assistant" and _blocks(m, "tool_use"))
    if not tools or choice.get("type") == "none" or asked >= turns:
        return None
    schema = tools[0].get("input_schema") or {}
    argument = (schema.get("required") or list(schema.get("properties") or {}) or ["query"])[0]
    question = next((m for m in messages if m.get("role") == "user"), {})
    return {
        "type": "tool_use",
        "id": f"toolu_fake_{call.number:04d}",
        "name": tools[0].get("name"),
        "input": {argument: " ".join(texts(question.get("content", "")))},
    }


def _usage(body: dict, reply: str, tool: dict | None = None) -> dict[str, int]:
    """One output token per word of the reply, or of a tool call's input written as JSON."""
    written = json.dumps(tool["input"]) if tool else reply
    return {"input_tokens": input_tokens(body), "output_tokens": len(written.split())}


def _message(call: Call, content: list[dict], usage: dict[str, int]) -> dict:
    stop_reason = None
    if content:
        stop_reason = "tool_use" if content[0]["type"] == "tool_use" else "end_turn"
    return {
        "id": f"msg_fake_{call.number:04d}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _block_start(tool: dict | None) -> dict:
    block = {**tool, "input": {}} if tool else {"type": "text", "text": ""}
    return {"type": "content_block_start", "index": 0, "content_block": block}


def _input_delta(tool: dict) -> dict:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": json.dumps(tool["input"])},
    }


def _text_delta(text: str) -> dict:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


def _message_delta(stop_reason: str, output_tokens: int) -> dict:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }


def _error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def _respond(writer: asyncio.StreamWriter, call: Call, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    call.status = status
    _finish(call)
    writer.write(
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nrequest-id: req_fake_{call.number:04d}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def _event(writer: asyncio.StreamWriter, name: str, data: dict) -> None:
    """One server-sent event, as one chunk of the chunked body, flushed."""
    event = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
    writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
    await writer.drain()


_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error",
            529: "Overloaded"}  # fmt: skip


@contextlib.contextmanager
def fake_anthropic(*, up: bool = True, port: int = 0) -> Iterator[FakeAnthropic]:
    """A fake Anthropic API on 127.0.0.1 (a free port unless `port` is given), answering if `up`,
    gone when the block ends (streams in progress are cut)."""
    api = FakeAnthropic(port)
    try:
        if up:
            api.start()
        yield api
    finally:
        api.close()


def main() -> None:
    """`python -m grader.fakes.anthropic --port 8100`: the fake, for trying an app by hand."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds between streamed words")
    parser.add_argument("--words", type=int, default=20, help="words in each reply")
    options = parser.parse_args()
    with fake_anthropic(port=options.port) as api:
        api.pace, api.words = options.pace, options.words
        settings = " ".join(f"{name}={value}" for name, value in api.settings.items())
        print(f"A fake Anthropic API on {api.url}; point your app at it with\n  {settings}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
