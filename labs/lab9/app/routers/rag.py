"""The help desk's documents, and questions answered from them (retrieval-augmented generation)."""

from fastapi import APIRouter, status

from app.deps import ClientDep, KnowledgeDep, LedgerDep, SettingsDep
from app.models import Answer, Document, Question
from app.services import model
from app.services.knowledge import Found

router = APIRouter(prefix="/rag", tags=["rag"])

NOTHING_RELEVANT = "I don't know: none of the help desk's documents is about that."


@router.post("/documents", status_code=status.HTTP_201_CREATED)
async def add_documents(documents: list[Document], knowledge: KnowledgeDep) -> dict[str, int]:
    await knowledge.add(documents)
    return {"stored": len(documents)}


@router.post("/ask")
async def ask(
    body: Question,
    client: ClientDep,
    knowledge: KnowledgeDep,
    settings: SettingsDep,
    ledger: LedgerDep,
) -> Answer:
    # TODO 3c: find the documents relevant to the question (knowledge.search, with MIN_RELEVANCE),
    # give their texts to the model in the system prompt (system_prompt below), and answer with
    # their ids as the sources, most similar first.
    # TODO 3d: when no document is relevant, answer NOTHING_RELEVANT with no sources, without
    # asking the model.
    answer = await model.complete(
        client, settings, system_prompt([]), [{"role": "user", "content": body.question}]
    )
    # TODO 5b: record the answer's usage with the ledger.
    text = "".join(block.text for block in answer.content if block.type == "text")
    return Answer(answer=text, sources=[])


def system_prompt(found: list[Found]) -> str:
    documents = "\n".join(
        f'<document id="{document.id}">\n{document.text}\n</document>' for document in found
    )
    return (
        "You answer questions for the IT help desk using only the documents below. If they do "
        "not answer the question, say that you do not know. Name the ids of the documents you "
        f"used.\n\n{documents}"
    )
