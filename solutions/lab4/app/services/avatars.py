"""The avatar service: another service's answer, validated before use like any input.

Calls go through the app's one client, created in the lifespan with UPSTREAM_TIMEOUT_SECONDS as
its timeout. Whatever goes wrong there (no answer in time, an error status, JSON of another
shape, no JSON at all) is the avatar service's failure: an UpstreamError, a 502, never our 500.
"""

import logging

import httpx
from pydantic import ValidationError

from app.errors import UpstreamError
from app.models.avatars import AvatarAnswer

logger = logging.getLogger(__name__)


async def avatar_url(client: httpx.AsyncClient, user_id: int) -> str:
    try:
        response = await client.get(f"/avatars/{user_id}")
        response.raise_for_status()
        return AvatarAnswer.model_validate_json(response.content).avatar_url
    except (httpx.HTTPError, ValidationError) as error:
        logger.warning("avatar service failed for user %s: %r", user_id, error)
        raise UpstreamError("The avatar service failed; try again later.") from error
