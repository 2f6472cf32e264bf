"""/summaries: a text's summary, from the primary provider or the fallback."""

from fastapi import APIRouter

from app.dependencies import ClientDep, SettingsDep
from app.models.summaries import Summary, SummaryRequest
from app.services import summaries as service

router = APIRouter(prefix="/summaries", tags=["summaries"])


@router.post("")
async def create_summary(
    request: SummaryRequest, client: ClientDep, settings: SettingsDep
) -> Summary:
    return await service.summarise(client, settings, request.text)
