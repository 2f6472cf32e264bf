"""Webhooks other services send us: accepted only if signed with our shared secret, recently."""

import time
from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.deps import SettingsDep
from app.errors import InvalidSignature, StaleTimestamp
from app.services import signing

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/inbound")
async def receive(
    request: Request,
    settings: SettingsDep,
    x_timestamp: Annotated[str, Header()] = "",
    x_signature: Annotated[str, Header()] = "",
) -> dict[str, bool]:
    body = await request.body()  # the bytes signed, before any parsing
    secret = settings.webhook_secret.get_secret_value()
    if not x_timestamp.isdigit() or not signing.matches(secret, x_timestamp, body, x_signature):
        raise InvalidSignature()
    age = time.time() - int(x_timestamp)
    if abs(age) > signing.MAX_AGE_SECONDS:
        raise StaleTimestamp(age)
    return {"received": True}
