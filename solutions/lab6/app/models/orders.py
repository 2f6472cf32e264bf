from pydantic import BaseModel


class ValidationRequest(BaseModel):
    order_id: int


class Validation(BaseModel):
    valid: bool
