"""A fixed-window rate limiter, and the burst it lets through where two windows meet.

Module 2's lesson (section "Rate limiting") includes this file. Run it with
`pytest examples/rate_limit_windows.py`.
"""

import time
from collections.abc import Callable


# --8<-- [start:fixed]
class FixedWindowLimiter:
    """At most `limit` requests per client in each window of the clock: [0 s, 60 s), [60 s, 120 s),
    and so on. One counter per client, reset when a new window starts."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.counts: dict[str, tuple[int, int]] = {}  # client: (window number, requests in it)

    def hit(self, client: str) -> float | None:
        """None if the request is allowed, else the seconds until the next window starts."""
        now = self.clock()
        number = int(now // self.window)
        counted_in, count = self.counts.get(client, (number, 0))
        if counted_in != number:
            count = 0
        if count >= self.limit:
            return (number + 1) * self.window - now
        self.counts[client] = (number, count + 1)
        return None


# --8<-- [end:fixed]


# --8<-- [start:burst]
class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_fixed_window_allows_twice_the_limit_within_one_second() -> None:
    clock = FakeClock(59.5)  # half a second before a window ends
    limiter = FixedWindowLimiter(limit=5, window=60, clock=clock)
    allowed = [limiter.hit("client") is None for _ in range(6)]
    assert allowed == [True] * 5 + [False]  # the limit holds within the window...
    clock.now = 60.5  # ...but one second later, a new window has started
    allowed = [limiter.hit("client") is None for _ in range(6)]
    assert allowed == [True] * 5 + [False]  # 10 requests in 1 s, with a limit of 5 per minute


# --8<-- [end:burst]


def test_retry_after_points_at_the_next_window() -> None:
    clock = FakeClock(10.0)
    limiter = FixedWindowLimiter(limit=1, window=60, clock=clock)
    assert limiter.hit("a") is None
    assert limiter.hit("a") == 50.0
    assert limiter.hit("b") is None  # every client has a counter of its own


# --8<-- [start:keys]
def test_a_limit_keyed_by_an_unchecked_header_is_no_limit() -> None:
    limiter = FixedWindowLimiter(limit=5, window=60, clock=FakeClock(10.0))
    by_address = [limiter.hit("ip:203.0.113.9") is None for _ in range(10)]
    assert by_address.count(True) == 5  # one address: held to its limit
    made_up_keys = [limiter.hit(f"key:{n}") is None for n in range(10)]
    assert made_up_keys.count(True) == 10  # the same client, a new X-API-Key each time


# --8<-- [end:keys]
