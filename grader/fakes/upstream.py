"""A scriptable upstream: a real HTTP server on 127.0.0.1 that answers each path as the check
says, and records every request it receives.

The app under test reaches it over a real socket, as it would reach another service, with its own
HTTP client, timeouts, connection pool and all. A reply may be delayed to play a slow or hanging
service, or be a connection reset. For each request the upstream records when it arrived and when
it ended, the connection it came on, and whether the client hung up before the answer; it counts
how many were in flight at once. A delayed reply is cut short when the server stops, so a check
never waits on its own fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import select
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """What the upstream answers: a status, a body (a dict or list is sent as JSON), a delay."""

    status: int = 200
    body: object = b""
    content_type: str = "application/json"
    delay: float = 0.0
    """Seconds to wait before answering."""
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    """Reset the connection (a TCP RST) instead of answering, as a crashing service does."""

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


NOT_FOUND = Reply(404, {"error": "not found"})
RESET = Reply(reset=True)
NOWHERE = "http://127.0.0.1:9"
"""A closed port: where a service that refuses every connection is, or one a check never calls."""

Answer = Callable[[str, str], Reply]
"""How an upstream answers: the reply to a request, a function of its method and path."""


def in_turn(*replies: Reply) -> Answer:
    """An `answer` giving each reply in turn, then the last one for ever: a service that fails
    twice and recovers is `in_turn(Reply(503), Reply(503), Reply(200, body))`."""
    turns = itertools.chain(replies, itertools.repeat(replies[-1]))
    lock = threading.Lock()

    def answer(method: str, path: str) -> Reply:
        with lock:
            return next(turns)

    return answer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """When it arrived (time.perf_counter())."""
    connection: int = 0
    """The client's port: requests sent on one connection share it."""
    ended: float | None = None
    """When the upstream answered, reset, or saw the client hang up; None while in flight."""
    hung_up: bool = False
    """The client closed the connection before the answer: it gave up, or was cancelled."""

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Upstream:
    """A running fake upstream: `url`, the replies it gives (`answer`), what it received."""

    url: str
    answer: Answer = field(default=lambda method, path: NOT_FOUND)
    received: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests it was serving at once."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_with(self, reply: Reply) -> None:
        """Answer every request with `reply` from now on."""
        self.answer = lambda method, path: reply

    def to(self, path_start: str) -> list[Received]:
        """The requests received whose path starts with `path_start`, in order of arrival."""
        return [request for request in self.received if request.path.startswith(path_start)]

    @property
    def connections(self) -> int:
        """How many connections the requests came on."""
        return len({request.connection for request in self.received})

    def _arrived(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _ended(self, request: Received, *, hung_up: bool = False) -> None:
        with self._lock:
            request.ended, request.hung_up = time.perf_counter(), hung_up
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream
    protocol_version = "HTTP/1.1"  # keep-alive, as real services do

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Received(
            self.command, self.path, headers, body, time.perf_counter(), self.client_address[1]
        )
        self.upstream._arrived(request)
        reply = self.upstream.answer(self.command, self.path)
        if reply.delay and not self._wait(reply.delay):
            self.upstream._ended(request, hung_up=not self.upstream.stopping.is_set())
            self.close_connection = True
            return
        if reply.reset:
            self.upstream._ended(request)
            self._reset()
            return
        payload = reply.payload()
        self.upstream._ended(request)  # before the client can read it, and send its next request
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up: as a real service would, carry on

    def _wait(self, seconds: float) -> bool:
        """Wait `seconds` before answering: False if the client hung up or the server is stopping
        first. A client that hangs up sends its end of stream, which makes the socket readable."""
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            if self.upstream.stopping.is_set():
                return False
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.01))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                except ConnectionError:
                    return False
                self.upstream.stopping.wait(min(left, 0.01))  # a request sent ahead: not an end
        return True

    def _reset(self) -> None:
        """Close with a TCP RST rather than a FIN: linger on, with a timeout of zero."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Requests are recorded, not printed."""


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    """Connections waiting to be accepted, as a real service allows: with socketserver's 5, a
    burst of connections has some refused for a second, which a client sees as a slow upstream."""


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    """A fake upstream on a free port of 127.0.0.1, serving until the block ends.

    It serves from threads of its own; stopping it waits for them on a worker thread, so that
    the checks running beside it on the event loop are never held up.
    """
    fake = Upstream(url="")
    handler = type("Handler", (_Handler,), {"upstream": fake})
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()  # delayed replies end now
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        await asyncio.to_thread(thread.join)
