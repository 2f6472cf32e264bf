"""Payments, made safe to send again with an Idempotency-Key."""

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from app.deps import RedisDep, SettingsDep
from app.models import PaymentRequest, Payments
from app.services import idempotency, payments

router = APIRouter(prefix="/payments", tags=["payments"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_payment(
    request: PaymentRequest,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
    redis: RedisDep,
    settings: SettingsDep,
) -> Response:
    async def charge() -> tuple[int, str]:
        payment = await payments.charge(redis, request, settings.payment_seconds)
        return status.HTTP_201_CREATED, payment.model_dump_json()

    stored = await idempotency.once(
        redis, idempotency_key, request.model_dump(), settings.idempotency_ttl_seconds, charge
    )
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return Response(stored.body, stored.status, headers, media_type="application/json")


@router.get("")
async def list_payments(redis: RedisDep) -> Payments:
    found = await payments.all_payments(redis)
    return Payments(count=len(found), payments=found)
