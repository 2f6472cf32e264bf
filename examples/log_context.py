"""A value for the whole of one request, in every log line, without passing it around: a
ContextVar set by a middleware, read by a log filter, written out as one JSON object per line.

Here the value is the shop a request is for, the first label of its host name
(`acme.shops.example` is shop "acme"), as in apps that serve each customer on a subdomain.

Module 2's lesson (page "Request ids and JSON logs") includes parts of this file. Run it with
`pytest examples/log_context.py`.
"""

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import BackgroundTasks, FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("shops")


# --8<-- [start:contextvar]
shop: ContextVar[str | None] = ContextVar("shop", default=None)
"""The shop of the request being served; None outside any request."""


class ShopMiddleware:
    """Sets `shop` for everything the request runs, and puts back the previous value after."""

    def __init__(self, app: ASGIApp, domain: str) -> None:
        self.app = app
        self.suffix = "." + domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "").partition(":")[0]
        name = host.removesuffix(self.suffix) if host.endswith(self.suffix) else None
        token = shop.set(name)
        try:
            await self.app(scope, receive, send)
        finally:
            shop.reset(token)


# --8<-- [end:contextvar]


# --8<-- [start:formatter]
class ShopFilter(logging.Filter):
    """Stamps each record with the current request's shop, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.shop = shop.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; structured fields come in `extra={"fields": {...}}`."""

    converter = time.gmtime  # times in UTC, whatever the server's time zone

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{record.msecs:03.0f}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "shop": getattr(record, "shop", None),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)  # one field, not 40 lines
        return json.dumps(entry)


def configure_logging(stream: io.TextIOBase) -> None:
    handler = logging.StreamHandler(stream)
    handler.addFilter(ShopFilter())
    handler.setFormatter(JsonFormatter())
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


# --8<-- [end:formatter]


# --8<-- [start:app]
async def send_invoice(order_id: int) -> None:
    await asyncio.sleep(0.01)
    logger.info("invoice sent", extra={"fields": {"order_id": order_id}})


async def tidy_up_hourly() -> None:
    while True:
        logger.info("tidying up")
        await asyncio.sleep(3600)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    tidying = asyncio.create_task(tidy_up_hourly())  # started outside any request
    yield
    tidying.cancel()


app = FastAPI(lifespan=lifespan)
app.add_middleware(ShopMiddleware, domain="shops.example")
running: set[asyncio.Task[None]] = set()  # keeps references to tasks until they are done


@app.post("/orders/{order_id}")
async def place_order(order_id: int, background_tasks: BackgroundTasks) -> dict[str, int]:
    await asyncio.sleep(0.01)  # another request can run meanwhile, with its own shop
    logger.info("order placed", extra={"fields": {"order_id": order_id}})
    background_tasks.add_task(send_invoice, order_id)
    task = asyncio.create_task(send_invoice(order_id + 1000))  # copies the request's context
    running.add(task)
    task.add_done_callback(running.discard)
    return {"order_id": order_id}


# --8<-- [end:app]


# --8<-- [start:tests]
@pytest.mark.asyncio
async def test_each_log_line_carries_its_own_requests_shop() -> None:
    output = io.StringIO()
    configure_logging(output)
    async with LifespanManager(app) as running_app:  # the lifespan, as a server runs it
        transport = httpx.ASGITransport(app=running_app.app)
        async with httpx.AsyncClient(transport=transport) as client:
            await asyncio.gather(  # two shops' requests at once, on one event loop
                client.post("http://acme.shops.example/orders/1"),
                client.post("http://globex.shops.example/orders/2"),
            )
        await asyncio.gather(*running)
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    logged = {(line["message"], line.get("order_id")): line["shop"] for line in lines}
    assert logged == {
        ("tidying up", None): None,  # the lifespan's task: no request, no shop
        ("order placed", 1): "acme",
        ("order placed", 2): "globex",
        ("invoice sent", 1): "acme",  # BackgroundTasks run inside the request's call
        ("invoice sent", 2): "globex",
        ("invoice sent", 1001): "acme",  # create_task copied the request's context
        ("invoice sent", 1002): "globex",
    }
    assert shop.get() is None  # the middleware put the old value back


# --8<-- [end:tests]
