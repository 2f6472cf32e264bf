"""What the platform asks: is the process alive (liveness), and may it have traffic (readiness)?"""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import database
from app.deps import DrainingDep, SettingsDep

router = APIRouter(tags=["probes"])


@router.get("/health")
async def health(settings: SettingsDep) -> JSONResponse:
    # TODO 3a: liveness. Should it depend on the database?
    if not await database.reachable(settings):
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(settings: SettingsDep, draining: DrainingDep) -> JSONResponse:
    # TODO 3a: readiness: 503 while the database is unreachable.
    # TODO 3b: 503 as well from the moment this worker is draining.
    return JSONResponse({"status": "ready"})
