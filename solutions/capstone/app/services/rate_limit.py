"""A sliding-window limit per identity: each API key has a window of its own.

The identity is the key that authenticated the request, never a header the client sends as it
likes: a made-up key is refused before it is counted, and one client cannot spend another's
allowance. (One process's memory: Module 2 shows how replicas share one counter.)
"""

import math
import threading
import time
from collections import defaultdict, deque

WINDOW = 60.0


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()  # endpoints run on worker threads

    def hit(self, identity: str) -> int | None:
        """Count a request of `identity`: None if allowed, else the whole seconds to wait."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[identity]
            while hits and hits[0] <= now - WINDOW:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[0] + WINDOW - now))
            hits.append(now)
            return None
