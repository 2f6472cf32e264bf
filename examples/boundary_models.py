"""Input and output models: what a client may send, what it may see, and what the server keeps.

Module 4's lesson (sections "Separate input and output models" and "Constraints") includes parts
of this file. It runs with FastAPI's default error handlers on purpose: one test shows what the
default 422 body gives away. Run it with `pytest examples/boundary_models.py`.
"""

import hashlib
import secrets
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError


# --8<-- [start:members]
class MemberIn(BaseModel):
    """What a client sends to join the library: nothing that the server decides."""

    model_config = ConfigDict(extra="forbid")  # an "id" or "joined_at" in the body is an error

    name: str
    card_number: str
    password: str = Field(min_length=12)


class MemberOut(BaseModel):
    """What any client may see of a member: the server's fields, never the password or its hash."""

    id: int
    name: str
    card_number: str
    joined_at: datetime


@dataclass
class Member:
    """What the server keeps. Not a schema: it never crosses the boundary as it is."""

    id: int
    name: str
    card_number: str
    joined_at: datetime
    password_hash: str


# --8<-- [end:members]


def hash_password(password: str) -> str:
    """A salted scrypt hash (Module 5 has more on storing secrets)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


app = FastAPI()
members: dict[int, Member] = {}


# --8<-- [start:join]
@app.post("/members", response_model=MemberOut, status_code=201)
def join(new: MemberIn) -> Member:
    member = Member(
        id=len(members) + 1,  # the server decides the id and the date, not the client
        name=new.name,
        card_number=new.card_number,
        joined_at=datetime.now(UTC),
        password_hash=hash_password(new.password),
    )
    members[member.id] = member
    return member  # validated against MemberOut on the way out: the hash is dropped


# --8<-- [end:join]


# --8<-- [start:leak]
@app.get("/members/{member_id}/leaky")  # the mistake, kept for contrast: no response model
def read_member_leaky(member_id: int) -> dict[str, Any]:
    return asdict(members[member_id])  # every field of the record, password_hash included


# --8<-- [end:leak]


# --8<-- [start:books]
def reject_control_characters(text: str) -> str:
    """Tabs, newlines, NUL, escape sequences: nothing a title or a name needs inside it."""
    if any(unicodedata.category(character) == "Cc" for character in text):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return text


Isbn = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^97[89][0-9]{10}$")]
AuthorName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(reject_control_characters),  # the same rule, as part of a reusable type
]


class BookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    isbn: Isbn
    title: str = Field(min_length=1, max_length=200)
    authors: list[AuthorName] = Field(min_length=1, max_length=10)
    year: int = Field(ge=1450, le=2100)

    @field_validator("title", mode="before")
    @classmethod
    def strip_title(cls, title: Any) -> Any:
        """Runs before the type and the length checks: "  " becomes "", which is too short."""
        return title.strip() if isinstance(title, str) else title

    @field_validator("title")
    @classmethod
    def printable_title(cls, title: str) -> str:
        """Runs after them, on a string of 1 to 200 characters."""
        return reject_control_characters(title)


# --8<-- [end:books]


class BookOut(BookIn):
    id: int


books: list[BookOut] = []


@app.post("/books", status_code=201)
def add_book(book: BookIn) -> BookOut:
    stored = BookOut(id=len(books) + 1, **book.model_dump())
    books.append(stored)
    return stored


client = TestClient(app)
ADA = {"name": "Ada Lovelace", "card_number": "L-0001", "password": "correct horse battery"}


# --8<-- [start:tests]
def test_the_response_carries_the_servers_fields_and_no_secret() -> None:
    response = client.post("/members", json=ADA)
    assert response.status_code == 201
    assert set(response.json()) == {"id", "name", "card_number", "joined_at"}
    assert ADA["password"] not in response.text and "scrypt$" not in response.text


def test_the_client_cannot_choose_its_id() -> None:
    response = client.post("/members", json={**ADA, "id": 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "extra_forbidden"


def test_without_a_response_model_the_hash_leaks() -> None:
    member_id = client.post("/members", json=ADA).json()["id"]
    assert client.get(f"/members/{member_id}/leaky").json()["password_hash"].startswith("scrypt$")


def test_fastapis_default_422_echoes_the_password() -> None:
    too_short = client.post("/members", json={**ADA, "password": "hunter2"})
    assert too_short.json()["detail"][0]["input"] == "hunter2"
    no_name = client.post("/members", json={"card_number": "L-0002", "password": "s3cret-s3cret"})
    assert no_name.json()["detail"][0]["input"]["password"] == "s3cret-s3cret"  # the whole body


# --8<-- [end:tests]

DUNE = {"isbn": "9780441013593", "title": "Dune", "authors": ["Frank Herbert"], "year": 1965}


def test_surrounding_spaces_are_stripped_before_storing() -> None:
    body = {**DUNE, "isbn": " 9780441013593 ", "title": "  Dune\n", "authors": [" Frank Herbert "]}
    response = client.post("/books", json=body)
    assert response.status_code == 201
    assert {key: response.json()[key] for key in DUNE} == DUNE


@pytest.mark.parametrize(
    ("change", "location", "error_type"),
    [
        ({"title": "   "}, ["title"], "string_too_short"),
        ({"title": "D" * 201}, ["title"], "string_too_long"),
        ({"title": "Dune\x1b[2J"}, ["title"], "control_characters"),
        ({"title": "Du\x00ne"}, ["title"], "control_characters"),
        ({"authors": []}, ["authors"], "too_short"),
        ({"authors": ["Frank\tHerbert"]}, ["authors", 0], "control_characters"),
        ({"isbn": "0441013597"}, ["isbn"], "string_pattern_mismatch"),
        ({"year": 1200}, ["year"], "greater_than_equal"),
        ({"subtitle": "Book one"}, ["subtitle"], "extra_forbidden"),
    ],
)
def test_each_constraint_rejects_its_field(
    change: dict[str, Any], location: list[str | int], error_type: str
) -> None:
    response = client.post("/books", json={**DUNE, **change})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", *location], error_type)
