"""The inventory itself: items, a slow stock report, and which worker answered."""

import asyncio
import os

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from app.deps import SettingsDep

router = APIRouter(tags=["inventory"])


class Item(BaseModel):
    sku: str = Field(description="Stock keeping unit, the item's id", examples=["BOLT-M6"])
    name: str = Field(description="What the item is", examples=["M6 hex bolt"])
    quantity: int = Field(ge=0, description="Units in the warehouse")
    location: str = Field(description="Aisle and shelf", examples=["A4-2"])


ITEMS = {
    "BOLT-M6": Item(sku="BOLT-M6", name="M6 hex bolt", quantity=1200, location="A4-2"),
    "NUT-M6": Item(sku="NUT-M6", name="M6 nut", quantity=950, location="A4-3"),
}


@router.get("/items")
async def list_items() -> list[Item]:
    return list(ITEMS.values())


@router.get("/items/{sku}")
async def get_item(sku: str) -> Item:
    if sku not in ITEMS:
        raise HTTPException(status_code=404, detail=f"No item {sku}")
    return ITEMS[sku]


@router.get("/whoami")
async def whoami() -> dict[str, int]:
    """The worker process that answered: with several workers, they take turns."""
    return {"pid": os.getpid()}


@router.get("/slow")
async def stock_report(settings: SettingsDep) -> dict[str, int]:
    """A report that takes SLOW_SECONDS: a request a shutdown must let finish."""
    await asyncio.sleep(settings.slow_seconds)
    return {"items": len(ITEMS), "units": sum(item.quantity for item in ITEMS.values())}
