"""What routes receive through dependency injection, as `Annotated` aliases, and who may call them.

The model client, the knowledge store, the conversations, the usage ledger and the rate limiter
are created once, in the lifespan (main.py), and read from the request's state: never one per
request. `ApiKeyDep` authenticates an X-API-Key (401 without a live one); `require_scope(scope)`
builds the dependency a route declares for one scope: it counts the request against that key's
rate limit, then checks the scope (403). `AdminDep` admits the admin key only.
`ResponseExitsDep` closes what a route opened for its response once the response is over.
"""

import hmac
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Annotated

import anthropic
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app import database
from app.config import Settings, get_settings
from app.errors import Forbidden, NotAuthenticated, RateLimited
from app.models.api_keys import Scope
from app.services import api_keys
from app.services.conversations import Conversations
from app.services.knowledge import Knowledge
from app.services.rate_limit import RateLimiter
from app.services.usage import UsageLedger

# auto_error=False: the dependencies below answer in the course's error body, not FastAPI's.
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_client(request: Request) -> anthropic.AsyncAnthropic:
    return request.state.client


def get_knowledge(request: Request) -> Knowledge:
    return request.state.knowledge


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
    if raw_key is None:
        raise NotAuthenticated("Send your API key in the X-API-Key header.")
    key = api_keys.find(db, raw_key)
    if key is None:
        raise NotAuthenticated("This API key is unknown or revoked.")
    return key


ApiKeyDep = Annotated[api_keys.ApiKey, Depends(api_key)]


def require_scope(scope: Scope) -> Callable[..., api_keys.ApiKey]:
    """The dependency of a route that needs `scope`. A known key is counted first, whatever its
    scopes: a made-up key never reaches the limiter (401 above), so it spends nobody's allowance."""

    def scoped(key: ApiKeyDep, limiter: RateLimiterDep) -> api_keys.ApiKey:
        if (retry_after := limiter.hit(key.key_id)) is not None:
            raise RateLimited(retry_after)
        if scope not in key.scopes:
            raise Forbidden(f"This key lacks the {scope} scope.", {"required_scope": scope})
        return key

    return scoped


def admin(raw_key: RawKeyDep, settings: SettingsDep, db: DbDep) -> None:
    if raw_key is None:
        raise NotAuthenticated("Send the admin key in the X-API-Key header.")
    admin_key = settings.admin_api_key.get_secret_value()
    if hmac.compare_digest(raw_key.encode(), admin_key.encode()):  # constant time: Lab 5
        return
    if api_keys.find(db, raw_key) is not None:
        raise Forbidden("Only the admin key may call the admin API.")
    raise NotAuthenticated("This API key is unknown or revoked.")


AskDep = Annotated[api_keys.ApiKey, Depends(require_scope("ask"))]
DocumentsWriterDep = Annotated[api_keys.ApiKey, Depends(require_scope("documents:write"))]
AdminDep = Depends(admin)
