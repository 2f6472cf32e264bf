"""/admin: liveness and readiness for the orchestrator (no key: it probes them), and, with the
admin key only, the token totals and the API keys."""

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
async def health(client: ClientDep, settings: SettingsDep) -> dict[str, str]:
    # TODO 5a: liveness says the process serves. Asking the model here makes the app "dead"
    # whenever the model API is, and an orchestrator would restart it for nothing: ask nothing.
    await client.messages.count_tokens(
        model=settings.model, messages=[{"role": "user", "content": "ping"}]
    )
    return {"status": "ok"}


@router.get("/ready")
async def ready(client: ClientDep, knowledge: KnowledgeDep, settings: SettingsDep) -> JSONResponse:
    # TODO 5b: probe the model API (client.messages.count_tokens, tried once, for
    # PROBE_TIMEOUT_SECONDS at most: client.with_options(max_retries=0, timeout=...)) and the
    # document store (knowledge.count()). Both answer: 200 {"status": "ready", "checks":
    # {"model": "ok", "vector_store": "ok"}}. Either fails: 503 {"status": "degraded", ...} with
    # what went wrong in place of its "ok".
    checks = {"model": "ok", "vector_store": "ok"}
    return JSONResponse({"status": "ready", "checks": checks})


# TODO 5c: the token totals are the business's, not everyone's: move this route to `operator`
# (the admin key only). The totals stay at zero until the ledger's task runs (main.py).
@router.get("/usage")
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
