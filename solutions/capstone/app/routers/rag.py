"""The help desk's documents, and questions answered from them (retrieval-augmented generation)."""

from fastapi import APIRouter, status

from app.dependencies import (
    AskDep,
    ClientDep,
    DocumentsWriterDep,
    KnowledgeDep,
    LedgerDep,
    SettingsDep,
)
from app.models.assistant import Answer, Document, Question
from app.services import model
from app.services.knowledge import Found, as_text

router = APIRouter(prefix="/rag", tags=["rag"])

NOTHING_RELEVANT = "I don't know: none of the help desk's documents is about that."


@router.post("/documents", status_code=status.HTTP_201_CREATED)
async def add_documents(
    documents: list[Document], key: DocumentsWriterDep, knowledge: KnowledgeDep
) -> dict[str, int]:
    await knowledge.add(documents)
    return {"stored": len(documents)}


@router.post("/ask")
async def ask(
    body: Question,
    key: AskDep,
    client: ClientDep,
    knowledge: KnowledgeDep,
    settings: SettingsDep,
    ledger: LedgerDep,
) -> Answer:
    found = await knowledge.search(body.question, settings.min_relevance)
    if not found:  # nothing to answer from: the model would only guess, and be paid to
        return Answer(answer=NOTHING_RELEVANT, sources=[])
    answer = await model.complete(
        client, settings, system_prompt(found), [{"role": "user", "content": body.question}]
    )
    ledger.record(answer.usage)
    text = "".join(block.text for block in answer.content if block.type == "text")
    return Answer(answer=text, sources=[document.id for document in found])


def system_prompt(found: list[Found]) -> str:
    return (
        "You answer questions for the IT help desk using only the documents below. If they do "
        "not answer the question, say that you do not know. Name the ids of the documents you "
        f"used.\n\n{as_text(found)}"
    )
