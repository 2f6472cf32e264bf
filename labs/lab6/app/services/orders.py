"""Validating an order: three checks by the upstream.

The lab asks for the three checks at once, and for the first that fails to decide the answer
and stop the others.
"""

import httpx

from app.config import Settings
from app.errors import AppError, OrderInvalid, UpstreamError  # noqa: F401 (for TODO 7)

CHECKS = ("stock", "credit", "fraud")


async def run_check(
    client: httpx.AsyncClient, settings: Settings, check: str, order_id: int
) -> None:
    """Passes, or raises why not."""
    url = f"{settings.upstream_url}/checks/{check}"
    # TODO 7: a 4xx means the order fails the check: raise OrderInvalid(check). Anything else
    # that is not a success (a 5xx, no connection, a timeout) is the checks' service's failure:
    # raise UpstreamError.
    response = await client.post(url, json={"order_id": order_id})
    response.raise_for_status()


async def validate(client: httpx.AsyncClient, settings: Settings, order_id: int) -> None:
    # TODO 7: run the three checks at once; when one fails, cancel the others and raise its
    # error (asyncio.TaskGroup, and `except*`).
    for check in CHECKS:
        await run_check(client, settings, check, order_id)
