"""POST /chat/message: the help desk's assistant answers, streamed as server-sent events."""

from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.deps import ClientDep, ConversationsDep, LedgerDep, ResponseExitsDep, SettingsDep
from app.errors import ModelUnavailable
from app.models import ChatMessage
from app.services import model

router = APIRouter(prefix="/chat", tags=["chat"])

SYSTEM = "You are the IT help desk's assistant. Answer briefly and plainly."


@router.post("/message", response_class=EventSourceResponse)
async def chat(
    body: ChatMessage,
    client: ClientDep,
    settings: SettingsDep,
    conversations: ConversationsDep,
    ledger: LedgerDep,
    exits: ResponseExitsDep,
) -> AsyncIterator[ServerSentEvent]:
    """One event per piece of text as the model writes it, then `done` with the usage. The
    model's stream is opened on `exits`, which close it with the response: at once when the
    client leaves, whether this generator is waiting on the model or on its reader."""
    messages = conversations.messages(body.session_id, body.message)
    try:
        stream = await exits.enter_async_context(model.stream(client, settings, SYSTEM, messages))
        async for text in stream.text_stream:
            yield ServerSentEvent(data={"text": text})
        answer = await stream.get_final_message()
    except ModelUnavailable as error:  # the answer has begun (200): an error event ends it
        yield ServerSentEvent(event="error", data=error.body())
        return
    reply = "".join(block.text for block in answer.content if block.type == "text")
    conversations.record(body.session_id, body.message, reply)
    ledger.record(answer.usage)
    usage = {"input_tokens": answer.usage.input_tokens, "output_tokens": answer.usage.output_tokens}
    yield ServerSentEvent(event="done", data={"session_id": body.session_id, "usage": usage})
