"""Who is asking, and what they may do: dependencies that endpoints declare.

`ApiKeyDep` authenticates an X-API-Key (401 without a live one). `require_scope(scope)` builds the
dependency an endpoint declares for one scope: it counts the request against that key's rate limit,
then checks the scope (403). `AdminDep` admits the admin key only; `UserDep`, a valid bearer token.
"""

import hmac
import sqlite3
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from app import database
from app.config import Settings, get_settings
from app.errors import Forbidden, NotAuthenticated, RateLimited
from app.models.api_keys import Scope
from app.models.users import UserPublic
from app.services import api_keys, tokens, users
from app.services.rate_limit import RateLimiter

# auto_error=False: the dependencies below answer in the course's error body, not FastAPI's.
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
bearer_token = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(settings: SettingsDep) -> Iterator[sqlite3.Connection]:
    yield from database.connect(settings.database_path)


def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


# scope="function": the request's transaction commits before its response goes out, so the
# client's next request sees what this one wrote (by default, it would commit after).
DbDep = Annotated[sqlite3.Connection, Depends(get_db, scope="function")]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
RawKeyDep = Annotated[str | None, Security(api_key_header)]


def api_key(raw_key: RawKeyDep, db: DbDep) -> api_keys.ApiKey:
    if raw_key is None:
        raise NotAuthenticated("Send your API key in the X-API-Key header.", "APIKey")
    key = api_keys.find(db, raw_key)
    if key is None:
        raise NotAuthenticated("This API key is unknown or revoked.", "APIKey")
    return key


ApiKeyDep = Annotated[api_keys.ApiKey, Depends(api_key)]


def require_scope(scope: Scope) -> Callable[..., api_keys.ApiKey]:
    def scoped(key: ApiKeyDep, limiter: RateLimiterDep) -> api_keys.ApiKey:
        if (retry_after := limiter.hit(key.key_id)) is not None:
            raise RateLimited(retry_after)
        if scope not in key.scopes:
            raise Forbidden(f"This key lacks the {scope} scope.", {"required_scope": scope})
        return key

    return scoped


def admin(raw_key: RawKeyDep, settings: SettingsDep, db: DbDep) -> None:
    if raw_key is None:
        raise NotAuthenticated("Send the admin key in the X-API-Key header.", "APIKey")
    admin_key = settings.admin_api_key.get_secret_value()
    if hmac.compare_digest(raw_key.encode(), admin_key.encode()):  # constant time: see the lesson
        return
    if api_keys.find(db, raw_key) is not None:
        raise Forbidden("Only the admin key may manage API keys.")
    raise NotAuthenticated("This API key is unknown or revoked.", "APIKey")


def current_user(
    token: Annotated[str | None, Depends(bearer_token)], settings: SettingsDep, db: DbDep
) -> UserPublic:
    if token is None:
        raise NotAuthenticated("Send an access token: Authorization: Bearer <token>.", "Bearer")
    user = users.find(db, tokens.subject(token, settings))
    if user is None:
        raise NotAuthenticated("The token's user no longer exists.", "Bearer")
    return user


ItemsReaderDep = Annotated[api_keys.ApiKey, Depends(require_scope("items:read"))]
ItemsWriterDep = Annotated[api_keys.ApiKey, Depends(require_scope("items:write"))]
AdminDep = Depends(admin)
UserDep = Annotated[UserPublic, Depends(current_user)]
