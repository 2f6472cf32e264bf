"""Users, and the access tokens they log in for."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{3,32}$")]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: str = Field(min_length=12, max_length=1024)


class UserPublic(BaseModel):
    username: str


class Token(BaseModel):
    """OAuth2's token response (RFC 6749, section 5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
