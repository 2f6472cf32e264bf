"""Asking the model, whole (`complete`) or streamed (`stream`). The chat, the questions and every
step of the agent go through here."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
from anthropic.lib.streaming import AsyncMessageStream
from anthropic.types import Message, MessageParam, ToolParam

from app.config import Settings

# TODO 4c: when MODEL answers 529 (anthropic.OverloadedError), wait RETRY_BASE_SECONDS and ask
# it once more, then ask FALLBACK_MODEL; if that fails too, raise errors.ModelUnavailable (503
# MODEL_UNAVAILABLE). Do it once, for both functions below, and with the client's own retries
# off (TODO 1), so that these three requests are all there is. Other 5xx may be tried again the
# same way; a 4xx is our request's fault, and an unreachable API (anthropic.APIConnectionError)
# is ModelUnavailable at once.


async def complete(
    client: anthropic.AsyncAnthropic,
    settings: Settings,
    system: str,
    messages: list[MessageParam],
    tools: list[ToolParam] | None = None,
) -> Message:
    """The model's whole answer; offered `tools`, it may be a request to use one instead."""
    offered: dict[str, Any] = {"tools": tools} if tools else {}
    return await client.messages.create(
        model=settings.model,
        max_tokens=settings.max_tokens,
        system=system,
        messages=messages,
        **offered,
    )


@asynccontextmanager
async def stream(
    client: anthropic.AsyncAnthropic, settings: Settings, system: str, messages: list[MessageParam]
) -> AsyncIterator[AsyncMessageStream]:
    """The model's answer as it is written. Leaving the block closes the upstream response."""
    async with client.messages.stream(
        model=settings.model, max_tokens=settings.max_tokens, system=system, messages=messages
    ) as answer:
        yield answer
