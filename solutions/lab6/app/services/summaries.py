"""Summaries: the primary provider, retried, then the fallback provider.

Summarising the same text twice does no harm, so this POST may be retried. When the primary
cannot answer (it keeps failing, refuses the connection or takes too long) the same request goes
to the fallback, and the answer says so: a client, or a dashboard of ours, sees when the service
runs on its second choice.
"""

import httpx

from app.config import Settings
from app.errors import UpstreamError
from app.models.summaries import Summary
from app.retries import RetriesExhausted, send_with_retries


async def summarise(client: httpx.AsyncClient, settings: Settings, text: str) -> Summary:
    body = {"text": text}
    try:
        response = await send_with_retries(
            lambda: client.post(f"{settings.primary_provider_url}/summaries", json=body), settings
        )
    except (RetriesExhausted, httpx.HTTPError):
        pass  # Task 6: the primary cannot answer; the fallback may
    else:
        if not response.is_success:
            raise UpstreamError(f"The primary provider answered {response.status_code}.")
        return Summary(summary=response.json()["summary"], provider="primary")
    try:
        response = await client.post(f"{settings.fallback_provider_url}/summaries", json=body)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise UpstreamError("Neither summaries provider could answer.") from error
    return Summary(summary=response.json()["summary"], provider="fallback")
