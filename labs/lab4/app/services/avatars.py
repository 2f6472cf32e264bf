"""The avatar service: another service's answer, to be validated before use like any input."""

import httpx


async def avatar_url(client: httpx.AsyncClient, user_id: int) -> str:
    # TODO (task 4): whatever goes wrong here is the avatar service's failure, a 502.
    response = await client.get(f"/avatars/{user_id}")
    return response.json()["avatar_url"]
