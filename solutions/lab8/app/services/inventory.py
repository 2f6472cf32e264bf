"""The inventory service, called in a span of its own, with the trace context in the request.

The `traceparent` header carries the trace id and the calling span's id to the inventory service,
whose spans then join the same trace: one request, followed across both services.
"""

import logging

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from app.errors import UpstreamError
from app.logs import FIELDS

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


async def get_traced(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET `url`, the current trace context in its headers."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    try:
        response = await client.get(url, headers=headers)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise UpstreamError("The inventory service failed.") from error
    return response


async def stock_of(client: httpx.AsyncClient, base_url: str, item_id: int) -> int:
    with tracer.start_as_current_span("inventory.lookup", kind=SpanKind.CLIENT) as span:
        span.set_attribute("item.id", item_id)
        response = await get_traced(client, f"{base_url}/inventory/{item_id}")
    in_stock = int(response.json()["in_stock"])
    logger.info("inventory_checked", extra={FIELDS: {"item_id": item_id, "in_stock": in_stock}})
    return in_stock
