"""Every log line of a request carries its request id, wherever it was written: in the endpoint,
in a service function, on a worker thread, in a background task. And no line ever carries a
secret: a filter redacts credentials and personal data before the formatter sees them.

The app is a box office: `POST /events/{event_id}/bookings` holds seats, renders the tickets on
a thread, archives the receipt on an executor, and emails the tickets after the response.

Module 8's lesson includes parts of this file. Run it with `pytest examples/ticket_logs.py`.
"""

import asyncio
import contextvars
import io
import json
import logging
import re
import time
import uuid
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("box_office")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
"""The id of the request being served; None outside any request (Module 2)."""

TRUSTED_ID = re.compile(r"[A-Za-z0-9-]{8,64}")


class RequestIds:
    """Takes a plain incoming X-Request-ID or makes one, sets it for the request, returns it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        value = incoming if TRUSTED_ID.fullmatch(incoming) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = value
            await send(message)

        token = request_id.set(value)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


# --8<-- [start:redaction]
SENSITIVE_KEYS = {"authorization", "cookie", "set-cookie", "x-api-key", "password", "token"}
PERSONAL_KEYS = {"email", "phone", "name", "address", "card_number"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")


def redact(value: Any) -> Any:
    """A copy of `value` with sensitive fields replaced, at any depth."""
    if isinstance(value, dict):
        return {
            key: "[redacted]" if key.lower() in SENSITIVE_KEYS | PERSONAL_KEYS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return BEARER.sub(r"\1 [redacted]", EMAIL.sub("[email]", value))
    return value


class Redaction(logging.Filter):
    """The safety net: scrubs every record's fields and message before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(fields := getattr(record, "fields", None), dict):
            record.fields = redact(fields)
        record.msg, record.args = redact(record.getMessage()), None
        return True


# --8<-- [end:redaction]


# --8<-- [start:formatter]
class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id, whoever logged it, on any thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: an event name, the request id, and the fields given."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{record.msecs:03.0f}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(stream: io.TextIOBase) -> None:
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(Redaction())  # on the handler: it sees every record, from every logger
    handler.setFormatter(JsonLines())
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


# --8<-- [end:formatter]


# --8<-- [start:app]
class Booking(BaseModel):
    email: str
    seats: int


def hold_seats(event_id: int, seats: int) -> list[str]:
    """The service layer: it knows nothing of requests, and its lines still carry the id."""
    held = [f"{event_id}-A{n}" for n in range(1, seats + 1)]
    logger.info("seats_held", extra={"fields": {"event_id": event_id, "seats": seats}})
    return held


def render_tickets(seat_ids: list[str]) -> bytes:
    """Blocking work (a PDF library, say): run on a worker thread."""
    logger.info("tickets_rendered", extra={"fields": {"tickets": len(seat_ids)}})
    return b"%PDF-" + ",".join(seat_ids).encode()


def archive_receipt(event_id: int) -> None:
    logger.info("receipt_archived", extra={"fields": {"event_id": event_id}})


async def email_tickets(address: str, pdf: bytes) -> None:
    await asyncio.sleep(0)  # stands for the mail provider's API
    logger.info("tickets_emailed", extra={"fields": {"email": address, "bytes": len(pdf)}})


app = FastAPI()
app.add_middleware(RequestIds)


@app.post("/events/{event_id}/bookings", status_code=201)
async def book(
    event_id: int, booking: Booking, request: Request, background_tasks: BackgroundTasks
) -> dict[str, int]:
    held = hold_seats(event_id, booking.seats)
    pdf = await asyncio.to_thread(render_tickets, held)  # copies the context: id kept
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, archive_receipt, event_id)  # no copy: id lost
    context = contextvars.copy_context()
    await loop.run_in_executor(None, context.run, archive_receipt, event_id)  # copied: kept
    background_tasks.add_task(email_tickets, booking.email, pdf)  # runs inside the request
    # A careless line: headers and body as they came. The filter keeps it harmless.
    logger.info(
        "booking_debug",
        extra={"fields": {"headers": dict(request.headers), "booking": booking.model_dump()}},
    )
    return {"event_id": event_id, "seats": len(held)}


# --8<-- [end:app]


# --8<-- [start:tests]
def book_two_seats(output: io.StringIO) -> tuple[str, list[dict[str, Any]]]:
    configure_logging(output)
    with TestClient(app) as client:  # runs the background task before returning
        response = client.post(
            "/events/42/bookings",
            json={"email": "ada@example.com", "seats": 2},
            headers={"Authorization": "Bearer s3cr3t-t0ken", "X-Request-ID": "bad id!"},
        )
    assert response.status_code == 201
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return response.headers["x-request-id"], lines


def test_every_line_of_the_request_carries_its_id_except_run_in_executor() -> None:
    rid, lines = book_two_seats(io.StringIO())
    assert re.fullmatch(r"[0-9a-f]{32}", rid)  # "bad id!" was not trusted: a new one was made
    seen = [(line["event"], line["request_id"]) for line in lines]
    assert seen == [
        ("seats_held", rid),  # a service function
        ("tickets_rendered", rid),  # asyncio.to_thread
        ("receipt_archived", None),  # loop.run_in_executor: the context was not copied
        ("receipt_archived", rid),  # run_in_executor with copy_context().run
        ("booking_debug", rid),
        ("tickets_emailed", rid),  # a background task, after the response
    ]
    assert request_id.get() is None


def test_no_line_carries_a_token_or_an_email_address() -> None:
    output = io.StringIO()
    _, lines = book_two_seats(output)
    text = output.getvalue()
    assert "s3cr3t-t0ken" not in text and "ada@example.com" not in text
    debug = next(line for line in lines if line["event"] == "booking_debug")
    assert debug["headers"]["authorization"] == "[redacted]"
    assert debug["booking"] == {"email": "[redacted]", "seats": 2}
    emailed = next(line for line in lines if line["event"] == "tickets_emailed")
    assert emailed["email"] == "[redacted]"


def test_the_filter_scrubs_messages_as_well_as_fields() -> None:
    assert redact("login failed for ada@example.com") == "login failed for [email]"
    assert redact("sent Authorization: Bearer abc.def") == "sent Authorization: Bearer [redacted]"
    assert redact({"user": {"Password": "hunter2", "id": 7}}) == {
        "user": {"Password": "[redacted]", "id": 7}
    }


# --8<-- [end:tests]
