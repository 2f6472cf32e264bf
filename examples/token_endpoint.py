"""Signing in: a username and a password in, a short-lived token out (OAuth2's password flow).

Staff post a form to `/token` and get a JWT, which they send back as `Authorization: Bearer ...`.
Passwords are checked by examples/password_hashing.py, tokens issued and checked by
examples/jwt_tokens.py. Module 5's lesson (section "JWT") includes parts of this file. FastAPI
reads forms with the python-multipart package: without it, declaring the endpoint fails, so the
tests skip, saying so. Run them with `pytest examples/token_endpoint.py`.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import pytest
from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.testclient import TestClient
from jwt_tokens import Revocations, Tokens
from jwt_tokens import router as staff_router
from password_hashing import StaffDirectory
from pydantic import BaseModel


# --8<-- [start:sign_in]
class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds: the client knows when to sign in again without decoding the token


router = APIRouter()


@router.post("/token")
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request
) -> AccessToken:
    state = request.app.state
    member = await to_thread.run_sync(
        state.staff.authenticate, form.username, form.password, limiter=state.hashing
    )
    if member is None:  # the same answer for an unknown name and a wrong password
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    version = state.revocations.version(member.username)
    return AccessToken(
        access_token=state.tokens.issue(member.username, version),
        expires_in=int(state.tokens.lifetime.total_seconds()),
    )


# --8<-- [end:sign_in]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.hashing = CapacityLimiter(2)  # two hashes at a time: see password_hashing.py
    yield


def create_app(secret: str, staff: StaffDirectory) -> FastAPI:
    app = FastAPI(title="Metrics, for staff", lifespan=lifespan)
    app.state.staff = staff
    app.state.tokens = Tokens(secret)
    app.state.revocations = Revocations()
    app.include_router(router)
    app.include_router(staff_router)  # /alerts, /sign-out, /sign-out-everywhere
    return app


PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    staff = StaffDirectory()
    staff.register("ada", PASSWORD)
    with TestClient(create_app("a test secret, at least 32 bytes long", staff)) as client:
        yield client


# --8<-- [start:tests]
def test_signing_in_returns_a_bearer_token_that_works(client: TestClient) -> None:
    response = client.post("/token", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 200
    answer = response.json()
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 900
    alerts = client.get("/alerts", headers={"Authorization": f"Bearer {answer['access_token']}"})
    assert alerts.json()["for"] == "ada"


@pytest.mark.parametrize("username,password", [("ada", "not her password"), ("nobody", PASSWORD)])
def test_a_wrong_password_and_an_unknown_name_get_one_answer(
    client: TestClient, username: str, password: str
) -> None:
    response = client.post("/token", data={"username": username, "password": password})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "Wrong username or password"}


def test_the_token_endpoint_takes_a_form_not_json(client: TestClient) -> None:
    response = client.post("/token", json={"username": "ada", "password": PASSWORD})
    assert response.status_code == 422


# --8<-- [end:tests]
