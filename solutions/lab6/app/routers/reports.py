"""/reports: many items at once, under a cap."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from app.dependencies import ClientDep, SettingsDep
from app.models.reports import Report
from app.services import reports as service


def item_ids(value: str) -> list[int]:
    """`1,2,3` → [1, 2, 3]."""
    return [int(part) for part in value.split(",")]


Ids = Annotated[str, Query(pattern=r"^\d+(,\d+)*$"), AfterValidator(item_ids)]

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("")
async def get_report(ids: Ids, client: ClientDep, settings: SettingsDep) -> Report:
    return await service.report(client, settings, ids)
