"""A scriptable upstream: a real HTTP server on 127.0.0.1 that answers each path as the check
says, and records every request it receives.

The app under test reaches it over a real socket, as it would reach another service, with its own
HTTP client, timeouts and all. A reply may be delayed to play a slow or hanging service; a delayed
reply is cut short when the server stops, so a check never waits on its own fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


NOT_FOUND = Reply(404, {"error": "not found"})


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """When it arrived (time.perf_counter())."""


@dataclass
class Upstream:
    """A running fake upstream: `url`, the replies it gives (`answer`), what it received."""

    url: str
    answer: Callable[[str, str], Reply] = field(default=lambda method, path: NOT_FOUND)
    """The reply to a request: a function of its method and path."""
    received: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def reply_with(self, reply: Reply) -> None:
        """Answer every request with `reply` from now on."""
        self.answer = lambda method, path: reply


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream
    protocol_version = "HTTP/1.1"  # keep-alive, as real services do

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.upstream.received.append(
            Received(self.command, self.path, headers, body, time.perf_counter())
        )
        reply = self.upstream.answer(self.command, self.path)
        if reply.delay and self.upstream.stopping.wait(reply.delay):
            return  # stopping: the connection closes unanswered
        payload = reply.payload()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: as a real service would, carry on

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Requests are recorded, not printed."""


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    """A fake upstream on a free port of 127.0.0.1, serving until the block ends.

    It serves from threads of its own; stopping it waits for them on a worker thread, so that
    the checks running beside it on the event loop are never held up.
    """
    fake = Upstream(url="")
    handler = type("Handler", (_Handler,), {"upstream": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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
