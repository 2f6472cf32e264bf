"""What routes receive through dependency injection, as `Annotated` aliases. The services
should be created once, in the lifespan (main.py), and read from the request's state; the
response's exits are made per request."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated

import anthropic
from fastapi import Depends, Request

from app.config import Settings, get_settings
from app.services.conversations import Conversations
from app.services.knowledge import Knowledge
from app.services.usage import UsageLedger


def get_client(request: Request, settings: Annotated[Settings, Depends(get_settings)]):
    # TODO 1: a new client for every request opens a new connection every time. Return the one
    # the lifespan created (`request.state.client`) instead.
    return anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
    )


def get_knowledge(request: Request) -> Knowledge:
    return request.state.knowledge


def get_conversations(request: Request) -> Conversations:
    return request.state.conversations


def get_ledger(request: Request) -> UsageLedger:
    return request.state.ledger


async def get_response_exits() -> AsyncIterator[AsyncExitStack]:
    """What a route opens for its response, closed once the response is over, however it ended:
    FastAPI runs a dependency's code after `yield` then, for a stream once the client has it all
    or has gone. Held by the route's generator alone, it would close only with the generator, and
    a generator that FastAPI stops at a `yield` is left to the garbage collector."""
    async with AsyncExitStack() as exits:
        yield exits


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[anthropic.AsyncAnthropic, Depends(get_client)]
KnowledgeDep = Annotated[Knowledge, Depends(get_knowledge)]
ConversationsDep = Annotated[Conversations, Depends(get_conversations)]
LedgerDep = Annotated[UsageLedger, Depends(get_ledger)]
ResponseExitsDep = Annotated[AsyncExitStack, Depends(get_response_exits)]
