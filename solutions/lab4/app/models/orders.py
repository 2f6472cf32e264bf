"""Orders as the API sees them."""

from pydantic import BaseModel, ConfigDict, Field


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(strict=True)
    quantity: int = Field(ge=1, strict=True)


class OrderPublic(BaseModel):
    id: int
    user_id: int
    quantity: int
