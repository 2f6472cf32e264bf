"""Placing orders."""

from app.config import Settings
from app.errors import MaxOrderQuantityExceeded
from app.models.orders import OrderCreate
from app.services import users
from app.store import Store, StoredOrder


def place(store: Store, settings: Settings, new: OrderCreate) -> StoredOrder:
    users.find(store, new.user_id)  # an order for nobody is a 404, like any unknown user
    if new.quantity > settings.max_order_quantity:
        raise MaxOrderQuantityExceeded(new.quantity, settings.max_order_quantity)
    order = StoredOrder(id=store.next_order_id(), user_id=new.user_id, quantity=new.quantity)
    store.orders[order.id] = order
    return order
