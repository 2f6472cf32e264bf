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
    # TODO 2c: the model remembers nothing: send the session's turns so far, then the new message
    # (conversations.messages), and record the exchange once it has been answered in full.
    messages = [{"role": "user", "content": body.message}]
    try:
        # TODO 2a: this waits for the whole answer and sends it as one event. Stream it instead
        # (model.stream): one event `{"text": ...}` per piece of text, as each arrives. Open the
        # stream on `exits` (exits.enter_async_context): they close it with the response, the
        # moment the client leaves.
        answer = await model.complete(client, settings, SYSTEM, messages)
    except ModelUnavailable as error:  # the answer has begun (200): an error event ends it
        yield ServerSentEvent(event="error", data=error.body())
        return
    reply = "".join(block.text for block in answer.content if block.type == "text")
    yield ServerSentEvent(data={"text": reply})
    # TODO 2b: end with `event: done`, its data {"session_id": ..., "usage": {"input_tokens": ...,
    # "output_tokens": ...}}, the usage the model reported for the whole answer.
    # TODO 5b: and record that usage with the ledger (ledger.record).
