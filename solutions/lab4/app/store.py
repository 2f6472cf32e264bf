"""The data, in memory: enough for this lab, lost on restart.

Emails are indexed case-insensitively, as mail systems treat them in practice: one person, one
account, however they capitalise their address.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class StoredUser:
    id: int
    email: str
    display_name: str
    age: int
    password_hash: str
    created_at: datetime


@dataclass
class StoredOrder:
    id: int
    user_id: int
    quantity: int


@dataclass
class Store:
    users: dict[int, StoredUser] = field(default_factory=dict)
    user_ids_by_email: dict[str, int] = field(default_factory=dict)
    """Keyed by the email case-folded."""
    orders: dict[int, StoredOrder] = field(default_factory=dict)

    def next_user_id(self) -> int:
        return len(self.users) + 1

    def next_order_id(self) -> int:
        return len(self.orders) + 1
