"""POST /agent/ask: the agent answers a question, searching the documents as often as it needs
(services/agent.py), within MAX_AGENT_STEPS model requests."""

from fastapi import APIRouter

from app.dependencies import AskDep, ClientDep, KnowledgeDep, LedgerDep, SettingsDep
from app.models.agent import AgentAnswer
from app.models.assistant import Question
from app.services import agent

router = APIRouter(prefix="/agent", tags=["agent"])


@router.post("/ask")
async def ask(
    body: Question,
    key: AskDep,
    client: ClientDep,
    knowledge: KnowledgeDep,
    settings: SettingsDep,
    ledger: LedgerDep,
) -> AgentAnswer:
    return await agent.run(body.question, client, settings, knowledge, ledger)
