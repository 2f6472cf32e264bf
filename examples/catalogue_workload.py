"""Two endpoints of a library catalogue that load a server in opposite ways, for choosing how many
worker processes to run.

`/books/{book_id}/similar` computes: it ranks every title in the catalogue by how many letter
triples it shares with the book's, in pure Python, about 20 ms of CPU per request. It is a plain
`def` endpoint, as Module 3 recommends, so it runs in the thread pool and never blocks the event
loop; but the threads of one process share one GIL, so one process computes on one core at most.

`/books/{book_id}/availability` waits: it asks the partner libraries whether they hold the book,
which takes PARTNER_SECONDS (0.1 by default) of waiting and almost no CPU. One event loop keeps
hundreds of such requests in flight at once.

Module 10's lesson (section "How many workers") includes parts of this file, and
benchmarks/deployment.py serves it under gunicorn with 1, 2 and 4 workers. Run its tests with
`pytest examples/catalogue_workload.py`.
"""

import asyncio
import os
import random
import time

import httpx
import pytest
from fastapi import FastAPI, HTTPException

PARTNER_SECONDS = float(os.environ.get("PARTNER_SECONDS", "0.1"))
"""How long the partner libraries take to answer an availability question."""

_words = random.Random(7)
_WORDS = "river house night garden winter letters stone city sea light shadow song glass iron"
TITLES = [" ".join(_words.choice(_WORDS.split()) for _ in range(4)) for _ in range(12_000)]


def trigrams(title: str) -> frozenset[str]:
    return frozenset(title[i : i + 3] for i in range(len(title) - 2))


INDEX = [trigrams(title) for title in TITLES]

# --8<-- [start:app]
app = FastAPI()


@app.get("/books/{book_id}/similar")
def similar_books(book_id: int) -> dict[str, list[int]]:
    """CPU-bound: compares the book with all 12,000 titles, in pure Python."""
    if not 0 <= book_id < len(INDEX):
        raise HTTPException(404, "no such book")
    wanted = INDEX[book_id]
    scores = [
        (len(wanted & other) / len(wanted | other), other_id)
        for other_id, other in enumerate(INDEX)
        if other_id != book_id
    ]
    return {"similar": [other_id for _, other_id in sorted(scores, reverse=True)[:5]]}


@app.get("/books/{book_id}/availability")
async def availability(book_id: int) -> dict[str, int | list[str]]:
    """I/O-bound: waits for the partner libraries (a sleep stands for their answers)."""
    await asyncio.sleep(PARTNER_SECONDS)
    return {"book_id": book_id, "held_by": ["north branch", "university library"]}


# --8<-- [end:app]


async def wall_time(paths: list[str]) -> float:
    """Seconds for the requests `paths`, sent all at once, to be answered."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as client:
        began = time.perf_counter()
        responses = await asyncio.gather(*(client.get(path) for path in paths))
    assert all(response.status_code == 200 for response in responses)
    return time.perf_counter() - began


def cpu_time_of(book_id: int) -> float:
    """Runs the endpoint's function in this thread: the CPU seconds this thread spent on it."""
    began = time.thread_time()
    similar_books(book_id)
    return time.thread_time() - began


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_similar_books_are_the_closest_titles_first() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as client:
        similar = (await client.get("/books/7/similar")).json()["similar"]
        assert (await client.get("/books/12000/similar")).status_code == 404
    closeness = [len(INDEX[7] & INDEX[n]) / len(INDEX[7] | INDEX[n]) for n in similar]
    assert len(similar) == 5 and 7 not in similar and closeness == sorted(closeness, reverse=True)


@pytest.mark.asyncio
async def test_one_process_waits_for_many_requests_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(globals(), "PARTNER_SECONDS", 0.3)  # read by the endpoint as it runs
    wall = await wall_time([f"/books/{n}/availability" for n in range(4)])
    assert wall < 2 * 0.3  # four waits overlapped: not four times one


@pytest.mark.asyncio
async def test_one_process_computes_one_request_at_a_time_whatever_its_threads() -> None:
    # Four threads, as FastAPI runs four requests to a `def` endpoint.
    began = time.perf_counter()
    threads = await asyncio.gather(*(asyncio.to_thread(cpu_time_of, n) for n in range(4)))
    wall = time.perf_counter() - began
    assert wall > 0.8 * sum(threads)  # they took turns: the GIL let one thread compute at a time


# --8<-- [end:tests]
