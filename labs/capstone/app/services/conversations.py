"""Each chat session's earlier turns. The Messages API remembers nothing between requests: the
app sends the conversation so far every time, with the new message last.

They are kept in this process, which is enough for one process; with several workers, a session's
next message may reach another one, and the turns belong in a shared store (Redis, a database).
"""

from collections import defaultdict

from anthropic.types import MessageParam

MAX_TURNS = 20
"""Exchanges kept per session: the oldest are dropped, so a long chat stays within the model's
context window and its price."""


class Conversations:
    def __init__(self) -> None:
        self._turns: defaultdict[str, list[MessageParam]] = defaultdict(list)

    def messages(self, session_id: str, message: str) -> list[MessageParam]:
        """What to send the model: the session's turns so far, then `message`."""
        return [*self._turns[session_id], {"role": "user", "content": message}]

    def record(self, session_id: str, message: str, reply: str) -> None:
        """An exchange that was answered in full."""
        turns = self._turns[session_id]
        turns += [{"role": "user", "content": message}, {"role": "assistant", "content": reply}]
        del turns[: -2 * MAX_TURNS]
