"""Fake travel suppliers on a real uvicorn server, for Module 6's examples and benchmarks.

A `Supplier` is a small ASGI app whose routes answer after a delay, with a status of the test's
choosing, and which writes down everything it sees: when each call started and ended, whether it
was answered or the caller hung up first, which TCP connection it came on, and how many calls were
in flight at once. Tests then count what happened upstream instead of timing it.

`running(supplier)` serves it with uvicorn on 127.0.0.1, on a free port, in a thread of its own:
a real socket, so timeouts, hang-ups and connection reuse behave as they do in production.
Run its tests with `pytest examples/travel_upstreams.py`.
"""

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn


@dataclass
class Route:
    """How one path answers. `statuses` are used in turn, one per call; the last one repeats."""

    delay: float = 0.0
    statuses: list[int] = field(default_factory=lambda: [200])
    body: Any = None
    retry_after: str | None = None  # sent with a 429 or a 503


@dataclass
class Call:
    path: str
    query: str
    connection: tuple[str, int]  # the caller's address and port: a new port, a new connection
    started: float  # seconds since the supplier's origin
    ended: float | None = None
    outcome: str = "pending"  # then "answered", or "hung up" if the caller left first
    status: int | None = None


class Supplier:
    """An ASGI app that plays an upstream service and records every call it receives."""

    def __init__(self, max_in_flight: int | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.calls: list[Call] = []
        self.max_in_flight = max_in_flight  # beyond it, the supplier answers 429
        self.in_flight = 0
        self.peak = 0
        self.origin = time.monotonic()
        self.lock = threading.Lock()  # the test reads from another thread than the server's

    def route(self, path: str, **behaviour: Any) -> None:
        self.routes[path] = Route(**behaviour)

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.path == path]

    @property
    def connections(self) -> int:
        """How many TCP connections the calls came on."""
        with self.lock:
            return len({call.connection for call in self.calls})

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Waits for something the server records a moment after the client saw its effect."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"the supplier never saw that; its calls: {self.calls}")
            time.sleep(0.01)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        route = self.routes.get(scope["path"], Route(statuses=[404]))
        with self.lock:
            call = Call(
                scope["path"],
                scope["query_string"].decode(),
                tuple(scope["client"]),
                time.monotonic() - self.origin,
            )
            self.calls.append(call)
            earlier = sum(1 for each in self.calls if each.path == call.path) - 1
            status = route.statuses[min(earlier, len(route.statuses) - 1)]
            if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
                status = 429
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            await receive()  # the request's body: these calls send none
            waiting = asyncio.create_task(asyncio.sleep(route.delay))
            hang_up = asyncio.create_task(receive())  # returns only if the caller disconnects
            await asyncio.wait({waiting, hang_up}, return_when=asyncio.FIRST_COMPLETED)
            hang_up.cancel()
            if not waiting.done():
                waiting.cancel()
                call.outcome = "hung up"
                return
            await self.answer(send, route, status, call)
        finally:
            with self.lock:
                self.in_flight -= 1
                call.ended = time.monotonic() - self.origin

    async def answer(self, send: Callable, route: Route, status: int, call: Call) -> None:
        body = route.body if status == 200 else {"error": f"status {status}"}
        content = json.dumps(body if body is not None else {"path": call.path}).encode()
        headers = [(b"content-type", b"application/json")]
        if route.retry_after is not None and status in (429, 503):
            headers.append((b"retry-after", route.retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        call.outcome, call.status = "answered", status


@contextmanager
def running(app: Any, lifespan: str = "off") -> Iterator[str]:
    """Serves `app` with uvicorn on 127.0.0.1, on a free port, until the block ends: its URL.
    A fake upstream has no lifespan; an app that has one passes `lifespan="on"`."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def test_a_route_answers_after_its_delay_with_its_statuses_in_turn() -> None:
    supplier = Supplier()
    supplier.route("/rates", delay=0.05, statuses=[503, 200], body={"rate": 9.5})
    with running(supplier) as url, httpx.Client(base_url=url) as client:
        first, second = client.get("/rates"), client.get("/rates")
        assert (first.status_code, second.status_code) == (503, 200)
        assert second.json() == {"rate": 9.5} and client.get("/other").status_code == 404
    assert [call.outcome for call in supplier.calls_to("/rates")] == ["answered"] * 2
    assert supplier.connections == 1  # one client: its connection was kept alive and reused


def test_a_caller_that_gives_up_is_recorded_as_hanging_up() -> None:
    supplier = Supplier()
    supplier.route("/slow", delay=5)
    with running(supplier) as url, httpx.Client(base_url=url, timeout=0.1) as client:
        try:
            client.get("/slow")
        except httpx.ReadTimeout:
            pass
        supplier.wait_until(lambda: supplier.calls_to("/slow")[0].outcome == "hung up")
