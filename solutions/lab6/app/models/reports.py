from typing import Any

from pydantic import BaseModel


class ItemError(BaseModel):
    id: int
    error: str


class Report(BaseModel):
    """The items the upstream gave, in the order asked; the others, each with its error."""

    items: list[dict[str, Any]]
    errors: list[ItemError]
