"""What routes receive through dependency injection, as `Annotated` aliases."""

from typing import Annotated

import redis.asyncio
from fastapi import Depends, Request

from app.config import Settings, get_settings


def get_redis(request: Request) -> redis.asyncio.Redis:
    return request.state.redis


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[redis.asyncio.Redis, Depends(get_redis)]
