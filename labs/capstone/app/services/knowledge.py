"""The help desk's documents in ChromaDB, embedded by all-MiniLM-L6-v2 (offline, `minilm`).

Embedding is CPU work, and Chroma's client blocks: every call runs in a worker thread, so the
event loop keeps serving other requests (streams among them) meanwhile.
"""

import asyncio
from dataclasses import dataclass

import chromadb
from chromadb.config import Settings as ChromaSettings

from app.models.assistant import Document
from minilm import MiniLMEmbeddings

COLLECTION = "helpdesk"
TOP_K = 3
"""Documents given to the model at most: the most similar ones."""


@dataclass(frozen=True)
class Found:
    id: str
    text: str
    similarity: float
    """Cosine similarity to the question, from -1 to 1: 1 − Chroma's cosine distance."""


class Knowledge:
    def __init__(self, path: str) -> None:
        # TODO 4b: an in-memory client forgets everything when the process ends. Keep the
        # documents in `path` (chromadb.PersistentClient), and have the collection measure cosine
        # distance (configuration={"hnsw": {"space": "cosine"}}), so that similarity = 1 − distance.
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        self.collection = client.get_or_create_collection(
            COLLECTION, embedding_function=MiniLMEmbeddings()
        )

    async def add(self, documents: list[Document]) -> None:
        """Stores (or replaces) each document, whole: the lab's are shorter than the model's 256
        tokens, so one document is one chunk."""
        await asyncio.to_thread(
            self.collection.upsert,
            ids=[document.id for document in documents],
            documents=[document.text for document in documents],
        )

    async def search(self, question: str, min_relevance: float) -> list[Found]:
        """The TOP_K documents most similar to `question`, most similar first, leaving out any
        less similar than `min_relevance`."""
        # TODO 4b: query the collection (in a worker thread: embedding is CPU work) for the TOP_K
        # documents nearest `question`, and keep those whose similarity reaches `min_relevance`.
        return []

    async def count(self) -> int:
        return await asyncio.to_thread(self.collection.count)


def as_text(found: list[Found]) -> str:
    """Documents as the model reads them: each whole, in a tag that names its id, to cite."""
    return "\n".join(
        f'<document id="{document.id}">\n{document.text}\n</document>' for document in found
    )
