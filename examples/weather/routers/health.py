"""Operations endpoints."""

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Alive: answers without touching the upstream API."""
    return {"status": "ok"}
