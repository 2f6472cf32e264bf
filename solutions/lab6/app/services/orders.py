"""Validating an order: three checks at once; the first that fails decides, and stops the rest.

A TaskGroup cancels its other tasks as soon as one fails: their requests are abandoned (the
checks' service sees the connections close), and the answer leaves as soon as the failure is
known instead of after the slowest check.
"""

import asyncio

import httpx

from app.config import Settings
from app.errors import AppError, OrderInvalid, UpstreamError

CHECKS = ("stock", "credit", "fraud")


async def run_check(
    client: httpx.AsyncClient, settings: Settings, check: str, order_id: int
) -> None:
    """Passes, or raises why not: the order's fault (a 4xx), or the checks' service's."""
    url = f"{settings.upstream_url}/checks/{check}"
    try:
        response = await client.post(url, json={"order_id": order_id})
    except httpx.HTTPError as error:
        raise UpstreamError(f"The {check} check could not be run.") from error
    if response.is_client_error:
        raise OrderInvalid(check)
    if not response.is_success:
        raise UpstreamError(f"The {check} check failed with status {response.status_code}.")


async def validate(client: httpx.AsyncClient, settings: Settings, order_id: int) -> None:
    try:
        # Task 7: one failure cancels the other checks.
        async with asyncio.TaskGroup() as checks:
            for check in CHECKS:
                checks.create_task(run_check(client, settings, check, order_id))
    except* AppError as failed:
        raise failed.exceptions[0] from None
