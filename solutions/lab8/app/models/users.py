from pydantic import BaseModel, EmailStr, Field


class SignUp(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8)


class SignedUp(BaseModel):
    user_id: str
