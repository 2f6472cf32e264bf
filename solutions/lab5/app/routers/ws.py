"""/ws: a WebSocket that greets the user its token names.

The token is checked before the handshake is accepted: refused, the client gets an HTTP 403
instead of a connection, and no message ever reaches someone unauthenticated.
"""

from fastapi import APIRouter, WebSocket, status

from app.dependencies import SettingsDep
from app.errors import NotAuthenticated
from app.services import tokens

router = APIRouter()


@router.websocket("/ws")
async def hello(websocket: WebSocket, settings: SettingsDep, token: str = "") -> None:
    try:
        username = tokens.subject(token, settings)
    except NotAuthenticated:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)  # before accept(): a 403
        return
    await websocket.accept()
    await websocket.send_json({"hello": username})
    await websocket.close()
