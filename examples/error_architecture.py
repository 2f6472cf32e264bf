"""An error architecture: services raise domain errors, one module turns every error into HTTP.

A small lending desk: members borrow books, within rules. Every error, whatever raised it, leaves
with one body: `{"error_code": ..., "message": ..., "details": ...}`. Module 4's lesson (sections
"An exception hierarchy", "One error body" and "Server errors") includes parts of this file.

Two tests start the app on a real uvicorn server, as production does, to read what the server
logs when the app fails. Run them all with `pytest examples/error_architecture.py`.
"""

import logging
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)


# --8<-- [start:hierarchy]
class AppError(Exception):
    """Every failure the service expects. Each kind sets a status, each case an error code."""

    status_code: ClassVar[int] = 500
    error_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message  # written for the client: it goes out as it is
        self.details = details


class NotFoundError(AppError):
    status_code = 404


class ConflictError(AppError):
    status_code = 409


class BusinessRuleError(AppError):
    status_code = 422


class UpstreamError(AppError):
    status_code = 502
    error_code = "UPSTREAM_ERROR"


# --8<-- [end:hierarchy]


# --8<-- [start:cases]
class MemberNotFound(NotFoundError):
    error_code = "MEMBER_NOT_FOUND"

    def __init__(self, member_id: int) -> None:
        super().__init__(f"There is no member {member_id}.", {"member_id": member_id})


class BookOnLoan(ConflictError):
    error_code = "BOOK_ON_LOAN"

    def __init__(self, book_id: int, due_back: date) -> None:
        details = {"book_id": book_id, "due_back": due_back.isoformat()}
        super().__init__(f"Book {book_id} is on loan until {due_back}.", details)


class LoanLimitReached(BusinessRuleError):
    error_code = "LOAN_LIMIT_REACHED"

    def __init__(self, limit: int, holding: int) -> None:
        details = {"limit": limit, "holding": holding}
        super().__init__(f"A member may hold {limit} books at a time.", details)


# --8<-- [end:cases]


class BookNotFound(NotFoundError):
    error_code = "BOOK_NOT_FOUND"

    def __init__(self, book_id: int) -> None:
        super().__init__(f"There is no book {book_id}.", {"book_id": book_id})


class ReportsUnavailable(UpstreamError):
    def __init__(self) -> None:
        super().__init__("The reports service is not answering. Try again later.")


@dataclass
class Member:
    name: str
    category: str


@dataclass
class Loan:
    id: int
    member_id: int
    book_id: int
    due_back: date


class ReportsClient:
    """Stands in for a client of another service, which is down for this whole example."""

    def overdue_loans(self) -> list[dict[str, Any]]:
        raise ConnectionRefusedError(111, "Connect call failed ('10.0.3.7', 8443)")


FINE_PER_DAY = {"adult": 0.25, "child": 0.05}  # the bug that the tests find: no "staff"


# --8<-- [start:service]
@dataclass
class Library:
    """The lending rules, in plain Python: raises domain errors, and knows nothing of HTTP."""

    members: dict[int, Member]
    books: dict[int, str]
    loans: dict[int, Loan] = field(default_factory=dict)
    max_loans: int = 3
    loan_days: int = 21

    def lend(self, member_id: int, book_ids: list[int], today: date) -> list[Loan]:
        if member_id not in self.members:
            raise MemberNotFound(member_id)  # not a KeyError: that would be a 500
        for book_id in book_ids:
            if book_id not in self.books:
                raise BookNotFound(book_id)
            if current := self._loan_of(book_id):
                raise BookOnLoan(book_id, current.due_back)
        holding = sum(loan.member_id == member_id for loan in self.loans.values())
        if holding + len(book_ids) > self.max_loans:
            raise LoanLimitReached(self.max_loans, holding)
        due_back = today + timedelta(days=self.loan_days)
        first_id = len(self.loans) + 1
        new = [Loan(first_id + n, member_id, book, due_back) for n, book in enumerate(book_ids)]
        self.loans.update({loan.id: loan for loan in new})
        return new

    # --8<-- [end:service]

    def _loan_of(self, book_id: int) -> Loan | None:
        return next((loan for loan in self.loans.values() if loan.book_id == book_id), None)

    def fines(self, member_id: int, today: date) -> float:
        member = self.members.get(member_id)
        if member is None:
            raise MemberNotFound(member_id)
        late_days = sum(
            max(0, (today - loan.due_back).days)
            for loan in self.loans.values()
            if loan.member_id == member_id
        )
        return late_days * FINE_PER_DAY[member.category]

    def overdue_report(self, reports: ReportsClient) -> list[dict[str, Any]]:
        try:
            return reports.overdue_loans()
        except ConnectionError as error:
            raise ReportsUnavailable() from error


def seeded_library() -> Library:
    members = {1: Member("Ada", "adult"), 2: Member("Grace", "adult"), 3: Member("Alan", "staff")}
    books = {1: "Dune", 2: "Emma", 3: "Ulysses", 4: "Beloved", 5: "Middlemarch"}
    return Library(members, books)


library = seeded_library()


def get_library() -> Library:
    return library


LibraryDep = Annotated[Library, Depends(get_library)]


class LoanRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    member_id: int
    book_ids: list[int] = Field(min_length=1, max_length=5)

    @field_validator("book_ids")
    @classmethod
    def each_book_once(cls, book_ids: list[int]) -> list[int]:
        if len(set(book_ids)) < len(book_ids):
            raise PydanticCustomError("duplicate_books", "must not name a book twice")
        return book_ids


class LoanOut(BaseModel):
    id: int
    book_id: int
    due_back: date


# --8<-- [start:router]
router = APIRouter()


@router.post("/loans", status_code=201, response_model=list[LoanOut])
def borrow(request: LoanRequest, library: LibraryDep) -> list[Loan]:
    return library.lend(request.member_id, request.book_ids, date.today())


# --8<-- [end:router]


@router.get("/members/{member_id}/fines")
def read_fines(member_id: int, library: LibraryDep) -> dict[str, float]:
    return {"fines": library.fines(member_id, date.today())}


@router.get("/reports/overdue")
def overdue_report(library: LibraryDep) -> list[dict[str, Any]]:
    return library.overdue_report(ReportsClient())


# --8<-- [start:handlers]
def error_response(
    status_code: int, error_code: str, message: str, details: Any = None, **options: Any
) -> JSONResponse:
    """The one error body of this service."""
    body = {"error_code": error_code, "message": message, "details": details}
    return JSONResponse(body, status_code=status_code, **options)


async def app_error(request: Request, exc: AppError) -> JSONResponse:
    if exc.status_code >= 500:  # ours to fix, or to watch: keep the cause in the logs
        logger.warning("%s on %s", exc.error_code, request.url.path, exc_info=exc)
    return error_response(exc.status_code, exc.error_code, exc.message, exc.details)


def field_of(error: dict[str, Any]) -> str:
    """Where an error is: "book_ids.1" in the body, "member_id" in the path, or "body"."""
    source, *path = error["loc"]  # source: "body", "path", "query", "header" or "cookie"
    if error["type"] == "json_invalid" or not path:
        return source  # the body as a whole: not JSON, not an object, or missing
    return ".".join(str(part) for part in path)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": field_of(error), "message": error["msg"]} for error in exc.errors()]
    return error_response(422, "VALIDATION_ERROR", "The request is not valid.", details)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own errors (no such route, a method not allowed) in the same body."""
    try:
        error_code = HTTPStatus(exc.status_code).name  # 404 → "NOT_FOUND"
    except ValueError:  # a status that Python's table does not name
        error_code = f"HTTP_{exc.status_code}"
    return error_response(exc.status_code, error_code, str(exc.detail), headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: nothing of it goes out. Starlette re-raises it afterwards, for the server to log."""
    message = "Something went wrong on our side. It has been logged."
    return error_response(500, "INTERNAL_ERROR", message)


def install_error_handlers(app: FastAPI) -> None:
    """The one place where exceptions become HTTP responses."""
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


# --8<-- [end:handlers]


def build_app() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    return app


app = build_app()


# --8<-- [start:swallow]
class SwallowErrors:
    """The mistake, kept for contrast: turns any exception into a 500, and tells no one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:  # no log, no re-raise: the traceback ends here
            response = error_response(500, "INTERNAL_ERROR", "Something went wrong.")
            await response(scope, receive, send)


app_that_swallows = build_app()
app_that_swallows.add_middleware(SwallowErrors)
# --8<-- [end:swallow]


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of `app` with a fresh library; a 500 comes back as a client would see it."""
    fresh = seeded_library()
    app.dependency_overrides[get_library] = lambda: fresh
    yield TestClient(app, raise_server_exceptions=False)
    app.dependency_overrides.clear()


# --8<-- [start:domain_tests]
def test_a_loan_within_the_rules_is_created(client: TestClient) -> None:
    response = client.post("/loans", json={"member_id": 1, "book_ids": [1, 2]})
    assert response.status_code == 201
    assert [loan["book_id"] for loan in response.json()] == [1, 2]


def test_each_domain_error_leaves_with_its_status_and_code(client: TestClient) -> None:
    client.post("/loans", json={"member_id": 1, "book_ids": [1, 2]})
    cases = [
        ({"member_id": 9, "book_ids": [3]}, 404, "MEMBER_NOT_FOUND"),
        ({"member_id": 2, "book_ids": [1]}, 409, "BOOK_ON_LOAN"),
        ({"member_id": 1, "book_ids": [3, 4]}, 422, "LOAN_LIMIT_REACHED"),
    ]
    for body, status, error_code in cases:
        response = client.post("/loans", json=body)
        assert (response.status_code, response.json()["error_code"]) == (status, error_code)
    assert response.json() == {
        "error_code": "LOAN_LIMIT_REACHED",
        "message": "A member may hold 3 books at a time.",
        "details": {"limit": 3, "holding": 2},
    }


# --8<-- [end:domain_tests]


def test_an_upstream_failure_is_a_502_and_its_cause_is_logged(client, caplog) -> None:
    response = client.get("/reports/overdue")
    assert response.status_code == 502
    assert response.json()["error_code"] == "UPSTREAM_ERROR"
    assert "10.0.3.7" not in response.text
    assert "ConnectionRefusedError" in caplog.text and "10.0.3.7" in caplog.text


# --8<-- [start:body_tests]
def test_invalid_fields_are_listed_one_by_one_and_never_echoed(client: TestClient) -> None:
    body = {"member_id": "tok_live_51Hx", "book_ids": [2, "three"], "renew": True}
    response = client.post("/loans", json=body)
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert [error["field"] for error in response.json()["details"]] == [
        "member_id",
        "book_ids.1",
        "renew",
    ]
    assert "tok_live_51Hx" not in response.text and "three" not in response.text


@pytest.mark.parametrize(
    "content", [b"{member_id: 1", b"[1, 2]", b""], ids=["not JSON", "a list", "none"]
)
def test_a_wrong_body_is_one_error_for_the_body(client: TestClient, content: bytes) -> None:
    response = client.post("/loans", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["details"]] == ["body"]


def test_starlettes_own_errors_get_the_same_body(client: TestClient) -> None:
    no_route = client.get("/shelves")
    assert no_route.status_code == 404
    assert no_route.json() == {"error_code": "NOT_FOUND", "message": "Not Found", "details": None}
    wrong_method = client.delete("/loans")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert wrong_method.headers["Allow"] == "POST"


# --8<-- [end:body_tests]


def test_a_handler_for_fastapis_httpexception_misses_the_routers_errors() -> None:
    """The router raises Starlette's HTTPException, the parent class of FastAPI's."""
    narrow = FastAPI()
    narrow.add_exception_handler(HTTPException, http_error)  # fastapi.HTTPException
    assert TestClient(narrow).get("/shelves").json() == {"detail": "Not Found"}


def test_a_rule_on_the_whole_list_reports_the_list(client: TestClient) -> None:
    response = client.post("/loans", json={"member_id": 1, "book_ids": [4, 4]})
    assert response.json()["details"] == [
        {"field": "book_ids", "message": "must not name a book twice"}
    ]


def test_a_path_parameter_that_is_not_a_number_is_a_validation_error(client: TestClient) -> None:
    response = client.get("/members/ada/fines")
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "member_id"


# --8<-- [start:crash_tests]
def test_a_bug_is_a_500_that_says_nothing_about_it(client: TestClient) -> None:
    response = client.get("/members/3/fines")  # Alan is staff: FINE_PER_DAY has no "staff"
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert "KeyError" not in response.text and "staff" not in response.text


def test_starlette_raises_the_exception_again_after_the_handler() -> None:
    with pytest.raises(KeyError, match="staff"):
        TestClient(app).get("/members/3/fines")  # by default, TestClient re-raises it too


# --8<-- [end:crash_tests]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_once_from_uvicorn(target: str, path: str) -> tuple[httpx.Response, str]:
    """Starts `uvicorn target` on 127.0.0.1, sends GET `path`, stops the server.

    Returns the response and everything the server printed, as an operator would see it.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--app-dir", str(Path(__file__).parent),
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 20
            while True:  # ready once it accepts a TCP connection
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("uvicorn did not start") from None
                    time.sleep(0.05)
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
        finally:
            server.terminate()
            server.wait(timeout=10)
        output.seek(0)
        return response, output.read()


# --8<-- [start:uvicorn_tests]
def test_uvicorn_logs_the_traceback_of_a_handled_500() -> None:
    response, log = get_once_from_uvicorn("error_architecture:app", "/members/3/fines")
    assert response.status_code == 500 and response.json()["error_code"] == "INTERNAL_ERROR"
    assert "Exception in ASGI application" in log and "KeyError: 'staff'" in log


def test_a_middleware_that_swallows_the_exception_leaves_no_trace() -> None:
    response, log = get_once_from_uvicorn(
        "error_architecture:app_that_swallows", "/members/3/fines"
    )
    assert response.status_code == 500
    assert "Traceback" not in log and "KeyError" not in log


# --8<-- [end:uvicorn_tests]
