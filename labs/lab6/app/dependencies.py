"""What endpoints ask for, as `Annotated` aliases: `client: ClientDep`."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import Depends

from app.config import Settings, get_settings


async def get_client() -> AsyncIterator[httpx.AsyncClient]:
    # TODO 1: this builds a client, and its pool of connections, for every request, and closes
    # it after. Return the one client the lifespan keeps in `request.app.state` instead.
    async with httpx.AsyncClient(timeout=None) as client:
        yield client


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[httpx.AsyncClient, Depends(get_client)]
