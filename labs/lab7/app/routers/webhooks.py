"""Webhooks other services send us: accepted only if signed with our shared secret, recently."""

from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.deps import SettingsDep

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/inbound")
async def receive(
    request: Request,
    settings: SettingsDep,
    x_timestamp: Annotated[str, Header()] = "",
    x_signature: Annotated[str, Header()] = "",
) -> dict[str, bool]:
    # TODO 5c: verify X-Signature over X-Timestamp and the body's bytes as received (`await
    # request.body()`, signing.matches), else 401 INVALID_SIGNATURE; then refuse a timestamp
    # more than signing.MAX_AGE_SECONDS old, 401 STALE_TIMESTAMP (errors.InvalidSignature,
    # errors.StaleTimestamp).
    return {"received": True}
