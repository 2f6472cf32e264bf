"""/auth: register, and log in for an access token (OAuth2's password flow)."""

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from app.dependencies import DbDep, SettingsDep
from app.errors import NotAuthenticated
from app.models.users import Token, UserCreate, UserPublic
from app.services import tokens, users

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
def register(new: UserCreate, db: DbDep) -> UserPublic:
    return users.register(db, new)


@router.post("/token")
def log_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DbDep, settings: SettingsDep
) -> Token:
    user = users.authenticate(db, form.username, form.password)
    if user is None:
        raise NotAuthenticated("Wrong username or password.", "Bearer")
    return tokens.issue(user.username, settings)
