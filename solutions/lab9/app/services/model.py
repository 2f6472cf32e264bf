"""Asking the model: MODEL first, once more after RETRY_BASE_SECONDS if it is overloaded, then
FALLBACK_MODEL. The client's own retries are off (`max_retries=0`, in main.py), so these three
requests are all there is, and the pause is the one the settings give."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

import anthropic
from anthropic.lib.streaming import AsyncMessageStream
from anthropic.types import Message, MessageParam

from app.config import Settings
from app.errors import ModelUnavailable

T = TypeVar("T")

RETRYABLE = (anthropic.OverloadedError, anthropic.InternalServerError)
"""529 and other 5xx: the model may answer a moment later, or another model may. A 4xx is our
request's fault: asking again, or asking another model, would fail the same way."""


def attempts(settings: Settings) -> list[tuple[str, float]]:
    """Which model to ask on each try, and how long to wait before it."""
    return [
        (settings.model, 0.0),
        (settings.model, settings.retry_base_seconds),
        (settings.fallback_model, 0.0),
    ]


async def with_fallback(settings: Settings, ask: Callable[[str], Awaitable[T]]) -> T:
    """`ask(model)` for each try until one answers; ModelUnavailable if none does."""
    failure: Exception | None = None
    for model, pause in attempts(settings):
        await asyncio.sleep(pause)
        try:
            return await ask(model)
        except RETRYABLE as error:
            failure = error
        except anthropic.APIConnectionError as error:  # the API is unreachable: all models are
            raise ModelUnavailable(f"the model API cannot be reached: {error}") from error
    raise ModelUnavailable(f"every model is overloaded: {failure}")


async def complete(
    client: anthropic.AsyncAnthropic, settings: Settings, system: str, messages: list[MessageParam]
) -> Message:
    """The model's whole answer."""

    async def ask(model: str) -> Message:
        return await client.messages.create(
            model=model, max_tokens=settings.max_tokens, system=system, messages=messages
        )

    return await with_fallback(settings, ask)


@asynccontextmanager
async def stream(
    client: anthropic.AsyncAnthropic, settings: Settings, system: str, messages: list[MessageParam]
) -> AsyncIterator[AsyncMessageStream]:
    """The model's answer as it is written. Leaving the block closes the upstream response, also
    when it is left early (the chat leaves it when its response ends, the client gone included),
    and the model stops."""
    async with AsyncExitStack() as stack:

        async def ask(model: str) -> AsyncMessageStream:
            return await stack.enter_async_context(
                client.messages.stream(
                    model=model, max_tokens=settings.max_tokens, system=system, messages=messages
                )
            )

        yield await with_fallback(settings, ask)
