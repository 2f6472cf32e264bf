"""The avatar service's answer, as this app relies on it: validated before use, like any input."""

from pydantic import BaseModel, Field


class AvatarAnswer(BaseModel):
    """Only what we use; the service may add keys of its own, which are ignored."""

    avatar_url: str = Field(min_length=1, strict=True)
