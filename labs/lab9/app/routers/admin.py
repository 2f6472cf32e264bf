"""Liveness, readiness and the token totals."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ClientDep, KnowledgeDep, LedgerDep, SettingsDep
from app.models import Usage

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/health")
async def health(client: ClientDep, settings: SettingsDep) -> dict[str, str]:
    # TODO 4a: liveness says the process serves. Asking the model here makes the app "dead"
    # whenever the model API is, and an orchestrator would restart it for nothing: ask nothing.
    await client.messages.count_tokens(
        model=settings.model, messages=[{"role": "user", "content": "ping"}]
    )
    return {"status": "ok"}


@router.get("/ready")
async def ready(client: ClientDep, knowledge: KnowledgeDep, settings: SettingsDep) -> JSONResponse:
    # TODO 4b: probe the model API (client.messages.count_tokens, tried once, for
    # PROBE_TIMEOUT_SECONDS at most: client.with_options(max_retries=0, timeout=...)) and the
    # document store (knowledge.count()). Both answer: 200 {"status": "ready", "checks":
    # {"model": "ok", "vector_store": "ok"}}. Either fails: 503 {"status": "degraded", ...} with
    # what went wrong in its place of "ok".
    checks = {"model": "ok", "vector_store": "ok"}
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/usage")
async def usage(ledger: LedgerDep) -> Usage:
    """Tokens used by every answer so far, in this process."""
    return ledger.totals
