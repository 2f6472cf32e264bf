"""/items: an item's stock, from the inventory service, and its price."""

import asyncio

from fastapi import APIRouter

from app.dependencies import ClientDep, SettingsDep
from app.models.items import Item
from app.services import inventory, pricing

router = APIRouter(prefix="/items", tags=["items"])


@router.get("/{item_id}")
async def get_item(item_id: int, client: ClientDep, settings: SettingsDep) -> Item:
    in_stock = await inventory.stock_of(client, settings.inventory_url, item_id)
    # TODO 1: the price's log line should carry this request's ids: how is the thread started?
    loop = asyncio.get_running_loop()
    price = await loop.run_in_executor(None, pricing.compute_price, item_id, in_stock)
    return Item(item_id=item_id, in_stock=in_stock, price=price)
