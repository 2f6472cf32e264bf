"""API keys for a metrics service: devices send readings, dashboards read them.

Every key is issued by the service's operator, shown once, stored only as a SHA-256 hash, scoped
(`readings:write` for a device, `readings:read` for a dashboard) and revocable. The operator's own
key is a setting, compared in constant time. Module 5's lesson (sections "API keys", "Scopes" and
"Revocation") includes parts of this file. Run it with `pytest examples/api_keys.py`.
"""

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

KEY_PREFIX = "mtr_"  # says "a key of the metrics service" wherever one turns up


# --8<-- [start:store]
@dataclass
class ApiKey:
    """What the service keeps of a key: everything but the key itself."""

    key_id: str  # public: names the key in listings, logs and the URL that revokes it
    owner: str
    scopes: frozenset[str]
    key_hash: str  # SHA-256 of the key, in hex
    hint: str  # the key's first characters, so that its owner can tell which key this is
    created_at: datetime
    revoked_at: datetime | None = None


def hash_key(key: str) -> str:
    """One fast hash is enough: a key of 256 random bits cannot be guessed from its hash."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self) -> None:
        self.by_hash: dict[str, ApiKey] = {}  # in a database: a unique index on key_hash
        self.by_id: dict[str, ApiKey] = {}

    def issue(self, owner: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """Create a key: the caller shows it once, and only its hash is kept."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)  # 32 bytes from the OS's secure generator
        record = ApiKey(
            key_id=secrets.token_hex(8),
            owner=owner,
            scopes=frozenset(scopes),
            key_hash=hash_key(key),
            hint=key[:8],
            created_at=datetime.now(UTC),
        )
        self.by_hash[record.key_hash] = self.by_id[record.key_id] = record
        return record, key

    def find(self, key: str) -> ApiKey | None:
        """The record of a live key, looked up by the key's hash; None if unknown or revoked."""
        record = self.by_hash.get(hash_key(key))
        if record is None or record.revoked_at is not None:
            return None
        return record

    # --8<-- [end:store]

    # --8<-- [start:revoke]
    def revoke(self, key_id: str) -> bool:
        """Refuse the key from now on. The record stays, for the audit trail: who had it, when."""
        record = self.by_id.get(key_id)
        if record is None or record.revoked_at is not None:
            return False
        record.revoked_at = datetime.now(UTC)
        return True

    # --8<-- [end:revoke]

    def all(self) -> list[ApiKey]:
        return list(self.by_id.values())


# --8<-- [start:dependencies]
key_header = APIKeyHeader(name="X-Metrics-Key")  # no header at all: 401, with WWW-Authenticate


def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


KeysDep = Annotated[KeyStore, Depends(get_keys)]
KeyHeader = Annotated[str, Security(key_header)]


def unknown_key() -> HTTPException:
    """401: we don't know who you are. The same answer for a key that never existed and for
    a revoked one, and a challenge that names the scheme, as a 401 must."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "Unknown or revoked key",
        headers={"WWW-Authenticate": "APIKey"},
    )


def authenticated_key(key: KeyHeader, keys: KeysDep) -> ApiKey:
    """Who is calling: the record of the key the request carries."""
    record = keys.find(key)
    if record is None:
        raise unknown_key()
    return record


def require_scope(scope: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency that lets through only a key that holds `scope`: 403 for any other key."""

    def key_with_scope(key: Annotated[ApiKey, Depends(authenticated_key)]) -> ApiKey:
        if scope not in key.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"This key lacks the scope {scope}")
        return key

    return key_with_scope


# --8<-- [end:dependencies]


# --8<-- [start:operator]
def operator(key: KeyHeader, keys: KeysDep, request: Request) -> None:
    """Only the operator may manage keys. Its key is a setting, compared in constant time, as
    bytes: compare_digest refuses str with non-ASCII characters, and a header may carry some."""
    if secrets.compare_digest(key.encode(), request.app.state.operator_key.encode()):
        return
    if keys.find(key) is not None:  # a real key, only not the operator's
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the operator manages keys")
    raise unknown_key()


# --8<-- [end:operator]


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(min_length=1, max_length=100)
    scopes: set[str] = Field(min_length=1, max_length=10)


class IssuedKey(BaseModel):
    """The answer to issuing a key: the only response that ever carries the key."""

    key_id: str
    key: str
    owner: str
    scopes: list[str]


class KeyInfo(BaseModel):
    """A key as listings show it: no key, no hash."""

    key_id: str
    owner: str
    scopes: list[str]
    hint: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKey) -> "KeyInfo":
        return cls(
            key_id=record.key_id,
            owner=record.owner,
            scopes=sorted(record.scopes),
            hint=record.hint,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sensor: str = Field(min_length=1, max_length=64)
    value: float


class Reading(ReadingIn):
    device: str  # the owner of the key that sent it: the server decides, not the body


# --8<-- [start:routes]
keys_router = APIRouter(prefix="/keys", dependencies=[Depends(operator)])


@keys_router.post("", status_code=status.HTTP_201_CREATED)
def issue_key(new: KeyRequest, keys: KeysDep) -> IssuedKey:
    record, key = keys.issue(new.owner, new.scopes)
    return IssuedKey(key_id=record.key_id, key=key, owner=new.owner, scopes=sorted(new.scopes))


@keys_router.get("")
def list_keys(keys: KeysDep) -> list[KeyInfo]:
    return [KeyInfo.of(record) for record in keys.all()]


@keys_router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, keys: KeysDep) -> None:
    if not keys.revoke(key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No live key with this id")


readings_router = APIRouter(prefix="/readings")
CanWrite = Annotated[ApiKey, Depends(require_scope("readings:write"))]
CanRead = Annotated[ApiKey, Depends(require_scope("readings:read"))]


@readings_router.post("", status_code=status.HTTP_201_CREATED)
def record_reading(reading: ReadingIn, device: CanWrite, request: Request) -> Reading:
    stored = Reading(**reading.model_dump(), device=device.owner)
    request.app.state.readings.append(stored)
    return stored


@readings_router.get("")
def list_readings(dashboard: CanRead, request: Request) -> list[Reading]:
    return request.app.state.readings


# --8<-- [end:routes]


def create_app(operator_key: str) -> FastAPI:
    """The service, with its operator's key: in production a setting (Module 1), from the
    environment or a secrets manager, never from the code."""
    app = FastAPI(title="Metrics")
    app.state.keys = KeyStore()
    app.state.readings = []
    app.state.operator_key = operator_key
    app.include_router(keys_router)
    app.include_router(readings_router)
    return app


OPERATOR_KEY = KEY_PREFIX + secrets.token_urlsafe(32)
AS_OPERATOR = {"X-Metrics-Key": OPERATOR_KEY}
CO2 = {"sensor": "co2", "value": 612.0}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(OPERATOR_KEY))


def issue(client: TestClient, owner: str, *scopes: str) -> dict[str, str]:
    """Has the operator issue a key; returns the answer, the key included."""
    body = {"owner": owner, "scopes": list(scopes)}
    response = client.post("/keys", json=body, headers=AS_OPERATOR)
    assert response.status_code == 201, response.text
    return response.json()


def headers(issued: dict[str, str]) -> dict[str, str]:
    return {"X-Metrics-Key": issued["key"]}


# --8<-- [start:key_tests]
def test_a_key_is_shown_once_and_stored_only_as_its_hash(client: TestClient) -> None:
    key = issue(client, "sensor-hall-3", "readings:write")["key"]
    assert key.startswith("mtr_") and len(key) == 4 + 43  # 32 bytes, in URL-safe base64
    listing = client.get("/keys", headers=AS_OPERATOR)
    assert key not in listing.text and hash_key(key) not in listing.text
    assert listing.json()[0]["hint"] == key[:8]
    [stored] = client.app.state.keys.all()
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()


def test_401_asks_who_you_are_and_403_says_you_may_not(client: TestClient) -> None:
    device = issue(client, "sensor-hall-3", "readings:write")
    no_key = client.get("/readings")
    assert (no_key.status_code, no_key.headers["WWW-Authenticate"]) == (401, "APIKey")
    made_up = client.get("/readings", headers={"X-Metrics-Key": "mtr_" + "A" * 43})
    assert (made_up.status_code, made_up.headers["WWW-Authenticate"]) == (401, "APIKey")
    no_scope = client.get("/readings", headers=headers(device))
    assert no_scope.status_code == 403 and "WWW-Authenticate" not in no_scope.headers


# --8<-- [end:key_tests]


# --8<-- [start:scope_tests]
def test_each_key_does_what_its_scopes_allow_and_nothing_else(client: TestClient) -> None:
    device = headers(issue(client, "sensor-hall-3", "readings:write"))
    dashboard = headers(issue(client, "wall-screen", "readings:read"))
    sent = client.post("/readings", json=CO2, headers=device)
    assert sent.status_code == 201 and sent.json()["device"] == "sensor-hall-3"
    assert client.get("/readings", headers=dashboard).json() == [sent.json()]
    assert client.post("/readings", json=CO2, headers=dashboard).status_code == 403
    assert client.get("/keys", headers=device).status_code == 403  # valid, but not the operator


# --8<-- [end:scope_tests]


# --8<-- [start:revoke_tests]
def test_a_revoked_key_is_refused_at_once_and_stays_listed(client: TestClient) -> None:
    issued = issue(client, "sensor-hall-3", "readings:write")
    assert client.post("/readings", json=CO2, headers=headers(issued)).status_code == 201
    assert client.delete(f"/keys/{issued['key_id']}", headers=AS_OPERATOR).status_code == 204
    assert client.post("/readings", json=CO2, headers=headers(issued)).status_code == 401
    [listed] = client.get("/keys", headers=AS_OPERATOR).json()
    assert listed["key_id"] == issued["key_id"] and listed["revoked_at"] is not None


# --8<-- [end:revoke_tests]


# --8<-- [start:compare_tests]
def test_compare_digest_refuses_non_ascii_text_so_compare_bytes() -> None:
    with pytest.raises(TypeError):
        secrets.compare_digest("café", "cafe")
    assert secrets.compare_digest("café".encode(), b"cafe") is False


def test_a_non_ascii_key_is_a_401_not_a_500(client: TestClient) -> None:
    response = client.get("/keys", headers={"X-Metrics-Key": b"caf\xe9"})  # Latin-1 on the wire
    assert response.status_code == 401


# --8<-- [end:compare_tests]


def test_a_key_is_revoked_once_and_an_unknown_id_not_at_all(client: TestClient) -> None:
    key_id = issue(client, "sensor-hall-3", "readings:write")["key_id"]
    assert client.delete(f"/keys/{key_id}", headers=AS_OPERATOR).status_code == 204
    assert client.delete(f"/keys/{key_id}", headers=AS_OPERATOR).status_code == 404
    assert client.delete("/keys/0000000000000000", headers=AS_OPERATOR).status_code == 404


def test_the_operator_key_manages_keys_and_nothing_else(client: TestClient) -> None:
    assert client.get("/readings", headers=AS_OPERATOR).status_code == 401  # not in the store
