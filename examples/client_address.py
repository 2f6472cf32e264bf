"""Who is the client? Behind uvicorn's proxy-headers support, a request from a trusted address
may name another client in `X-Forwarded-For`, and by default uvicorn trusts the loopback
addresses: anything on the same machine can claim to be anyone.

Module 2's lesson (page "Rate limiting") includes parts of this file. Run it with
`pytest examples/client_address.py`.
"""

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

app = FastAPI()


@app.get("/whoami")
async def whoami(request: Request) -> dict[str, str]:
    return {"client": request.client.host}


async def client_seen(trusted: str, sender: str, forwarded_for: str) -> str:
    """The client address the app sees, for a request from `sender` that names another one."""
    behind_uvicorn = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # as uvicorn wraps it
    transport = httpx.ASGITransport(app=behind_uvicorn, client=(sender, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/whoami", headers={"X-Forwarded-For": forwarded_for})
    return response.json()["client"]


# --8<-- [start:tests]
def test_uvicorn_trusts_forwarded_headers_from_loopback_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    config = uvicorn.Config(app)  # what `uvicorn module:app` runs with
    assert config.proxy_headers
    assert config.forwarded_allow_ips == "127.0.0.1,::1"


@pytest.mark.asyncio
async def test_a_trusted_sender_chooses_the_client_address() -> None:
    loopback = "127.0.0.1,::1"
    assert await client_seen(loopback, "::1", forwarded_for="203.0.113.7") == "203.0.113.7"
    assert await client_seen(loopback, "192.0.2.10", forwarded_for="203.0.113.7") == "192.0.2.10"
    assert await client_seen("", "::1", forwarded_for="203.0.113.7") == "::1"  # trust nobody


# --8<-- [end:tests]
