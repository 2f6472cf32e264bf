"""/items: read with the items:read scope, write with items:write."""

from fastapi import APIRouter, status

from app.dependencies import DbDep, ItemsReaderDep, ItemsWriterDep
from app.models.items import Item, ItemCreate
from app.services import items

router = APIRouter(prefix="/items", tags=["items"])


@router.get("")
def list_items(db: DbDep, key: ItemsReaderDep) -> list[Item]:
    return items.listing(db)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_item(new: ItemCreate, db: DbDep, key: ItemsWriterDep) -> Item:
    return items.create(db, new, created_by=key.owner)
