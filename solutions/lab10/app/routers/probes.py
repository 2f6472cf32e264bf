"""What the platform asks: is the process alive (liveness), and may it have traffic (readiness)?"""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import database
from app.deps import DrainingDep, SettingsDep

router = APIRouter(tags=["probes"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Alive: answers as long as the process can serve. It checks no dependency, or a database
    outage would have every worker restarted, which cures nothing."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(settings: SettingsDep, draining: DrainingDep) -> JSONResponse:
    """Ready for traffic: not shutting down, and the database reachable."""
    if draining.started:
        return JSONResponse({"status": "draining"}, status_code=503)
    if not await database.reachable(settings):
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ready"})
