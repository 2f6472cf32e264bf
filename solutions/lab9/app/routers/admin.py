"""Liveness, readiness and the token totals."""

import anthropic
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ClientDep, KnowledgeDep, LedgerDep, SettingsDep
from app.models import Usage

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process serves. It asks nothing of the model API: were that down, restarting
    this process would not bring it back."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(client: ClientDep, knowledge: KnowledgeDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: the model API and the document store both answer. The probe is the cheapest call
    there is (counting tokens), tried once, for PROBE_TIMEOUT_SECONDS at most."""
    checks = {"model": "ok", "vector_store": "ok"}
    probe = client.with_options(max_retries=0, timeout=settings.probe_timeout_seconds)
    try:
        await probe.messages.count_tokens(
            model=settings.model, messages=[{"role": "user", "content": "ping"}]
        )
    except anthropic.APIError as error:
        checks["model"] = f"{type(error).__name__}: {error}"
    try:
        await knowledge.count()
    except Exception as error:  # whatever the store raises, it is not ready
        checks["vector_store"] = f"{type(error).__name__}: {error}"
    is_ready = all(result == "ok" for result in checks.values())
    body = {"status": "ready" if is_ready else "degraded", "checks": checks}
    return JSONResponse(body, status_code=200 if is_ready else 503)


@router.get("/usage")
async def usage(ledger: LedgerDep) -> Usage:
    """Tokens used by every answer so far, in this process."""
    return ledger.totals
