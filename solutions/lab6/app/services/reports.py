"""Reports: one call per item, as many at once as MAX_IN_FLIGHT allows and never more.

Without a cap, a report of a thousand items opens a thousand requests at once: the upstream
answers 429s or falls over, and every other request of ours waits behind them in the pool.
"""

import asyncio

import httpx

from app.config import Settings
from app.models.reports import ItemError, Report
from app.services.calls import describe


async def report(client: httpx.AsyncClient, settings: Settings, ids: list[int]) -> Report:
    # Task 4: a semaphore lets MAX_IN_FLIGHT calls through at a time; the others wait their turn.
    in_flight = asyncio.Semaphore(settings.max_in_flight)

    async def fetch_item(item_id: int) -> object:
        async with in_flight:
            response = await client.get(f"{settings.upstream_url}/items/{item_id}")
        response.raise_for_status()
        return response.json()

    results = await asyncio.gather(*(fetch_item(i) for i in ids), return_exceptions=True)
    items, errors = [], []
    for item_id, result in zip(ids, results, strict=True):
        if isinstance(result, httpx.HTTPError):
            errors.append(ItemError(id=item_id, error=describe(result)))
        elif isinstance(result, BaseException):
            raise result  # not the upstream's failure: our own bug
        else:
            items.append(result)
    return Report(items=items, errors=errors)
