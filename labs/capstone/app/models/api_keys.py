"""API keys as the admin API sees them. The raw key appears in one answer only: the one that
creates it."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Scope = Literal["ask", "documents:write"]
"""`ask`: the chat, questions and the agent. `documents:write`: adding the help desk's documents."""


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: list[Scope] = Field(min_length=1)


class ApiKeyCreated(BaseModel):
    key_id: str
    api_key: str
    """Shown this once: only its hash is kept."""
    owner: str
    scopes: list[Scope]


class ApiKeyPublic(BaseModel):
    key_id: str
    prefix: str
    """The key's first characters: enough to tell keys apart, never enough to use one."""
    owner: str
    scopes: list[Scope]
    created_at: datetime
    revoked: bool
