"""Per-client rate limiting: a sliding window over each client's recent requests, in memory."""

import math
import time
from collections import deque
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class SlidingWindowLimiter:
    """At most `limit` requests per client in any `window` seconds: a log of each one's requests."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.requests: dict[str, deque[float]] = {}
        self.next_sweep = clock() + window

    def hit(self, client: str) -> float | None:
        """Count a request from `client` and return None, or, when its window is full, return
        how many seconds until it has room (the refused request is not counted)."""
        now = self.clock()
        self._forget_idle_clients(now)
        times = self.requests.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window - now
        times.append(now)
        return None

    def _forget_idle_clients(self, now: float) -> None:
        """Once per window, drop clients with no request inside it: memory stays bounded by
        recent clients, not by every key or address ever seen."""
        if now < self.next_sweep:
            return
        for client in [c for c, times in self.requests.items() if times[-1] <= now - self.window]:
            del self.requests[client]
        self.next_sweep = now + self.window


def client_key(scope: Scope) -> str:
    """Who is asking: the API key when there is one, otherwise the address the request came from."""
    api_key = Headers(scope=scope).get("X-API-Key")
    if api_key:
        return f"key:{api_key}"
    host, _port = scope.get("client") or ("unknown", 0)
    return f"ip:{host}"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int, window: float = 60.0) -> None:
        self.app = app
        self.limiter = SlidingWindowLimiter(limit, window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.limiter.hit(client_key(scope))
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))  # whole seconds, and never "retry now"
        response = JSONResponse(
            {"detail": "Too many requests", "retry_after": retry_after},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
