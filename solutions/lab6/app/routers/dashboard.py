"""/dashboard: a user's page, from three upstream calls."""

from fastapi import APIRouter

from app.dependencies import ClientDep, SettingsDep
from app.models.dashboard import Dashboard
from app.services import dashboard as service

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("/{user_id}")
async def get_dashboard(user_id: int, client: ClientDep, settings: SettingsDep) -> Dashboard:
    return await service.dashboard(client, settings, user_id)
