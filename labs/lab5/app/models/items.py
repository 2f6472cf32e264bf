"""Items: what the API keys guard."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Item(BaseModel):
    id: int
    name: str
    created_by: str
    """The owner of the key that created it."""
