"""Users as the API sees them: what a client may send, and what it gets back."""

from datetime import datetime

from pydantic import BaseModel


# TODO (task 2): validate what clients send, strictly: the rules are on the lab page.
class UserCreate(BaseModel):
    email: str
    display_name: str
    age: int
    password: str


# TODO (task 2): what the API returns about a user, and nothing more.


class UserProfile(BaseModel):
    id: int
    email: str
    display_name: str
    created_at: datetime
    avatar_url: str
