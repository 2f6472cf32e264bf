"""/me: the user a bearer token names."""

from fastapi import APIRouter

from app.dependencies import UserDep
from app.models.users import UserPublic

router = APIRouter(tags=["users"])


@router.get("/me")
def me(user: UserDep) -> UserPublic:
    return user
