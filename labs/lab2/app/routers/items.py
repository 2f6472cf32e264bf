"""Item endpoints, and one that fails the way real bugs do."""

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["items"])


class Item(BaseModel):
    id: int
    name: str
    stock: int


ITEMS = [
    Item(id=1, name="kettle", stock=4),
    Item(id=2, name="teapot", stock=0),
    Item(id=3, name="mug", stock=12),
]


@router.get("/items")
async def list_items() -> list[Item]:
    return ITEMS


@router.get("/boom")
async def boom() -> list[Item]:
    """A bug nobody caught: the exception escapes the endpoint. Its text is for the logs only."""
    raise ValueError("stock ledger out of sync: item 3 would go to -2 in warehouse eu-west-2b")
