"""Concurrent bursts of requests, timed, and the bands that tell blocking from concurrent.

With D the time each request waits and N requests sent at once: requests served together finish
in about D (well under 2·D), and together; requests that block the event loop queue up, so the
last finishes after N·D or more, each D after the one before. Bands, never tight figures: the
machines are shared and noisy, and a machine busy enough to stall the server for a second delays
every answer of a burst alike (answers at 1.9, 1.9 and 1.9 s for D = 0.75 s, seen here), which is
why answers that arrive together count as together whatever the total.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from grader.expect import answer
from grader.failures import CheckFailure


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

    def failure(self, wait: float, expected: str, *, got: str = "") -> CheckFailure:
        """A failure about this burst, each request asked to wait `wait` s: the report shows
        how to send it again by hand."""
        return CheckFailure(
            f"Sent {self.sent}, each to wait {wait:.2f} s\n"
            f"Got {got or self.got()}\nExpected {expected}",
            responses=self.responses,
            concurrent=True,
        )

    def expect_ok(self, wait: float) -> None:
        for response in self.responses:
            if response.status_code != 200:
                raise self.failure(wait, "status 200 for every request", got=answer(response))

    @property
    def spread(self) -> float:
        """Seconds between the first answer and the last."""
        return max(self.times) - min(self.times)

    def expect_concurrent(self, wait: float) -> None:
        """Every request answered, together: total < 2·wait, or else (a stalled machine) the
        answers within wait / 2 of one another, where requests waiting in line come a wait apart.
        (That each request really waits is for another check to show, on one request: a burst
        cannot tell a short wait from none.)"""
        self.expect_ok(wait)
        if self.total >= 2 * wait and self.spread >= wait / 2:
            raise self.failure(
                wait,
                f"a total under {2 * wait:.2f} s, or at least the answers within {wait / 2:.2f} s "
                "of one another: requests that wait without blocking the event loop wait "
                "together, so the burst takes about one wait, not several",
            )

    def expect_serial(self, wait: float) -> None:
        """Every request answered, one after another: total ≥ N·wait."""
        self.expect_ok(wait)
        low = len(self.responses) * wait
        if self.total < low:
            raise self.failure(
                wait,
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
