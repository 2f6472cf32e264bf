"""/ws: a WebSocket that greets the user its token names."""

from fastapi import APIRouter, WebSocket, status

from app.dependencies import SettingsDep
from app.errors import NotAuthenticated
from app.services import tokens

router = APIRouter()


@router.websocket("/ws")
async def hello(websocket: WebSocket, settings: SettingsDep, token: str = "") -> None:
    # TODO (task 4): refuse an unauthenticated client before the handshake is accepted.
    await websocket.accept()
    try:
        username = tokens.subject(token, settings)
    except NotAuthenticated:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.send_json({"hello": username})
    await websocket.close()
