"""/admin: liveness and readiness for the orchestrator (no key: it probes them), and, with the
admin key only, the token totals and the API keys."""

import anthropic
from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from app.dependencies import AdminDep, ClientDep, DbDep, KnowledgeDep, LedgerDep, SettingsDep
from app.models.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.models.assistant import Usage
from app.services import api_keys

router = APIRouter(prefix="/admin", tags=["admin"])
operator = APIRouter(dependencies=[AdminDep])
"""The routes for the admin key only."""


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


@operator.get("/usage")
async def usage(ledger: LedgerDep) -> Usage:
    """Tokens used by every answer so far, in this process."""
    return ledger.totals


@operator.post("/api-keys", status_code=status.HTTP_201_CREATED)
def create_key(new: ApiKeyCreate, db: DbDep) -> ApiKeyCreated:
    return api_keys.create(db, new.owner, new.scopes)


@operator.get("/api-keys")
def list_keys(db: DbDep) -> list[ApiKeyPublic]:
    return api_keys.listing(db)


@operator.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, db: DbDep) -> Response:
    api_keys.revoke(db, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.include_router(operator)  # after its routes: including copies the routes it has by then
