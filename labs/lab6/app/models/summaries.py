from typing import Literal

from pydantic import BaseModel, Field


class SummaryRequest(BaseModel):
    text: str = Field(min_length=1)


class Summary(BaseModel):
    summary: str
    provider: Literal["primary", "fallback"]
    """Who answered: the client sees when the service runs on its fallback."""
