"""An upstream's JSON, validated before use: a bad answer becomes a clean 502, never a 500.

The library asks a catalogue service for a book's metadata. Module 4's lesson (sections
"Validating JSON that no parameter brings" and "Timeouts on upstream calls") includes parts of this
file. The tests run the catalogue in process, through `httpx.ASGITransport`, and real TCP servers
on 127.0.0.1 for what only a socket can do: never answer, or answer very slowly. Run them with
`pytest examples/upstream_json.py`.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

import httpx
import pytest
import pytest_asyncio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

logger = logging.getLogger(__name__)

CATALOGUE_URL = "http://catalogue.internal:8080"
# --8<-- [start:timeout]
CATALOGUE_TIMEOUT = httpx.Timeout(2.0, connect=1.0)  # seconds; httpx's own default is 5.0
# --8<-- [end:timeout]


# --8<-- [start:models]
class CatalogueEntry(BaseModel):
    """The part of the catalogue's answer this service relies on. Other keys are ignored."""

    title: str = Field(min_length=1)
    authors: list[str] = Field(min_length=1)
    pages: int | None = Field(default=None, ge=1)


class Edition(BaseModel):
    year: int
    publisher: str


EDITIONS = TypeAdapter(list[Edition])  # for a type that is not a model; build it once, at import


# --8<-- [end:models]


class BookDetails(CatalogueEntry):
    isbn: str
    editions: list[Edition]


class UpstreamError(Exception):
    """The catalogue failed us. `reason` is for the logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BookNotInCatalogue(LookupError):
    def __init__(self, isbn: str) -> None:
        super().__init__(isbn)
        self.isbn = isbn


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # --8<-- [start:client]
    async with httpx.AsyncClient(base_url=CATALOGUE_URL, timeout=CATALOGUE_TIMEOUT) as catalogue:
        app.state.catalogue = catalogue
        yield
    # --8<-- [end:client]


app = FastAPI(lifespan=lifespan)


def get_catalogue(request: Request) -> httpx.AsyncClient:
    return request.app.state.catalogue


CatalogueDep = Annotated[httpx.AsyncClient, Depends(get_catalogue)]
T = TypeVar("T")


# --8<-- [start:fetch]
async def fetch(
    catalogue: httpx.AsyncClient, path: str, validate: Callable[[bytes], T]
) -> T | None:
    """The catalogue's answer to GET `path`, validated; None when it answers 404: nothing there.

    Raises UpstreamError for any failure of the catalogue's own.
    """
    try:
        response = await catalogue.get(path)
    except httpx.TimeoutException as error:
        raise UpstreamError(f"no answer within the timeout ({error!r})") from error
    except httpx.TransportError as error:  # refused, reset, name not found...
        raise UpstreamError(f"unreachable ({error!r})") from error
    if response.status_code == 404:
        return None
    if not response.is_success:
        raise UpstreamError(f"answered {response.status_code}")
    try:
        return validate(response.content)
    except ValidationError as error:  # not JSON at all, or not the shape we rely on
        raise UpstreamError(f"answered an unusable body: {error}") from error


@app.get("/books/{isbn}/details")
async def book_details(isbn: str, catalogue: CatalogueDep) -> BookDetails:
    entry = await fetch(catalogue, f"/books/{isbn}", CatalogueEntry.model_validate_json)
    if entry is None:
        raise BookNotInCatalogue(isbn)
    editions = await fetch(catalogue, f"/books/{isbn}/editions", EDITIONS.validate_json)
    return BookDetails(isbn=isbn, editions=editions or [], **entry.model_dump())


# --8<-- [end:fetch]


# --8<-- [start:handlers]
@app.exception_handler(UpstreamError)
async def upstream_failed(request: Request, exc: UpstreamError) -> JSONResponse:
    logger.warning("catalogue failed on %s: %s", request.url.path, exc.reason, exc_info=exc)
    return JSONResponse(
        {
            "error_code": "UPSTREAM_ERROR",
            "message": "The catalogue is not answering properly. Try again later.",
            "details": {"upstream": "catalogue"},
        },
        status_code=502,
    )


@app.exception_handler(BookNotInCatalogue)
async def not_in_catalogue(request: Request, exc: BookNotInCatalogue) -> JSONResponse:
    return JSONResponse(
        {
            "error_code": "BOOK_NOT_IN_CATALOGUE",
            "message": f"The catalogue has no book with ISBN {exc.isbn}.",
            "details": {"isbn": exc.isbn},
        },
        status_code=404,
    )


# --8<-- [end:handlers]


# --8<-- [start:naive]
@app.get("/books/{isbn}/title-naive")  # the mistake, kept for contrast
async def book_title_naive(isbn: str, catalogue: CatalogueDep) -> dict[str, str]:
    response = await catalogue.get(f"/books/{isbn}")
    return {"title": response.json()["title"]}  # trusts the status, the JSON and its shape


# --8<-- [end:naive]


# The catalogue, as the tests run it: one ISBN per way for an upstream to answer.
fake_catalogue = FastAPI()
DUNE = {"title": "Dune", "authors": ["Frank Herbert"], "pages": 412, "cover": "dune.jpg"}
ANSWERS = {
    "dune": lambda: JSONResponse(DUNE),  # with a key ("cover") the library does not use
    "wrong-shape": lambda: JSONResponse({"name": "Dune", "authors": "Frank Herbert"}),
    "not-json": lambda: Response("<html>Service Unavailable</html>", media_type="text/html"),
    "down": lambda: JSONResponse({"error": "maintenance"}, status_code=503),
    "editions-wrong-shape": lambda: JSONResponse(DUNE),
    "no-editions": lambda: JSONResponse(DUNE),
}
EDITION_ANSWERS = {
    "dune": [{"year": 1965, "publisher": "Chilton Books"}, {"year": 2005, "publisher": "Ace"}],
    "editions-wrong-shape": {"editions": [{"year": 1965}]},  # an object, not a list
}


@fake_catalogue.get("/books/{isbn}")
def catalogue_entry(isbn: str) -> Response:
    return ANSWERS.get(isbn, lambda: JSONResponse({"error": "no such book"}, status_code=404))()


@fake_catalogue.get("/books/{isbn}/editions")
def catalogue_editions(isbn: str) -> Response:
    if isbn not in EDITION_ANSWERS:
        return JSONResponse({"error": "no editions recorded"}, status_code=404)
    return JSONResponse(EDITION_ANSWERS[isbn])


@asynccontextmanager
async def library_client(catalogue: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the library app, whose endpoints get `catalogue` as their upstream client.

    An unhandled exception comes back as the 500 a real client would see, not raised in the test.
    """
    app.dependency_overrides[get_catalogue] = lambda: catalogue
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
            yield client
    finally:
        app.dependency_overrides.clear()


@pytest_asyncio.fixture
async def library() -> AsyncIterator[httpx.AsyncClient]:
    """The library, in front of the fake catalogue, both in process."""
    transport = httpx.ASGITransport(app=fake_catalogue)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://catalogue.test") as catalogue,
        library_client(catalogue) as client,
    ):
        yield client


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_a_valid_answer_is_used_and_unknown_keys_are_dropped(library) -> None:
    response = await library.get("/books/dune/details")
    assert response.status_code == 200
    assert response.json()["title"] == "Dune" and "cover" not in response.json()
    assert [edition["year"] for edition in response.json()["editions"]] == [1965, 2005]


@pytest.mark.asyncio
@pytest.mark.parametrize("isbn", ["wrong-shape", "not-json", "down", "editions-wrong-shape"])
async def test_a_bad_answer_is_a_502_that_tells_nothing_of_it(library, isbn, caplog) -> None:
    response = await library.get(f"/books/{isbn}/details")
    assert response.status_code == 502
    assert response.json()["error_code"] == "UPSTREAM_ERROR"
    assert "Dune" not in response.text and "html" not in response.text
    assert f"catalogue failed on /books/{isbn}/details" in caplog.text  # the why, in the logs


@pytest.mark.asyncio
async def test_the_naive_endpoint_turns_the_same_answers_into_500s(library) -> None:
    for isbn in ["wrong-shape", "not-json"]:  # KeyError, then JSONDecodeError
        assert (await library.get(f"/books/{isbn}/title-naive")).status_code == 500


# --8<-- [end:tests]


@pytest.mark.asyncio
async def test_an_upstream_404_is_the_clients_404(library) -> None:
    response = await library.get("/books/9780000000000/details")
    assert response.status_code == 404
    assert response.json()["error_code"] == "BOOK_NOT_IN_CATALOGUE"


@pytest.mark.asyncio
async def test_a_book_without_recorded_editions_has_none(library) -> None:
    response = await library.get("/books/no-editions/details")
    assert (response.status_code, response.json()["editions"]) == (200, [])


@pytest.mark.asyncio
async def test_the_log_says_why_the_answer_was_unusable(library, caplog) -> None:
    await library.get("/books/wrong-shape/details")
    assert "answered an unusable body" in caplog.text
    assert "title\n  Field required" in caplog.text  # Pydantic's own account, kept server-side


@asynccontextmanager
async def tcp_server(handle: Callable) -> AsyncIterator[str]:
    """A real TCP server on 127.0.0.1, on a free port, for as long as the block lasts.

    On the way out it closes the connections still open and waits for their handlers to end.
    """
    connections: set[asyncio.Task] = set()

    async def handle_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.add(asyncio.current_task())
        try:
            await handle(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle_and_close, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    for connection in connections:
        connection.cancel()
    await asyncio.gather(*connections, return_exceptions=True)


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request and says nothing, until the client gives up."""
    await reader.read()


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers at once, then sends a 30-byte body one byte every 50 ms: a second and a half."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\nContent-Type: text/plain\r\n\r\n")
    for _ in range(30):
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b".")
    await writer.drain()


# --8<-- [start:timeout_tests]
@pytest.mark.asyncio
async def test_a_silent_upstream_is_a_502_once_the_timeout_expires(caplog) -> None:
    async with (
        tcp_server(never_answer) as url,
        httpx.AsyncClient(base_url=url, timeout=0.25) as catalogue,
        library_client(catalogue) as library,
    ):
        started = time.monotonic()
        response = await library.get("/books/dune/details")
    assert response.status_code == 502
    assert time.monotonic() - started < 5.0  # our bound, not httpx's default, ended the wait
    assert "no answer within the timeout (ReadTimeout" in caplog.text


@pytest.mark.asyncio
async def test_without_a_timeout_the_request_waits_as_long_as_the_upstream() -> None:
    async with (
        tcp_server(never_answer) as url,
        httpx.AsyncClient(base_url=url, timeout=None) as catalogue,
        library_client(catalogue) as library,
    ):
        with pytest.raises(TimeoutError):  # still waiting when the test stops it
            await asyncio.wait_for(library.get("/books/dune/details"), timeout=1.0)


@pytest.mark.asyncio
async def test_httpx_waits_five_seconds_by_default_and_the_app_sets_less() -> None:
    async with httpx.AsyncClient() as client:
        assert client.timeout == httpx.Timeout(5.0)
    async with app.router.lifespan_context(app):  # the app's own client: bounded tighter
        assert app.state.catalogue.timeout == httpx.Timeout(2.0, connect=1.0)


# --8<-- [end:timeout_tests]


# --8<-- [start:deadline_tests]
@pytest.mark.asyncio
async def test_a_read_timeout_bounds_each_wait_not_the_whole_answer() -> None:
    async with tcp_server(trickle) as url, httpx.AsyncClient(timeout=1.0) as client:
        started = time.monotonic()
        response = await client.get(url)  # no gap comes near 1 s, so no timeout fires
        assert response.content == b"." * 30 and time.monotonic() - started >= 1.4
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):  # a deadline for the whole call
                await client.get(url)


# --8<-- [end:deadline_tests]
