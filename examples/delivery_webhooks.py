"""A courier's delivery-tracking webhooks: signed and retried by the courier, verified by a shop.

Outbound (the courier): each event is POSTed to the subscriber's URL with the header
`Courier-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, signed afresh for each
attempt, and the same `Courier-Event-Id` every time. Delivery is retried with exponential backoff
until the subscriber answers 2xx, then never again; after the last attempt it gives up and says so.

Inbound (the shop): `POST /courier-events` verifies the signature over the raw body, in constant
time, refuses a timestamp outside a five-minute window (a request captured and replayed later),
and handles each event id once, because the courier delivers at least once.

Module 7's lesson (sections "Sending webhooks" and "Receiving webhooks") includes parts of this
file. Run its tests with `pytest examples/delivery_webhooks.py`: they start a real redis-server for
the shop, and a subscriber on a real uvicorn server.
"""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Literal

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel
from travel_upstreams import Supplier, running

from grader.services.redis import redis_server

SIGNATURE_HEADER = "Courier-Signature"
EVENT_ID_HEADER = "Courier-Event-Id"


# --8<-- [start:sign]
def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: the timestamp, and an HMAC of the timestamp and the body."""
    signed = str(timestamp).encode() + b"." + body  # the timestamp is signed too
    digest = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --8<-- [end:sign]


# --8<-- [start:deliver]
@dataclass
class Delivery:
    delivered: bool
    answers: list[int | str] = field(default_factory=list)
    """Each attempt's status code, or the name of the error that left it without one."""


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    event: dict,
    secret: bytes,
    *,
    attempts: int = 8,
    base: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Delivery:
    """POSTs `event` to `url` until it answers 2xx, at most `attempts` times, pausing
    base·2^(n−1) seconds after failed attempt n."""
    body = json.dumps(event, separators=(",", ":")).encode()  # the exact bytes that are signed
    delivery = Delivery(delivered=False)
    for attempt in range(1, attempts + 1):
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),  # a fresh timestamp each time
            EVENT_ID_HEADER: event["id"],  # the same id each time: the receiver can deduplicate
        }
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.TransportError as error:  # refused, reset, timed out: try again later
            delivery.answers.append(type(error).__name__)
        else:
            delivery.answers.append(response.status_code)
            if response.is_success:
                delivery.delivered = True
                return delivery  # and never again
        if attempt < attempts:
            await sleep(base * 2 ** (attempt - 1))
    return delivery  # given up: log it, alert, and let the subscriber ask for a resend


# --8<-- [end:deliver]


# --8<-- [start:verify]
TOLERANCE = 300
"""Seconds a signed request stays acceptable: a replay window of five minutes either side."""


class InvalidSignature(Exception):
    pass


def verify(
    secret: bytes, header: str, body: bytes, now: float, tolerance: float = TOLERANCE
) -> None:
    """Raises InvalidSignature unless `header` signs `body`, the raw bytes received, at a time
    within `tolerance` seconds of `now`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        raise InvalidSignature("malformed signature header") from None
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    # Constant time: `==` stops at the first differing character, and how soon it answers tells
    # an attacker how much of a forged signature is right. Bytes: a str must be ASCII here.
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise InvalidSignature("the signature does not match the body")
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("the timestamp is outside the accepted window")


# --8<-- [end:verify]


class ParcelEvent(BaseModel):
    id: str
    type: Literal["parcel.delivered", "parcel.delayed"]
    parcel_id: str


def make_shop(secret: bytes, redis_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, redis.Redis]]:
        store = redis.Redis.from_url(redis_url)
        yield {"store": store}
        await store.aclose()

    app = FastAPI(lifespan=lifespan)

    # --8<-- [start:receive]
    @app.post("/courier-events")
    async def courier_event(
        request: Request, signature: Annotated[str, Header(alias=SIGNATURE_HEADER)]
    ) -> dict[str, str]:
        body = await request.body()  # the raw bytes: parsed and dumped again, they would differ
        try:
            verify(secret, signature, body, now=time.time())
        except InvalidSignature as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        event = ParcelEvent.model_validate_json(body)  # parsed only once it is known genuine

        store: redis.Redis = request.state.store
        marker = f"courier-event:{event.id}"
        if not await store.set(marker, "handled", nx=True, ex=7 * 24 * 3600):
            return {"event": event.id, "outcome": "already handled"}  # 2xx: stop resending
        try:
            await store.rpush("customer-notifications", f"{event.parcel_id}: {event.type}")
        except BaseException:
            await store.delete(marker)  # not handled after all: the courier's retry will be
            raise
        return {"event": event.id, "outcome": "handled"}

    # --8<-- [end:receive]
    return app


SECRET = b"whsec_4b1d3c0ffee"
EVENT = {"id": "evt_1001", "type": "parcel.delivered", "parcel_id": "PCL-77"}


@pytest_asyncio.fixture
async def shop() -> AsyncIterator[tuple[httpx.AsyncClient, redis.Redis]]:
    """The shop's app in this process, with a redis-server of its own."""
    async with redis_server() as server, LifespanManager(make_shop(SECRET, server.url)) as app:
        transport = httpx.ASGITransport(app=app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client, redis.Redis.from_url(server.url)


def signed(body: bytes, timestamp: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if timestamp is None else timestamp)
    return {SIGNATURE_HEADER: sign(SECRET, timestamp, body), "Content-Type": "application/json"}


# --8<-- [start:outbound_tests]
@pytest.mark.asyncio
async def test_a_delivery_is_signed_and_accepted_the_first_time(shop) -> None:
    client, store = shop
    delivery = await deliver(client, "/courier-events", EVENT, SECRET)
    assert delivery == Delivery(delivered=True, answers=[200])
    assert await store.lrange("customer-notifications", 0, -1) == [b"PCL-77: parcel.delivered"]


@pytest.mark.asyncio
async def test_retried_with_backoff_until_2xx_then_never_again() -> None:
    subscriber = Supplier()
    subscriber.route("/hooks", statuses=[503, 502, 200, 200])
    with running(subscriber) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            delivery = await deliver(client, "/hooks", EVENT, SECRET, base=0.05)
        await asyncio.sleep(0.2)  # nothing more comes
    assert delivery == Delivery(delivered=True, answers=[503, 502, 200])
    calls = subscriber.calls_to("/hooks")
    assert len(calls) == 3
    pauses = [
        later.started - earlier.started for earlier, later in zip(calls, calls[1:], strict=False)
    ]
    assert pauses[0] >= 0.05 and pauses[1] >= 0.1


@pytest.mark.asyncio
async def test_it_gives_up_after_the_last_attempt() -> None:
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    subscriber = Supplier()
    subscriber.route("/hooks", statuses=[500])
    with running(subscriber) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            delivery = await deliver(client, "/hooks", EVENT, SECRET, attempts=5, sleep=record)
    assert delivery == Delivery(delivered=False, answers=[500] * 5)
    assert pauses == [1.0, 2.0, 4.0, 8.0]  # none after the last attempt


# --8<-- [end:outbound_tests]


# --8<-- [start:inbound_tests]
@pytest.mark.asyncio
async def test_a_changed_body_is_refused(shop) -> None:
    client, _ = shop
    body = json.dumps(EVENT).encode()
    tampered = body.replace(b"PCL-77", b"PCL-78")
    response = await client.post("/courier-events", content=tampered, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["detail"] == "the signature does not match the body"


@pytest.mark.asyncio
async def test_a_genuine_request_replayed_later_is_refused(shop) -> None:
    client, _ = shop
    body = json.dumps(EVENT).encode()
    captured = signed(body, timestamp=time.time() - 600)  # a valid signature, ten minutes old
    response = await client.post("/courier-events", content=body, headers=captured)
    assert response.status_code == 400
    assert response.json()["detail"] == "the timestamp is outside the accepted window"


@pytest.mark.asyncio
async def test_a_redelivered_event_is_handled_once(shop) -> None:
    client, store = shop
    body = json.dumps(EVENT).encode()
    first = await client.post("/courier-events", content=body, headers=signed(body))
    again = await client.post("/courier-events", content=body, headers=signed(body))
    assert (first.status_code, again.status_code) == (200, 200)  # 2xx both times: stop sending
    assert again.json()["outcome"] == "already handled"
    assert await store.llen("customer-notifications") == 1


@pytest.mark.asyncio
async def test_a_malformed_or_non_ascii_signature_is_refused_not_a_crash(shop) -> None:
    client, _ = shop
    body = json.dumps(EVENT).encode()
    for header in (b"v1=abc", b"t=1700000000,v1=\xe9t\xe9"):  # no timestamp; not ASCII
        response = await client.post(
            "/courier-events", content=body, headers={SIGNATURE_HEADER: header}
        )
        assert response.status_code == 400


def test_the_signature_covers_the_bytes_not_the_json() -> None:
    body = json.dumps(EVENT, separators=(",", ":")).encode()
    header = sign(SECRET, int(time.time()), body)
    verify(SECRET, header, body, now=time.time())  # the bytes that were sent: valid
    same_json = json.dumps(json.loads(body)).encode()  # the same JSON, with spaces
    with pytest.raises(InvalidSignature):
        verify(SECRET, header, same_json, now=time.time())


# --8<-- [end:inbound_tests]
