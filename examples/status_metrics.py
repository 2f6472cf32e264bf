"""A pure ASGI middleware that sees how every request ended: its status, from the message
that starts the response, and its duration, recorded in `finally:` so that a request whose
endpoint raised is counted too (as the 500 the client gets).

Module 2's lesson (page "Request ids and JSON logs") includes parts of this file. Run it with
`pytest examples/status_metrics.py`.
"""

import time
from collections import Counter

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send


# --8<-- [start:middleware]
class Metrics:
    """Responses by route and status, and the time they took: what a /metrics page would show."""

    def __init__(self) -> None:
        self.responses: Counter[tuple[str, int]] = Counter()
        self.seconds = 0.0


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the client gets if the app raises before it answers

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:  # also when the app raised: the exception travels on, after this
            route = scope.get("route")  # the matched route's template, not the raw path
            self.metrics.responses[(getattr(route, "path", "unmatched"), status)] += 1
            self.metrics.seconds += time.perf_counter() - began


# --8<-- [end:middleware]


metrics = Metrics()
app = FastAPI()
app.add_middleware(MetricsMiddleware, metrics=metrics)


@app.get("/parcels/{parcel_id}")
async def parcel(parcel_id: int) -> dict[str, int]:
    if parcel_id == 13:
        raise RuntimeError("the sorting office lost it")
    return {"id": parcel_id}


# --8<-- [start:tests]
def test_every_request_is_counted_by_route_and_status() -> None:
    client = TestClient(app, raise_server_exceptions=False)
    for path in ["/parcels/1", "/parcels/2", "/parcels/x", "/parcels/13", "/nowhere"]:
        client.get(path)
    assert metrics.responses == {
        ("/parcels/{parcel_id}", 200): 2,
        ("/parcels/{parcel_id}", 422): 1,
        ("/parcels/{parcel_id}", 500): 1,  # the endpoint raised: no status was ever sent
        ("unmatched", 404): 1,
    }
    assert metrics.seconds > 0


# --8<-- [end:tests]
