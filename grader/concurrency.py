"""Concurrent bursts of requests, timed, and the bands that tell blocking from concurrent.

With D the time each request waits and N requests sent at once: requests served together finish
in about D (correct iff 0.95·D ≤ total < 2·D); requests that block the event loop queue up, so
the last finishes after N·D or more. Bands, never tight figures: the machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from grader.expect import answer, fail


@dataclass(frozen=True)
class Burst:
    method: str
    path: str
    responses: tuple[httpx.Response, ...]
    times: tuple[float, ...]
    """Each request's own time, in the order sent."""
    total: float
    """From the first request sent to the last answer."""

    @property
    def sent(self) -> str:
        return f"{len(self.responses)} concurrent {self.method} {self.path}"

    def got(self) -> str:
        each = ", ".join(f"{seconds:.2f}" for seconds in sorted(self.times))
        return f"the last answer after {self.total:.2f} s in total (answers at {each} s)"

    def expect_ok(self) -> None:
        for response in self.responses:
            if response.status_code != 200:
                raise fail(self.sent, answer(response), "status 200 for every request")

    def expect_concurrent(self, wait: float) -> None:
        """Every request answered, together: 0.95·wait ≤ total < 2·wait."""
        self.expect_ok()
        low, high = 0.95 * wait, 2 * wait
        if not low <= self.total < high:
            raise fail(
                f"{self.sent}, each to wait {wait:.2f} s",
                self.got(),
                f"a total between {low:.2f} s and {high:.2f} s: requests that wait without "
                "blocking the event loop wait together, so the burst takes about one wait"
                + (", not several" if self.total >= high else ", and no less"),
            )

    def expect_serial(self, wait: float) -> None:
        """Every request answered, one after another: total ≥ N·wait."""
        self.expect_ok()
        low = len(self.responses) * wait
        if self.total < low:
            raise fail(
                f"{self.sent}, each to wait {wait:.2f} s",
                self.got(),
                f"a total of at least {low:.2f} s: time.sleep inside async def blocks the event "
                "loop, so the requests should have waited in line",
            )


async def burst(client: httpx.AsyncClient, method: str, path: str, n: int) -> Burst:
    """Send `n` identical requests at once and time each of them and the whole burst."""

    async def one() -> tuple[httpx.Response, float]:
        start = time.perf_counter()
        response = await client.request(method, path)
        return response, time.perf_counter() - start

    start = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)))
    total = time.perf_counter() - start
    return Burst(
        method=method,
        path=path,
        responses=tuple(response for response, _ in results),
        times=tuple(seconds for _, seconds in results),
        total=total,
    )
