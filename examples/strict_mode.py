"""Lax and strict validation: what Pydantic converts by default, and how to stop it.

Module 4's lesson (section "Strict mode") includes parts of this file. Run it with
`pytest examples/strict_mode.py`.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt, ValidationError


# --8<-- [start:lax]
class LaxRenewal(BaseModel):
    """Pydantic's default, lax mode: it converts what it safely can."""

    loan_id: int
    extra_days: int
    notify: bool


# --8<-- [end:lax]


# --8<-- [start:lax_tests]
@pytest.mark.parametrize(
    ("field", "sent", "became"),
    [
        ("extra_days", "30", 30),  # a numeric string
        ("extra_days", 7.0, 7),  # a float without a fraction
        ("extra_days", True, 1),  # a bool is an int in Python
        ("notify", "true", True),
        ("notify", "off", False),
        ("notify", 1, True),
    ],
)
def test_lax_mode_converts(field: str, sent: Any, became: Any) -> None:
    renewal = LaxRenewal.model_validate(
        {"loan_id": 1, "extra_days": 7, "notify": True, field: sent}
    )
    assert getattr(renewal, field) == became


def test_lax_mode_still_refuses_what_would_lose_information() -> None:
    with pytest.raises(ValidationError, match="int_from_float"):
        LaxRenewal.model_validate({"loan_id": 1, "extra_days": 7.5, "notify": True})


# --8<-- [end:lax_tests]


# --8<-- [start:strict]
class StrictRenewal(BaseModel):
    """Strict mode for the whole model: a JSON number for an int, true or false for a bool."""

    model_config = ConfigDict(strict=True)

    loan_id: int
    extra_days: int
    notify: bool


class RenewalStrictFields(BaseModel):
    """Or strict field by field: the same rule where you want it, lax elsewhere."""

    loan_id: StrictInt
    extra_days: Annotated[int, Strict(), Field(ge=1, le=28)]
    notify: bool = Field(strict=True)


# --8<-- [end:strict]


@pytest.mark.parametrize("model", [StrictRenewal, RenewalStrictFields])
@pytest.mark.parametrize(
    ("field", "sent", "error_type"),
    [
        ("extra_days", "30", "int_type"),
        ("extra_days", 7.0, "int_type"),
        ("extra_days", True, "int_type"),
        ("notify", "true", "bool_type"),
        ("notify", 1, "bool_type"),
    ],
)
def test_strict_mode_refuses_to_convert(
    model: type[BaseModel], field: str, sent: Any, error_type: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"loan_id": 1, "extra_days": 7, "notify": True, field: sent})
    assert [(error["loc"], error["type"]) for error in caught.value.errors()] == [
        ((field,), error_type)
    ]


# --8<-- [start:date_trap]
class Genre(StrEnum):
    FICTION = "fiction"
    POETRY = "poetry"


class StrictEverywhere(BaseModel):
    model_config = ConfigDict(strict=True)

    book_id: int
    genre: Genre
    due: date


class StrictWhereItMatters(BaseModel):
    """Strict numbers; the fields that JSON can only carry as strings are relaxed by name."""

    model_config = ConfigDict(strict=True)

    book_id: int
    genre: Genre = Field(strict=False)
    due: date = Field(strict=False)


app = FastAPI()


@app.post("/holds/strict-everywhere")
def hold_strict_everywhere(hold: StrictEverywhere) -> dict[str, str]:
    return {"due": hold.due.isoformat()}


@app.post("/holds")
def hold(hold: StrictWhereItMatters) -> dict[str, str]:
    return {"due": hold.due.isoformat()}


# --8<-- [end:date_trap]

client = TestClient(app)
HOLD = {"book_id": 7, "genre": "poetry", "due": "2026-03-01"}


# --8<-- [start:date_tests]
def test_a_strict_model_refuses_dates_and_enums_in_a_fastapi_body() -> None:
    response = client.post("/holds/strict-everywhere", json=HOLD)
    assert response.status_code == 422
    assert {error["type"] for error in response.json()["detail"]} == {"date_type", "is_instance_of"}


def test_the_same_model_accepts_them_from_raw_json() -> None:
    raw = '{"book_id": 7, "genre": "poetry", "due": "2026-03-01"}'
    assert StrictEverywhere.model_validate_json(raw).due == date(2026, 3, 1)


def test_relaxed_by_name_the_date_and_the_enum_pass_and_the_number_stays_strict() -> None:
    assert client.post("/holds", json=HOLD).json() == {"due": "2026-03-01"}
    assert client.post("/holds", json={**HOLD, "book_id": "7"}).status_code == 422


# --8<-- [end:date_tests]


# --8<-- [start:nested]
class Copy(BaseModel):
    shelf: int


class Delivery(BaseModel):
    model_config = ConfigDict(strict=True)

    branch: int
    copies: list[Copy]  # Copy has a config of its own: lax


class StrictModel(BaseModel):
    """One base class for every input model: strict, and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class StrictCopy(StrictModel):
    shelf: int


class StrictDelivery(StrictModel):
    branch: int
    copies: list[StrictCopy]


def test_strict_config_does_not_reach_nested_models() -> None:
    body = {"branch": 1, "copies": [{"shelf": "12"}]}
    assert Delivery.model_validate(body).copies[0].shelf == 12  # converted
    with pytest.raises(ValidationError, match="int_type"):
        StrictDelivery.model_validate(body)


# --8<-- [end:nested]


@app.get("/branches/{branch_id}")
def read_branch(branch_id: StrictInt) -> dict[str, int]:
    return {"branch_id": branch_id}


def test_a_strict_path_parameter_refuses_every_request() -> None:
    """A path is text: "/branches/3" carries the string "3", which strict mode never takes."""
    response = client.get("/branches/3")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "int_type"
