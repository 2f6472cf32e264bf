"""What routes receive through dependency injection, as `Annotated` aliases, and who may call them.

The model client, the knowledge store, the conversations, the usage ledger and the rate limiter
belong to the process: created once, in the lifespan (main.py), and read from the request's state.
`ApiKeyDep` authenticates an X-API-Key; `require_scope(scope)` builds the dependency a route
declares for one scope; `AdminDep` guards the admin API. `ResponseExitsDep` closes what a route
opened for its response once the response is over.
"""

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Annotated

import anthropic
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app import database
from app.config import Settings, get_settings
from app.errors import Forbidden, RateLimited
from app.models.api_keys import Scope
from app.services import api_keys
from app.services.conversations import Conversations
from app.services.knowledge import Knowledge
from app.services.rate_limit import RateLimiter
from app.services.usage import UsageLedger

# auto_error=False: the dependencies below answer in the course's error body, not FastAPI's.
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_client(settings: SettingsDep) -> anthropic.AsyncAnthropic:
    # TODO 1: a new client for every request opens a new connection every time, retries on its
    # own, and is never closed. Return the one the lifespan created (`request.state.client`).
    return anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
    )


def get_knowledge(settings: SettingsDep) -> Knowledge:
    # TODO 1: this opens the store and loads the embedding model again for every request. Return
    # the one the lifespan created (`request.state.knowledge`).
    return Knowledge(settings.chroma_path)


def get_conversations(request: Request) -> Conversations:
    return request.state.conversations


def get_ledger(request: Request) -> UsageLedger:
    return request.state.ledger


def get_rate_limiter(request: Request) -> RateLimiter:
    return request.state.rate_limiter


def get_db(settings: SettingsDep) -> Iterator[sqlite3.Connection]:
    yield from database.connect(settings.database_path)


async def get_response_exits() -> AsyncIterator[AsyncExitStack]:
    """What a route opens for its response, closed once the response is over, however it ended:
    FastAPI runs a dependency's code after `yield` then, for a stream once the client has it all
    or has gone. Held by the route's generator alone, it would close only with the generator, and
    a generator that FastAPI stops at a `yield` is left to the garbage collector."""
    async with AsyncExitStack() as exits:
        yield exits


ClientDep = Annotated[anthropic.AsyncAnthropic, Depends(get_client)]
KnowledgeDep = Annotated[Knowledge, Depends(get_knowledge)]
ConversationsDep = Annotated[Conversations, Depends(get_conversations)]
LedgerDep = Annotated[UsageLedger, Depends(get_ledger)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
ResponseExitsDep = Annotated[AsyncExitStack, Depends(get_response_exits)]
# scope="function": the request's transaction commits before its response goes out, so the
# client's next request sees what this one wrote (by default, it would commit after), and a
# streamed answer does not hold a connection open for as long as the model writes.
DbDep = Annotated[sqlite3.Connection, Depends(get_db, scope="function")]
RawKeyDep = Annotated[str | None, Security(api_key_header)]


def api_key(raw_key: RawKeyDep, db: DbDep) -> api_keys.ApiKey:
    # TODO 3b: no key, or one that names nobody (unknown or revoked), is 401 NOT_AUTHENTICATED
    # (errors.NotAuthenticated, with its WWW-Authenticate: APIKey): "tell me who you are". 403 is
    # for a key we know, asking for what it may not do.
    key = api_keys.find(db, raw_key or "")
    if key is None:
        raise Forbidden("Access denied.")
    return key


ApiKeyDep = Annotated[api_keys.ApiKey, Depends(api_key)]


def require_scope(scope: Scope) -> Callable[..., api_keys.ApiKey]:
    # TODO 3b: refuse a known key that lacks `scope`: 403 FORBIDDEN.
    # TODO 3c: count the request against the key's own limit (its key_id), once the key is known:
    # an address is shared by many clients, and one client can change it.
    def scoped(request: Request, key: ApiKeyDep, limiter: RateLimiterDep) -> api_keys.ApiKey:
        if (retry_after := limiter.hit(request.client.host)) is not None:
            raise RateLimited(retry_after)
        return key

    return scoped


def admin(raw_key: RawKeyDep, settings: SettingsDep) -> None:
    # TODO 3b: no key, or a key that names nobody, is 401 NOT_AUTHENTICATED; a valid client key
    # that is not the admin's is 403 FORBIDDEN. Compare with the admin key in constant time
    # (hmac.compare_digest): `!=` stops at the first wrong character, and its timing tells how
    # many were right.
    if raw_key != settings.admin_api_key.get_secret_value():
        raise Forbidden("Only the admin key may call the admin API.")


AskDep = Annotated[api_keys.ApiKey, Depends(require_scope("ask"))]
DocumentsWriterDep = Annotated[api_keys.ApiKey, Depends(require_scope("documents:write"))]
AdminDep = Depends(admin)
