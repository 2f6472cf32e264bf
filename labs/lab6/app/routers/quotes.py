"""/quotes: a symbol's quote, retried while the upstream recovers."""

from typing import Any

from fastapi import APIRouter

from app.dependencies import ClientDep, SettingsDep
from app.services import quotes as service

router = APIRouter(prefix="/quotes", tags=["quotes"])


@router.get("/{symbol}")
async def get_quote(symbol: str, client: ClientDep, settings: SettingsDep) -> dict[str, Any]:
    return await service.quote(client, settings, symbol)
