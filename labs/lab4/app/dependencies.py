"""What endpoints ask for, as `Annotated` aliases: `store: StoreDep`."""

from typing import Annotated

import httpx
from fastapi import Depends, Request

from app.config import Settings, get_settings
from app.store import Store


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_avatar_client(request: Request) -> httpx.AsyncClient:
    return request.app.state.avatar_client


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
AvatarClientDep = Annotated[httpx.AsyncClient, Depends(get_avatar_client)]
