"""A live WebSocket for dashboards, authenticated before the handshake is accepted.

A browser cannot set headers on a WebSocket, so a dashboard first asks for a ticket over HTTP
(with its API key, scope `readings:read`), then opens `/live?ticket=...`. The ticket is single-use
and lives 30 seconds: URLs end up in logs. Without a valid ticket, the app refuses the handshake,
and the client gets an HTTP 403 instead of a WebSocket. The service is examples/api_keys.py's.
Module 5's lesson (section "WebSockets") includes parts of this file. The tests run the app on a
real uvicorn server too. Run them with `pytest examples/websocket_auth.py`.
"""

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from api_keys import ApiKey, create_app, hash_key, require_scope
from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket, WebSocketException, status
from fastapi.testclient import TestClient
from rate_limit_windows import FakeClock
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


# --8<-- [start:tickets]
class Tickets:
    """Single-use tickets that open the live feed: short-lived, since they travel in a URL."""

    def __init__(self, lifetime: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime, self.clock = lifetime, clock
        self.pending: dict[str, tuple[str, float]] = {}  # hash of the ticket: (owner, expiry)

    def issue(self, owner: str) -> str:
        now = self.clock()
        self.pending = {h: entry for h, entry in self.pending.items() if entry[1] > now}
        ticket = secrets.token_urlsafe(32)
        self.pending[hash_key(ticket)] = (owner, now + self.lifetime)
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """The ticket's owner, once: a ticket that was used, or has expired, opens nothing."""
        owner, expiry = self.pending.pop(hash_key(ticket), (None, 0.0))
        return owner if expiry > self.clock() else None


# --8<-- [end:tickets]


# --8<-- [start:live]
router = APIRouter(prefix="/live")


@router.post("/tickets", status_code=status.HTTP_201_CREATED)
def issue_ticket(
    dashboard: Annotated[ApiKey, Depends(require_scope("readings:read"))], request: Request
) -> dict[str, str | float]:
    tickets = request.app.state.tickets
    return {"ticket": tickets.issue(dashboard.owner), "expires_in": tickets.lifetime}


@router.websocket("")
async def live(websocket: WebSocket, ticket: str = "") -> None:
    """Answers each sensor name the dashboard sends with that sensor's latest reading."""
    dashboard = websocket.app.state.tickets.redeem(ticket)
    if dashboard is None:  # before accept(): the handshake is refused, with an HTTP 403
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "A valid ticket is required")
    await websocket.accept()
    async for sensor in websocket.iter_text():
        readings = [r for r in websocket.app.state.readings if r.sensor == sensor]
        latest = readings[-1].model_dump() if readings else None
        await websocket.send_json({"sensor": sensor, "latest": latest, "for": dashboard})


# --8<-- [end:live]


# --8<-- [start:late]
@router.websocket("/late")
async def live_checked_too_late(websocket: WebSocket, ticket: str = "") -> None:
    """The mistake, kept for contrast: the handshake is accepted before the ticket is checked."""
    await websocket.accept()  # the client now holds an open WebSocket
    if websocket.app.state.tickets.redeem(ticket) is None:
        await websocket.close(status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.send_json({"welcome": True})


# --8<-- [end:late]


def create_live_app(operator_key: str) -> FastAPI:
    """examples/api_keys.py's service, with the live feed."""
    app = create_app(operator_key)
    app.state.tickets = Tickets()
    app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory websocket_auth:app_from_environment`: the operator's key comes
    from the environment, as a setting would."""
    return create_live_app(os.environ["METRICS_OPERATOR_KEY"])


OPERATOR_KEY = "mtr_" + secrets.token_urlsafe(32)


CO2 = {"sensor": "co2", "value": 612.0}


def key_for(http: httpx.Client | TestClient, owner: str, scope: str) -> dict[str, str]:
    """Has the operator issue a key; returns the header that sends it."""
    body = {"owner": owner, "scopes": [scope]}
    key = http.post("/keys", json=body, headers={"X-Metrics-Key": OPERATOR_KEY}).json()["key"]
    return {"X-Metrics-Key": key}


def dashboard_ticket(http: httpx.Client | TestClient) -> str:
    """A device sends a reading; a dashboard gets a ticket for the live feed."""
    http.post("/readings", json=CO2, headers=key_for(http, "sensor-hall-3", "readings:write"))
    response = http.post("/live/tickets", headers=key_for(http, "wall-screen", "readings:read"))
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_live_app(OPERATOR_KEY))


def test_a_ticket_opens_the_feed_once(client: TestClient) -> None:
    ticket = dashboard_ticket(client)
    with client.websocket_connect(f"/live?ticket={ticket}") as feed:
        feed.send_text("co2")
        answer = feed.receive_json()
    assert answer["latest"]["value"] == 612.0 and answer["for"] == "wall-screen"
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"/live?ticket={ticket}"):
            pass
    assert refused.value.code == 1008  # used once already


def test_an_expired_ticket_opens_nothing() -> None:
    clock = FakeClock(100.0)
    tickets = Tickets(lifetime=30, clock=clock)
    ticket = tickets.issue("wall-screen")
    clock.now = 130.0
    assert tickets.redeem(ticket) is None


def test_a_ticket_needs_a_dashboard_key(client: TestClient) -> None:
    assert client.post("/live/tickets").status_code == 401
    device = key_for(client, "sensor-hall-3", "readings:write")
    assert client.post("/live/tickets", headers=device).status_code == 403


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Callable[[], str]]]:
    """The app on a real uvicorn, access log off. Yields its address and a function that returns
    everything the server has printed so far."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "websocket_auth:app_from_environment", "--factory",
        "--app-dir", str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log",
    ]  # fmt: skip
    environment = os.environ | {"METRICS_OPERATOR_KEY": OPERATOR_KEY}
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
        try:
            deadline = time.monotonic() + 20
            while True:  # ready once it accepts a TCP connection
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("uvicorn did not start") from None
                    time.sleep(0.05)

            def printed() -> str:
                output.seek(0)
                return output.read()

            yield f"127.0.0.1:{port}", printed
        finally:
            process.terminate()
            process.wait(timeout=10)


# --8<-- [start:server_tests]
def test_without_a_ticket_the_handshake_gets_a_403_and_no_websocket(server) -> None:
    address, _ = server
    for url in (f"ws://{address}/live", f"ws://{address}/live?ticket=made-up"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=10)  # never opens: no message can arrive
        assert refused.value.response.status_code == 403


def test_with_a_ticket_the_handshake_is_a_101_and_the_feed_answers(server) -> None:
    address, _ = server
    with httpx.Client(base_url=f"http://{address}") as http:
        ticket = dashboard_ticket(http)
    with connect(f"ws://{address}/live?ticket={ticket}", open_timeout=10) as feed:
        assert feed.response.status_code == 101
        feed.send("co2")
        assert '"value":612.0' in feed.recv(timeout=10)


def test_accepting_first_opens_a_websocket_for_anyone(server) -> None:
    address, _ = server
    with connect(f"ws://{address}/live/late?ticket=made-up", open_timeout=10) as feed:
        assert feed.response.status_code == 101  # a WebSocket, for a stranger
        with pytest.raises(ConnectionClosed) as closed:
            feed.recv(timeout=10)
    assert closed.value.rcvd.code == 1008


def test_the_ticket_reaches_the_servers_log_even_without_an_access_log(server) -> None:
    address, printed = server
    with pytest.raises(InvalidStatus):
        connect(f"ws://{address}/live?ticket=this-string-is-logged", open_timeout=10)
    # uvicorn writes the line before it answers the handshake, so it is there by now
    assert '"WebSocket /live?ticket=this-string-is-logged" 403' in printed()


# --8<-- [end:server_tests]
