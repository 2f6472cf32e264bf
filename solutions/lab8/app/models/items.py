from pydantic import BaseModel


class Item(BaseModel):
    item_id: int
    in_stock: int
    price: float
