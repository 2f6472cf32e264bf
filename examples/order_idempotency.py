"""A shop's orders, placed once per `Idempotency-Key` however often the request is sent.

A client whose request timed out cannot know whether its order was placed. With an idempotency
key it sends the same request again, with the same key: the first answer is stored in Redis and
replayed byte for byte, marked `Idempotent-Replayed: true`; the same key with another body is
refused; and duplicates that arrive together are placed once, because the key is claimed with one
atomic `SET key value NX PX ttl`. A check-then-set version is kept for contrast: under concurrent
duplicates it places an order for each.

Module 7's lesson (section "Idempotency keys for HTTP") includes parts of this file. Run its tests
with `pytest examples/order_idempotency.py`: they start a real redis-server.
"""

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Header, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import DataError, ResponseError

from grader.services.redis import redis_server

KEY_TTL = 24 * 3600.0
"""Seconds a key and its answer are kept: longer than any client keeps retrying."""
REPLAYED = "Idempotent-Replayed"
REPLAYED_HEADERS = ("content-type", "location")
"""The first answer's headers that a replay repeats (content-length is computed again)."""
RESERVE_SECONDS = 0.05
"""How long the warehouse takes to reserve the stock."""


class OrderIn(BaseModel):
    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=100)


class Order(OrderIn):
    order_id: int


async def reserve_stock(order: OrderIn) -> None:
    await asyncio.sleep(RESERVE_SECONDS)  # stands for a call to the warehouse's API


async def place(shop: redis.Redis, order: OrderIn) -> Order:
    await reserve_stock(order)
    placed = Order(order_id=await shop.incr("order-ids"), **order.model_dump())
    await shop.hset("orders", str(placed.order_id), placed.model_dump_json())
    return placed


# --8<-- [start:keys]
class KeyReused(Exception):
    """The key came with another request than the one it was first used for."""


class StillRunning(Exception):
    """The key's first request has not answered yet."""


@dataclass
class IdempotencyKeys:
    """Idempotency keys in Redis: each one claimed atomically, then holding the first answer."""

    store: redis.Redis
    ttl: float = KEY_TTL

    async def claim(self, name: str, fingerprint: str) -> Response | None:
        """None if this request now owns the key and must do the work; else the first answer.

        Raises KeyReused or StillRunning."""
        while True:
            claimed = await self.store.set(
                name,
                json.dumps({"fingerprint": fingerprint}),
                nx=True,  # only if nobody has it: check and set in one command
                px=round(self.ttl * 1000),  # milliseconds: EX takes whole seconds only
            )
            if claimed:
                return None
            stored = await self.store.get(name)
            if stored is not None:  # else it expired between the two commands: claim again
                break
        first = json.loads(stored)
        if first["fingerprint"] != fingerprint:
            raise KeyReused
        if "status" not in first:
            raise StillRunning
        headers = {**first["headers"], REPLAYED: "true"}
        body = base64.b64decode(first["body"])
        return Response(body, status_code=first["status"], headers=headers)

    async def keep(self, name: str, fingerprint: str, response: Response) -> None:
        """Stores the answer under the key this request claimed, for its replays."""
        headers = {
            name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
        }
        answer = {
            "fingerprint": fingerprint,
            "status": response.status_code,
            "headers": headers,
            "body": base64.b64encode(response.body).decode(),
        }
        await self.store.set(name, json.dumps(answer), xx=True, px=round(self.ttl * 1000))

    async def release(self, name: str) -> None:
        """Gives the key back: the request failed before it had an answer to keep."""
        await self.store.delete(name)


# --8<-- [end:keys]


def make_app(redis_url: str, key_ttl: float = KEY_TTL) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        shop = redis.Redis.from_url(redis_url)
        yield {"shop": shop, "keys": IdempotencyKeys(shop, key_ttl)}
        await shop.aclose()

    app = FastAPI(lifespan=lifespan)

    # --8<-- [start:endpoint]
    @app.post("/orders", status_code=status.HTTP_201_CREATED)
    async def place_order(
        order: OrderIn,
        request: Request,
        idempotency_key: Annotated[str, Header(min_length=8, max_length=255)],
    ) -> Response:
        keys: IdempotencyKeys = request.state.keys
        name = f"idempotency:POST /orders:{idempotency_key}"  # a key belongs to one endpoint
        fingerprint = hashlib.sha256(await request.body()).hexdigest()
        try:
            first_answer = await keys.claim(name, fingerprint)
        except KeyReused:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "this Idempotency-Key was used with another request body",
            ) from None
        except StillRunning:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "a request with this Idempotency-Key is still being processed",
                headers={"Retry-After": "1"},
            ) from None
        if first_answer is not None:
            return first_answer

        try:
            placed = await place(request.state.shop, order)
        except BaseException:
            await keys.release(name)  # no answer to keep: the client's retry will run again
            raise
        response = JSONResponse(
            placed.model_dump(),
            status_code=status.HTTP_201_CREATED,
            headers={"Location": f"/orders/{placed.order_id}"},
        )
        await keys.keep(name, fingerprint, response)
        return response

    # --8<-- [end:endpoint]

    # --8<-- [start:check_then_set]
    @app.post("/orders-check-then-set", status_code=201)  # the mistake, kept for contrast
    async def place_order_check_then_set(
        order: OrderIn, request: Request, idempotency_key: Annotated[str, Header()]
    ) -> Response:
        shop: redis.Redis = request.state.shop
        name = f"check-then-set:{idempotency_key}"
        if (stored := await shop.get(name)) is not None:  # check...
            return Response(stored, status_code=201, media_type="application/json")
        placed = await place(shop, order)  # ...every duplicate that checked meanwhile gets here
        await shop.set(name, placed.model_dump_json(), px=round(KEY_TTL * 1000))  # ...then set
        return JSONResponse(placed.model_dump(), status_code=201)

    # --8<-- [end:check_then_set]
    return app


@pytest_asyncio.fixture
async def shop() -> AsyncIterator[tuple[httpx.AsyncClient, redis.Redis]]:
    async with redis_server() as server, shop_client(server.url) as client:
        yield client, redis.Redis.from_url(server.url)


@asynccontextmanager
async def shop_client(redis_url: str, key_ttl: float = KEY_TTL) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(make_app(redis_url, key_ttl)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


ORDER = {"sku": "TEA-042", "quantity": 2}
KEY = {"Idempotency-Key": "7f3c9a52-order-1"}


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_a_repeated_request_gets_the_first_answer_byte_for_byte(shop) -> None:
    client, store = shop
    first = await client.post("/orders", json=ORDER, headers=KEY)
    again = await client.post("/orders", json=ORDER, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # the same bytes, the same order id
    assert again.headers["location"] == first.headers["location"]
    assert REPLAYED not in first.headers and again.headers[REPLAYED] == "true"
    assert await store.hlen("orders") == 1


@pytest.mark.asyncio
async def test_the_same_key_with_another_body_is_refused(shop) -> None:
    client, store = shop
    assert (await client.post("/orders", json=ORDER, headers=KEY)).status_code == 201
    other = await client.post("/orders", json={**ORDER, "quantity": 20}, headers=KEY)
    assert other.status_code == 422
    assert await store.hlen("orders") == 1


@pytest.mark.asyncio
async def test_duplicates_sent_together_place_one_order(shop) -> None:
    client, store = shop
    answers = await asyncio.gather(
        *(client.post("/orders", json=ORDER, headers=KEY) for _ in range(5))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409, 409, 409]  # one ran; the others were told to come back
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 409)
    assert await store.hlen("orders") == 1


@pytest.mark.asyncio
async def test_check_then_set_places_an_order_per_duplicate(shop) -> None:
    client, store = shop
    answers = await asyncio.gather(
        *(client.post("/orders-check-then-set", json=ORDER, headers=KEY) for _ in range(5))
    )
    assert [answer.status_code for answer in answers] == [201] * 5
    assert await store.hlen("orders") == 5  # all five checked before the first one set


@pytest.mark.asyncio
async def test_a_request_that_failed_gives_its_key_back(
    shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store = shop

    async def warehouse_down(order: OrderIn) -> None:
        raise ConnectionError("the warehouse is unreachable")

    monkeypatch.setitem(globals(), "reserve_stock", warehouse_down)
    assert (await client.post("/orders", json=ORDER, headers=KEY)).status_code == 500
    monkeypatch.undo()
    retried = await client.post("/orders", json=ORDER, headers=KEY)
    assert retried.status_code == 201 and REPLAYED not in retried.headers  # it ran this time


@pytest.mark.asyncio
async def test_a_key_expires_after_its_ttl_in_milliseconds() -> None:
    async with redis_server() as server, shop_client(server.url, key_ttl=0.3) as client:
        first = await client.post("/orders", json=ORDER, headers=KEY)
        await asyncio.sleep(0.4)
        later = await client.post("/orders", json=ORDER, headers=KEY)
        assert first.json()["order_id"] != later.json()["order_id"]  # a new order: key expired

        store = redis.Redis.from_url(server.url)
        with pytest.raises(DataError):  # redis-py sends EX only as a whole number...
            await store.set("key", "value", ex=0.3)
        await store.set("key", "value", ex=timedelta(seconds=1.5))  # ...and rounds this down
        assert await store.pttl("key") <= 1000  # 1 s, not 1.5
        with pytest.raises(ResponseError, match="invalid expire time"):
            await store.set("key", "value", ex=timedelta(seconds=0.3))  # EX 0
        await store.aclose()


# --8<-- [end:tests]
