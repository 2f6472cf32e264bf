"""/users: register, read, and read with the avatar."""

from dataclasses import asdict

from fastapi import APIRouter, status

from app.dependencies import AvatarClientDep, StoreDep
from app.models.users import UserCreate, UserProfile
from app.services import avatars, users
from app.store import StoredUser

router = APIRouter(prefix="/users", tags=["users"])


# TODO (task 2): answer with the public model, never the stored user.
@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(new: UserCreate, store: StoreDep) -> StoredUser:
    return await users.register(store, new)


@router.get("/{user_id}")
async def read_user(user_id: int, store: StoreDep) -> StoredUser:
    return users.find(store, user_id)


@router.get("/{user_id}/profile", response_model=UserProfile)
async def read_profile(user_id: int, store: StoreDep, client: AvatarClientDep):
    user = users.find(store, user_id)
    return {**asdict(user), "avatar_url": await avatars.avatar_url(client, user_id)}
