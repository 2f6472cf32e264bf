"""/users: register, read, and read with the avatar."""

from dataclasses import asdict

from fastapi import APIRouter, status

from app.dependencies import AvatarClientDep, StoreDep
from app.models.users import UserCreate, UserProfile, UserPublic
from app.services import avatars, users

router = APIRouter(prefix="/users", tags=["users"])


# `response_model` keeps only the fields of the public model: the stored user's password hash
# and age never leave the service.
@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
async def create_user(new: UserCreate, store: StoreDep):
    return await users.register(store, new)


@router.get("/{user_id}", response_model=UserPublic)
async def read_user(user_id: int, store: StoreDep):
    return users.find(store, user_id)


@router.get("/{user_id}/profile", response_model=UserProfile)
async def read_profile(user_id: int, store: StoreDep, client: AvatarClientDep):
    user = users.find(store, user_id)
    return {**asdict(user), "avatar_url": await avatars.avatar_url(client, user_id)}
