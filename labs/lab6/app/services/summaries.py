"""Summaries: from the primary provider, retried (summarising the same text twice does no harm).

The lab asks for a fallback: when the primary cannot answer, the same request goes to the
fallback provider, and the answer says who answered.
"""

import httpx

from app.config import Settings
from app.errors import UpstreamError
from app.models.summaries import Summary
from app.retries import RetriesExhausted, send_with_retries


async def summarise(client: httpx.AsyncClient, settings: Settings, text: str) -> Summary:
    body = {"text": text}
    # TODO 6: when the primary cannot answer (retries run out, it refuses the connection or
    # times out), post the same body to settings.fallback_provider_url, and answer with
    # provider="fallback".
    try:
        response = await send_with_retries(
            lambda: client.post(f"{settings.primary_provider_url}/summaries", json=body), settings
        )
    except (RetriesExhausted, httpx.HTTPError) as error:
        raise UpstreamError("The summaries provider could not answer.") from error
    if not response.is_success:
        raise UpstreamError(f"The primary provider answered {response.status_code}.")
    return Summary(summary=response.json()["summary"], provider="primary")
