"""Placing orders."""

from app.config import Settings
from app.models.orders import OrderCreate
from app.store import Store, StoredOrder


def place(store: Store, settings: Settings, new: OrderCreate) -> StoredOrder:
    # TODO (task 3): an order for an unknown user, or over MAX_ORDER_QUANTITY, is refused.
    order = StoredOrder(id=store.next_order_id(), user_id=new.user_id, quantity=new.quantity)
    store.orders[order.id] = order
    return order
