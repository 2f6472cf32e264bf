"""Users as the API sees them: what a client may send, and what it gets back.

An input never carries what the server decides (`id`, `created_at`); an output never carries the
password or its hash. Untrusted input is validated strictly: `"30"` is not an age.
"""

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    display_name: DisplayName
    age: int = Field(ge=0, le=150, strict=True)
    password: str = Field(min_length=12)

    @field_validator("display_name")
    @classmethod
    def no_control_characters(cls, name: str) -> str:
        """A name is printed in logs, pages and emails: no terminal escapes, no line breaks."""
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise ValueError("must not contain control characters")
        return name


class UserPublic(BaseModel):
    id: int
    email: str
    display_name: str
    created_at: datetime


class UserProfile(UserPublic):
    avatar_url: str
