"""The agent: the model answers a question with a tool of its own, a search of the help desk's
documents, which it may use as often as it likes within MAX_AGENT_STEPS model requests.

Each step is one request (through services/model.py: retries and fallback as everywhere). While
the model answers with `stop_reason == "tool_use"`, the app runs each search it asked for and
sends the results back, with the whole conversation so far: the Messages API remembers nothing.
The step limit is what stops a model that never stops asking from looping, and billing, for ever.
"""

from anthropic import AsyncAnthropic
from anthropic.types import ToolParam

from app.config import Settings
from app.errors import NotImplementedYet
from app.models.agent import AgentAnswer
from app.services.knowledge import Knowledge
from app.services.usage import UsageLedger

SEARCH_TOOL: ToolParam = {
    "name": "search_documents",
    "description": (
        "Search the IT help desk's documents. Returns the few most relevant to the query, each "
        "whole and tagged with its id, or says that none is relevant. Use it before answering "
        "any question about the help desk's services, devices, accounts or rules."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "What to look for, in plain words: a question or a few keywords.",
            }
        },
        "required": ["query"],
    },
}

SYSTEM = (
    "You are the IT help desk's assistant. Answer from the help desk's documents only: search "
    "them with search_documents (again, with other words, if a search finds nothing), then "
    "answer briefly and plainly, naming the ids of the documents you used. If they do not answer "
    "the question, say that you do not know."
)

NOTHING_FOUND = "None of the help desk's documents is relevant to that query."


async def run(
    question: str,
    client: AsyncAnthropic,
    settings: Settings,
    knowledge: Knowledge,
    ledger: UsageLedger,
) -> AgentAnswer:
    """The model's answer once it stops asking for searches."""
    # TODO 6a: the tool loop. Start from `[{"role": "user", "content": question}]` and ask the
    # model (model.complete, with SYSTEM and tools=[SEARCH_TOOL]); record each answer's usage
    # with the ledger. While the answer's stop_reason is "tool_use": append the assistant's turn
    # (its content, as it came) and a user turn holding one tool_result per tool_use block:
    #     {"type": "tool_result", "tool_use_id": <the block's id>, "content": <the text>}
    # where the text is what knowledge.search finds for the block's input["query"] (with
    # MIN_RELEVANCE), written by as_text (services/knowledge.py), or NOTHING_FOUND; then ask
    # again. Once the model answers in text: AgentAnswer(answer=<its text>, sources=<the ids the
    # searches returned, in the order first returned, once each>, steps=<the requests made>).
    # TODO 6b: at most settings.max_agent_steps model requests: if the last one still asks for a
    # tool, stop with errors.AgentStepLimit (502 AGENT_STEP_LIMIT). Never loop without a bound.
    raise NotImplementedYet("The agent (POST /agent/ask)")
