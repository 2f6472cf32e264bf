"""Quotes: a read the upstream may fail for a moment, so it is retried (app/retries.py)."""

import httpx

from app.config import Settings
from app.errors import QuoteNotFound, UpstreamError, UpstreamUnavailable
from app.retries import RetriesExhausted, send_with_retries


async def quote(client: httpx.AsyncClient, settings: Settings, symbol: str) -> object:
    url = f"{settings.upstream_url}/quotes/{symbol}"
    try:
        # Task 5: retried when it may succeed later, with a pause that doubles each time.
        response = await send_with_retries(lambda: client.get(url), settings)
    except RetriesExhausted as exhausted:
        raise UpstreamUnavailable(
            "The quotes service is unavailable; try again later.", exhausted.retry_after
        ) from exhausted
    except httpx.HTTPError as error:
        raise UpstreamError("The quotes service did not answer.") from error
    if response.status_code == 404:
        raise QuoteNotFound(symbol)
    if not response.is_success:
        raise UpstreamError(f"The quotes service answered {response.status_code}.")
    return response.json()
