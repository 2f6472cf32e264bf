"""Orders as the API sees them."""

from pydantic import BaseModel


class OrderCreate(BaseModel):
    user_id: int
    quantity: int


class OrderPublic(BaseModel):
    id: int
    user_id: int
    quantity: int
