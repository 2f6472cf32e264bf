from typing import Any

from pydantic import BaseModel


class PartError(BaseModel):
    part: str
    error: str


class Dashboard(BaseModel):
    """What the upstream said of the user; a part it could not give is None, with its error."""

    user: dict[str, Any] | None
    orders: list[Any] | None
    recommendations: list[Any] | None
    errors: list[PartError]
