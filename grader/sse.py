"""Server-sent events as a browser's EventSource reads them, from a streamed httpx response.

Each event is dispatched at its blank line, with the time it arrived: a check can tell a stream
from an answer sent all at once. Comment lines (`: ping`, the keep-alives) are skipped, and
several `data:` lines of one event are joined with newlines, as the standard says.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Event:
    name: str
    """The `event:` field; "message" when there is none."""
    data: str
    at: float
    """When its blank line arrived (time.perf_counter())."""

    def json(self) -> object:
        """The data as JSON; None if it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None

    def shown(self) -> str:
        """The event as it was sent, on one line: `event: done / data: {...}`."""
        return f"event: {self.name} / data: {self.data}" if self.name != "message" else self.data


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """The events of `response`'s body as they arrive."""
    name, data = "message", []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield Event(name, "\n".join(data), time.perf_counter())
            name, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
