"""Quotes: a read the upstream may fail for a moment, so it is retried (app/retries.py)."""

import httpx

from app.config import Settings
from app.errors import QuoteNotFound, UpstreamError, UpstreamUnavailable  # noqa: F401 (TODO 5)
from app.retries import RetriesExhausted, send_with_retries


async def quote(client: httpx.AsyncClient, settings: Settings, symbol: str) -> object:
    url = f"{settings.upstream_url}/quotes/{symbol}"
    try:
        response = await send_with_retries(lambda: client.get(url), settings)
    except RetriesExhausted as exhausted:
        raise UpstreamUnavailable(
            "The quotes service is unavailable; try again later.", exhausted.retry_after
        ) from exhausted
    except httpx.HTTPError as error:
        raise UpstreamError("The quotes service did not answer.") from error
    # TODO 5: an upstream 404 means there is no such symbol: raise QuoteNotFound(symbol).
    if not response.is_success:
        raise UpstreamError(f"The quotes service answered {response.status_code}.")
    return response.json()
