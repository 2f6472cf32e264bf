"""The audio guide answers from the museum's own notes: retrieval-augmented generation with an
embedded ChromaDB and all-MiniLM-L6-v2 run offline (the course's `minilm` package).

Exhibit notes are cut into chunks, embedded off the event loop and upserted into a persistent
collection; a question is embedded, the nearest chunks above a similarity threshold go into the
prompt, and the answer comes back with their ids. When no chunk is close enough, the guide says
it does not know, without calling the model.

Module 9's lesson (sections "Embeddings, offline", "A vector store that survives restarts",
"Retrieval" and "When nothing is relevant") includes this file. Run its tests with
`pytest examples/guide_retrieval.py`.
"""

import asyncio
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import chromadb
import httpx
import pytest
from chromadb.api.models.Collection import Collection
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from guide_client import GuideSettings, ModelClient, calling, model_lifespan, settings_for
from pydantic import BaseModel, Field

from grader.fakes.anthropic import FakeAnthropic, fake_anthropic
from minilm import MAX_TOKENS, MiniLMEmbeddings, model

# --8<-- [start:notes]
EXHIBITS = {
    "sculpture-hall": "The sculpture hall shuts at four in the afternoon on weekdays and stays "
    "open until eight on Saturdays.",
    "civic-guard": "The large group portrait of the civic guard hangs alone in Room 3, behind a "
    "glass screen.",
    "audio-guides": "Audio guides speak English, French, German, Japanese and Spanish; the desk "
    "at the entrance lends them.",
    "photography": "Visitors may take pictures without flash in every gallery except the prints "
    "and drawings cabinet.",
    "cafe": "The café on the roof terrace serves soup, sandwiches and cakes from ten until half "
    "past five.",
    "lighthouse-lens": "A Fresnel lens from the old harbour lighthouse, three metres tall, turns "
    "slowly in the stairwell.",
    "shipwreck-coins": "Silver coins raised from a merchant ship that sank in 1702 fill the case "
    "beside the map room.",
    "family-trail": "Families can pick up a treasure-hunt booklet at the ticket office: twelve "
    "clues lead through the galleries.",
    "access": "Lifts reach every floor, and folding wheelchairs can be borrowed free of charge "
    "at the cloakroom.",
    "conservation": "Through a window on the second floor, visitors can watch conservators "
    "cleaning varnish off old paintings.",
    "tide-clock": "A brass tide clock made in 1851 still shows high and low water for the port.",
    "lifeboat-painting": "The painting of a lifeboat fighting waves during the great gale of "
    "1881 is the most loved work in the collection.",
}
PARAPHRASES = {  # questions that share no content word with the note that answers them
    "When does the statue gallery close?": "sculpture-hall",
    "Can I rent a headset that talks in Italian?": "audio-guides",
    "Is it allowed to photograph the artworks?": "photography",
    "Where can I get lunch?": "cafe",
    "Is there an activity for young visitors?": "family-trail",
    "I cannot manage steps: how do I get to the upper levels?": "access",
    "Is there a place where I can see artworks being repaired?": "conservation",
    "Which object tells mariners when the sea rises and falls?": "tide-clock",
    "Do you have treasure recovered from a sunken vessel?": "shipwreck-coins",
    "Which picture do people like best?": "lifeboat-painting",
}
UNRELATED = [
    "What is the capital of Australia?",
    "How do I reset my email password?",
    "Recommend a good laptop for programming.",
    "What's the weather tomorrow?",
    "Who won the football match last night?",
    "How do I renew my passport?",
]
# --8<-- [end:notes]


class RetrievalSettings(GuideSettings):
    chroma_path: Path = Path("chroma")
    top_k: int = 3
    min_similarity: float = 0.2  # measured: see the lesson's "Retrieval" section


# --8<-- [start:store]
def open_exhibits(path: Path) -> Collection:
    """The exhibit notes' collection, created on first use and found again after a restart."""
    client = chromadb.PersistentClient(path=str(path))
    return client.get_or_create_collection(
        "exhibits",
        embedding_function=MiniLMEmbeddings(),  # registered: a later process rebuilds it
        configuration={"hnsw": {"space": "cosine"}},  # distance = 1 - cosine similarity
    )


def token_count(text: str) -> int:
    """Tokens the model sees, [CLS] and [SEP] included (counted up to MAX_TOKENS)."""
    return len(model().tokenizer.encode(text).ids)


def chunks(text: str, max_tokens: int = MAX_TOKENS // 2) -> list[str]:
    """Whole sentences, grouped into chunks the model reads to the end."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    grouped: list[str] = []
    for sentence in sentences:
        if grouped and token_count(f"{grouped[-1]} {sentence}") <= max_tokens:
            grouped[-1] = f"{grouped[-1]} {sentence}"
        else:
            grouped.append(sentence)
    return grouped


def index_exhibit(exhibits: Collection, exhibit_id: str, text: str) -> int:
    """Replaces the exhibit's chunks: CPU work (embedding), run it off the event loop."""
    pieces = chunks(text)
    exhibits.delete(where={"exhibit": exhibit_id})  # a shorter text leaves no stale chunk
    exhibits.upsert(
        ids=[f"{exhibit_id}#{number}" for number in range(len(pieces))],
        documents=pieces,
        metadatas=[{"exhibit": exhibit_id}] * len(pieces),
    )
    return len(pieces)


# --8<-- [end:store]


# --8<-- [start:retrieve]
class Note(BaseModel):
    id: str
    text: str
    similarity: float


def nearest_notes(exhibits: Collection, question: str, top_k: int, floor: float) -> list[Note]:
    """The `top_k` chunks nearest to the question, most similar first, none below `floor`."""
    found = exhibits.query(query_texts=[question], n_results=top_k)
    notes = [
        Note(id=note_id, text=text, similarity=round(1 - distance, 3))
        for note_id, text, distance in zip(
            found["ids"][0], found["documents"][0], found["distances"][0], strict=True
        )
    ]
    return [note for note in notes if note.similarity >= floor]


SYSTEM = (
    "You are the Harbour Museum's audio guide. Answer the visitor's question only from the "
    "exhibit notes in their message, in at most three sentences. If the notes do not contain "
    "the answer, say that you do not know. Never use anything else you know."
)


def prompt(question: str, notes: list[Note]) -> str:
    quoted = "\n".join(f'<note id="{note.id}">{note.text}</note>' for note in notes)
    return f"<notes>\n{quoted}\n</notes>\n\nQuestion: {question}"


# --8<-- [end:retrieve]


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500)


class Source(BaseModel):
    id: str
    similarity: float


class GuideAnswer(BaseModel):
    answer: str
    sources: list[Source]


class ExhibitText(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


I_DONT_KNOW = (
    "I don't know: none of the museum's notes answers that. The information desk can help."
)


def exhibits_of(request: Request) -> Collection:
    return request.state.exhibits


Exhibits = Annotated[Collection, Depends(exhibits_of)]


# --8<-- [start:app]
def make_app(settings: RetrievalSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        exhibits = await run_in_threadpool(open_exhibits, settings.chroma_path)
        await run_in_threadpool(model)  # load the weights now, not in the first request
        async with model_lifespan(settings)(app) as state:
            yield {**state, "exhibits": exhibits}

    app = FastAPI(title="Harbour Museum audio guide", lifespan=lifespan)

    @app.put("/guide/exhibits/{exhibit_id}")
    async def put_exhibit(exhibit_id: str, body: ExhibitText, exhibits: Exhibits) -> dict:
        count = await run_in_threadpool(index_exhibit, exhibits, exhibit_id, body.text)
        return {"exhibit": exhibit_id, "chunks": count}

    @app.post("/guide/questions")
    async def ask(question: Question, exhibits: Exhibits, client: ModelClient) -> GuideAnswer:
        notes = await run_in_threadpool(
            nearest_notes, exhibits, question.question, settings.top_k, settings.min_similarity
        )
        if not notes:  # nothing to answer from: no call, no cost, no invented answer
            return GuideAnswer(answer=I_DONT_KNOW, sources=[])
        message = await client.messages.create(
            model=settings.guide_model,
            max_tokens=400,
            system=SYSTEM,
            messages=[{"role": "user", "content": prompt(question.question, notes)}],
        )
        sources = [Source(id=note.id, similarity=note.similarity) for note in notes]
        return GuideAnswer(answer=message.content[0].text, sources=sources)

    return app


# --8<-- [end:app]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as api:
        yield api


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding every exhibit, made once for the tests that only read it."""
    path = tmp_path_factory.mktemp("indexed") / "chroma"
    open_exhibits(path).upsert(  # one batch: each note is one chunk
        ids=[f"{exhibit_id}#0" for exhibit_id in EXHIBITS],
        documents=list(EXHIBITS.values()),
        metadatas=[{"exhibit": exhibit_id} for exhibit_id in EXHIBITS],
    )
    assert all(chunks(text) == [text] for text in EXHIBITS.values())
    return path


def settings_at(api: FakeAnthropic, path: Path) -> RetrievalSettings:
    return settings_for(api, RetrievalSettings, chroma_path=path)


async def ask(guide: httpx.AsyncClient, question: str) -> dict:
    response = await guide.post("/guide/questions", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


# --8<-- [start:retrieval_tests]
@pytest.mark.asyncio
async def test_paraphrases_find_the_note_that_answers_them(api, indexed) -> None:
    async with calling(make_app(settings_at(api, indexed))) as guide:
        answers = {question: await ask(guide, question) for question in PARAPHRASES}
    for question, exhibit_id in PARAPHRASES.items():
        sources = [source["id"] for source in answers[question]["sources"]]
        assert f"{exhibit_id}#0" in sources, question  # among the top 3 (first for 9 of 10)
        similarities = [source["similarity"] for source in answers[question]["sources"]]
        assert similarities == sorted(similarities, reverse=True)


@pytest.mark.asyncio
async def test_the_model_reads_the_notes_and_the_answer_names_them(api, indexed) -> None:
    async with calling(make_app(settings_at(api, indexed))) as guide:
        answer = await ask(guide, "When does the statue gallery close?")
    assert answer["sources"][0]["id"] == "sculpture-hall#0"
    call = api.messages()[0]
    assert call.body["system"] == SYSTEM
    assert '<note id="sculpture-hall#0">The sculpture hall shuts at four' in call.prompt
    assert answer["answer"] == call.text


@pytest.mark.asyncio
async def test_nothing_relevant_means_no_model_call(api, indexed) -> None:
    async with calling(make_app(settings_at(api, indexed))) as guide:
        for question in UNRELATED:
            answer = await ask(guide, question)
            assert answer == {"answer": I_DONT_KNOW, "sources": []}, question
    assert api.messages() == []  # no tokens paid, nothing made up


# --8<-- [end:retrieval_tests]


# --8<-- [start:store_tests]
@pytest.mark.asyncio
async def test_putting_an_exhibit_again_replaces_its_chunks(api, tmp_path) -> None:
    settings = settings_at(api, tmp_path / "chroma")
    long_text = " ".join(
        f"Case {number} holds a ship model built in {1800 + number}." for number in range(40)
    )
    async with calling(make_app(settings)) as guide:
        first = await guide.put("/guide/exhibits/models", json={"text": long_text})
        again = await guide.put("/guide/exhibits/models", json={"text": "The case is empty."})
    assert first.json()["chunks"] > 1  # too long for one chunk
    assert again.json()["chunks"] == 1
    assert open_exhibits(settings.chroma_path).get()["ids"] == ["models#0"]


def test_every_chunk_fits_what_the_model_reads() -> None:
    text = " ".join(EXHIBITS.values()) * 4
    pieces = chunks(text, max_tokens=64)
    assert len(pieces) > 4
    assert all(token_count(piece) <= 64 for piece in pieces)
    assert " ".join(pieces) == text.strip()  # whole sentences, nothing lost


REOPEN = """
import sys, chromadb
exhibits = chromadb.PersistentClient(path=sys.argv[1]).get_collection("exhibits")
try:
    exhibits.query(query_texts=["lunch"], n_results=1)
except ValueError as error:
    print("without minilm:", error)
import minilm  # registers MiniLMEmbeddings with Chroma
exhibits = chromadb.PersistentClient(path=sys.argv[1]).get_collection("exhibits")
print("with minilm:", exhibits.count(), exhibits.query(query_texts=["lunch"], n_results=1)["ids"])
"""


def test_the_collection_reopens_in_a_new_process(indexed) -> None:
    reopened = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(REOPEN), str(indexed)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = reopened.stdout.splitlines()
    assert "minilm-offline not found" in lines[0]  # the function is looked up by its name
    assert lines[1] == "with minilm: 12 [['cafe#0']]"


# --8<-- [end:store_tests]


# --8<-- [start:loop_tests]
async def ticks_while(work: Awaitable[object]) -> int:
    """How often a 5 ms timer fired on the event loop while `work` ran."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    ticks = 0
    await work
    counted = ticks
    ticker.cancel()
    return counted


@pytest.mark.asyncio
async def test_embedding_inline_freezes_the_event_loop() -> None:
    texts = list(EXHIBITS.values())

    async def inline() -> None:
        model().embed(texts)  # CPU work in an async function: nothing else runs meanwhile

    assert await ticks_while(inline()) == 0
    assert await ticks_while(run_in_threadpool(model().embed, texts)) > 0


# --8<-- [end:loop_tests]
