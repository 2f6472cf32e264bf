"""/orders/validate: an order, through three checks at once."""

from fastapi import APIRouter

from app.dependencies import ClientDep, SettingsDep
from app.models.orders import Validation, ValidationRequest
from app.services import orders as service

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("/validate")
async def validate_order(
    request: ValidationRequest, client: ClientDep, settings: SettingsDep
) -> Validation:
    await service.validate(client, settings, request.order_id)
    return Validation(valid=True)
