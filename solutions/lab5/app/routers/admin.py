"""/admin/api-keys: issue, list and revoke API keys, with the admin key only."""

from fastapi import APIRouter, Response, status

from app.dependencies import AdminDep, DbDep
from app.models.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.services import api_keys

router = APIRouter(prefix="/admin/api-keys", tags=["admin"], dependencies=[AdminDep])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_key(new: ApiKeyCreate, db: DbDep) -> ApiKeyCreated:
    return api_keys.create(db, new.owner, new.scopes)


@router.get("")
def list_keys(db: DbDep) -> list[ApiKeyPublic]:
    return api_keys.listing(db)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, db: DbDep) -> Response:
    api_keys.revoke(db, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
