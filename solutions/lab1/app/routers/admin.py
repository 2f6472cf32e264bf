"""Operations endpoints."""

from fastapi import APIRouter

from app.dependencies import LLMDep
from app.services.llm import client_identity

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/client-id")
async def client_id(client: LLMDep) -> dict[str, int]:
    """Which LLM client this router was given: the same one as every other router's."""
    return client_identity(client)
