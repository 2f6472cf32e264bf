"""The dashboard: three parts from the upstream.

The lab asks for the three calls at once, so that the answer takes as long as the slowest of
them, and for a part that fails to become None with an entry in `errors`, instead of failing the
whole page.
"""

import httpx

from app.config import Settings
from app.models.dashboard import Dashboard, PartError
from app.services.calls import describe  # noqa: F401 (for TODO 2)

PARTS = {
    "user": "/users/{id}",
    "orders": "/orders?user_id={id}",
    "recommendations": "/recommendations/{id}",
}


async def fetch_part(client: httpx.AsyncClient, url: str) -> tuple[object, str | None]:
    """The part's JSON, or None and what went wrong."""
    # TODO 2: a failed part (an error status, no connection, a timeout: all httpx.HTTPError)
    # returns (None, describe(error)) instead of raising.
    response = await client.get(url)
    response.raise_for_status()
    return response.json(), None


async def dashboard(client: httpx.AsyncClient, settings: Settings, user_id: int) -> Dashboard:
    urls = [settings.upstream_url + path.format(id=user_id) for path in PARTS.values()]
    # TODO 2: these calls run one after another; make all three at once.
    results = [await fetch_part(client, url) for url in urls]
    parts = dict(zip(PARTS, (value for value, _ in results), strict=True))
    errors = [
        PartError(part=part, error=error)
        for part, (_, error) in zip(PARTS, results, strict=True)
        if error is not None
    ]
    return Dashboard(**parts, errors=errors)
