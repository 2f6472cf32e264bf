"""/orders: place an order."""

from fastapi import APIRouter, status

from app.dependencies import SettingsDep, StoreDep
from app.models.orders import OrderCreate, OrderPublic
from app.services import orders

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrderPublic)
async def create_order(new: OrderCreate, store: StoreDep, settings: SettingsDep):
    return orders.place(store, settings, new)
