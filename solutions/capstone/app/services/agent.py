"""The agent: the model answers a question with a tool of its own, a search of the help desk's
documents, which it may use as often as it likes within MAX_AGENT_STEPS model requests.

Each step is one request (through services/model.py: retries and fallback as everywhere). While
the model answers with `stop_reason == "tool_use"`, the app runs each search it asked for and
sends the results back, with the whole conversation so far: the Messages API remembers nothing.
The step limit is what stops a model that never stops asking from looping, and billing, for ever.
"""

from anthropic import AsyncAnthropic
from anthropic.types import (
    Message,
    MessageParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
)

from app.config import Settings
from app.errors import AgentStepLimit
from app.models.agent import AgentAnswer
from app.services import model
from app.services.knowledge import Knowledge, as_text
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
    """The model's answer once it stops asking for searches; AgentStepLimit if it still asks
    after MAX_AGENT_STEPS requests, ModelUnavailable if no model answers."""
    messages: list[MessageParam] = [{"role": "user", "content": question}]
    sources: dict[str, None] = {}  # the ids the searches returned: first returned first, once each
    for step in range(1, settings.max_agent_steps + 1):
        answer = await model.complete(client, settings, SYSTEM, messages, tools=[SEARCH_TOOL])
        ledger.record(answer.usage)  # every request is paid for, tool calls included
        if answer.stop_reason != "tool_use":  # end_turn or max_tokens: the answer, such as it is
            return AgentAnswer(answer=text_of(answer), sources=list(sources), steps=step)
        if step == settings.max_agent_steps:
            break  # no search the model could read: it has no request left to read it in
        calls = [block for block in answer.content if isinstance(block, ToolUseBlock)]
        results = [await use_tool(call, settings, knowledge, sources) for call in calls]
        # The model's turn as it came (its text and tool_use blocks), then one result per call.
        messages.append({"role": "assistant", "content": answer.content})
        messages.append({"role": "user", "content": results})
    raise AgentStepLimit(settings.max_agent_steps)


async def use_tool(
    call: ToolUseBlock, settings: Settings, knowledge: Knowledge, sources: dict[str, None]
) -> ToolResultBlockParam:
    """The result of one tool call: the documents found for its query, as /rag/ask finds them
    (the TOP_K most similar, at least MIN_RELEVANCE). A call the app cannot run is answered with
    an error the model can read and correct, never with an exception that ends the request."""
    query = call.input.get("query") if isinstance(call.input, dict) else None
    if call.name != SEARCH_TOOL["name"]:
        return error_result(call, f"There is no tool named {call.name!r}: use search_documents.")
    if not isinstance(query, str) or not query.strip():
        return error_result(call, "search_documents needs a query: a non-empty string.")
    found = await knowledge.search(query, settings.min_relevance)
    sources.update(dict.fromkeys(document.id for document in found))
    content = as_text(found) if found else NOTHING_FOUND
    return {"type": "tool_result", "tool_use_id": call.id, "content": content}


def error_result(call: ToolUseBlock, message: str) -> ToolResultBlockParam:
    return {"type": "tool_result", "tool_use_id": call.id, "content": message, "is_error": True}


def text_of(answer: Message) -> str:
    return "".join(block.text for block in answer.content if block.type == "text")
