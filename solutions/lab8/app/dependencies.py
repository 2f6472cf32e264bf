"""What endpoints ask for, as `Annotated` aliases: `client: ClientDep`."""

from typing import Annotated

import httpx
from fastapi import Depends, Request

from app.config import Settings, get_settings


def get_client(request: Request) -> httpx.AsyncClient:
    return request.app.state.client


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[httpx.AsyncClient, Depends(get_client)]
