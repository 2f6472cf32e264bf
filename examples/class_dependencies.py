"""A class-based dependency: one reusable check, configured differently on each route.

Module 1's lesson (section "Dependencies") includes this file. Run it with
`pytest examples/class_dependencies.py`.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.testclient import TestClient


# --8<-- [start:pagination]
@dataclass
class Page:
    offset: int
    limit: int


class Pagination:
    """`Depends(Pagination(max_limit=...))`: FastAPI calls the instance, with the query
    parameters `__call__` declares, once per request."""

    def __init__(self, max_limit: int) -> None:
        self.max_limit = max_limit

    async def __call__(
        self, offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1)] = 10
    ) -> Page:
        if limit > self.max_limit:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"limit must be {self.max_limit} at most"
            )
        return Page(offset, limit)


app = FastAPI()
BOOKS = [f"book {n}" for n in range(500)]


@app.get("/books")
async def books(page: Annotated[Page, Depends(Pagination(max_limit=50))]) -> list[str]:
    return BOOKS[page.offset : page.offset + page.limit]


@app.get("/export/books")
async def export(page: Annotated[Page, Depends(Pagination(max_limit=500))]) -> list[str]:
    return BOOKS[page.offset : page.offset + page.limit]


# --8<-- [end:pagination]


# --8<-- [start:tests]
client = TestClient(app)


def test_each_route_has_its_own_maximum() -> None:
    assert client.get("/books", params={"limit": 200}).status_code == 422
    assert len(client.get("/export/books", params={"limit": 200}).json()) == 200


def test_the_parameters_are_the_instances() -> None:
    assert client.get("/books", params={"offset": 10, "limit": 2}).json() == ["book 10", "book 11"]
    assert client.get("/books", params={"offset": -1}).status_code == 422


# --8<-- [end:tests]
