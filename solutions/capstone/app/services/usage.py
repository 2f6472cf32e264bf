"""Token usage, added up off the request path.

A route hands the usage of each answer to the ledger and returns at once; a task started in the
lifespan adds it to the totals. Here the totals are in memory; where they go to a database or a
billing service, that slow write is the task's, never the answer's.
"""

import asyncio

from anthropic.types import Usage as ModelUsage

from app.models.assistant import Usage


class UsageLedger:
    def __init__(self) -> None:
        self.totals = Usage(input_tokens=0, output_tokens=0)
        self._queue: asyncio.Queue[ModelUsage] = asyncio.Queue()

    def record(self, usage: ModelUsage) -> None:
        """One answer's usage, as the model reported it for the whole answer."""
        self._queue.put_nowait(usage)

    async def run(self) -> None:
        """Adds up what was recorded, for as long as the app runs."""
        while True:
            usage = await self._queue.get()
            self.totals = Usage(
                input_tokens=self.totals.input_tokens + usage.input_tokens,
                output_tokens=self.totals.output_tokens + usage.output_tokens,
            )
