"""The dashboard: three parts from the upstream, fetched at once, each allowed to fail alone.

The three calls run concurrently, so the answer takes as long as the slowest of them, not their
sum. A part that fails, or takes longer than the client's timeout (PART_TIMEOUT_SECONDS), becomes
None with an entry in `errors`: one slow service costs the page one panel, not the whole page.
"""

import asyncio

import httpx

from app.config import Settings
from app.models.dashboard import Dashboard, PartError
from app.services.calls import describe

PARTS = {
    "user": "/users/{id}",
    "orders": "/orders?user_id={id}",
    "recommendations": "/recommendations/{id}",
}


async def fetch_part(client: httpx.AsyncClient, url: str) -> tuple[object, str | None]:
    """The part's JSON, or None and what went wrong."""
    try:
        response = await client.get(url)
        response.raise_for_status()
    except httpx.HTTPError as error:  # an error status, no connection, or no answer in time
        return None, describe(error)
    return response.json(), None


async def dashboard(client: httpx.AsyncClient, settings: Settings, user_id: int) -> Dashboard:
    urls = [settings.upstream_url + path.format(id=user_id) for path in PARTS.values()]
    # Task 2: all three at once.
    results = await asyncio.gather(*(fetch_part(client, url) for url in urls))
    parts = dict(zip(PARTS, (value for value, _ in results), strict=True))
    errors = [
        PartError(part=part, error=error)
        for part, (_, error) in zip(PARTS, results, strict=True)
        if error is not None
    ]
    return Dashboard(**parts, errors=errors)
