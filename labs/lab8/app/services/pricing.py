"""Pricing: CPU work, run in a worker thread."""

import logging

from app.logs import FIELDS

logger = logging.getLogger(__name__)


def compute_price(item_id: int, in_stock: int) -> float:
    price = round(9.99 + item_id * 0.5 + (5.0 if in_stock < 3 else 0.0), 2)
    logger.info("price_computed", extra={FIELDS: {"item_id": item_id, "price": price}})
    return price
