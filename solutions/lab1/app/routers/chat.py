"""Chat endpoints."""

from fastapi import APIRouter

from app.dependencies import LLMDep
from app.services.llm import client_identity

router = APIRouter(prefix="/chat", tags=["chat"])


@router.get("/client-id")
async def client_id(client: LLMDep) -> dict[str, int]:
    """Which LLM client this router was given: the same one as every other router's."""
    return client_identity(client)
