"""Payments, kept in Redis: charging one takes a while, as a card network's answer does."""

import asyncio
import uuid

import redis.asyncio

from app.models import Payment, PaymentRequest

KEY = "payments"


async def charge(client: redis.asyncio.Redis, request: PaymentRequest, seconds: float) -> Payment:
    await asyncio.sleep(seconds)  # the card network
    payment = Payment(payment_id=uuid.uuid4().hex, **request.model_dump())
    await client.rpush(KEY, payment.model_dump_json())
    return payment


async def all_payments(client: redis.asyncio.Redis) -> list[Payment]:
    return [Payment.model_validate_json(raw) for raw in await client.lrange(KEY, 0, -1)]
