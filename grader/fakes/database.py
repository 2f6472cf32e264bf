"""A database the app depends on, as far as its probes can tell: a TCP service on 127.0.0.1 that a
check stops and starts again on the same port.

Stopped, it refuses connections at once, as a database that is down does: its port stays reserved
by a socket bound but not listening, so no other process takes it meanwhile and the app's
settings stay right. Started, it accepts every connection and holds it until the client closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

HOST = "127.0.0.1"


def _socket() -> socket.socket:
    """Sockets that may share a port while no more than one of them listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


class Database:
    def __init__(self) -> None:
        self._reserved = _socket()
        self._reserved.bind((HOST, 0))
        self.host = HOST
        self.port: int = self._reserved.getsockname()[1]
        self.connections = 0
        """Connections accepted so far."""
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    @property
    def settings(self) -> dict[str, str]:
        """DATABASE_HOST and DATABASE_PORT, for the app's environment."""
        return {"DATABASE_HOST": self.host, "DATABASE_PORT": str(self.port)}

    async def start(self) -> None:
        if self._server is None:
            listener = _socket()
            listener.bind((HOST, self.port))
            self._server = await asyncio.start_server(self._hold, sock=listener)

    async def stop(self) -> None:
        """Refuse connections from now on, and close those open."""
        if self._server is not None:
            self._server.close()
            for writer in self._clients:
                writer.close()
            await asyncio.gather(*self._clients.values())  # each ends on its connection's end
            await self._server.wait_closed()
            self._server = None

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._clients[writer] = asyncio.current_task()  # type: ignore[assignment]
        try:
            with contextlib.suppress(ConnectionError):
                while await reader.read(4096):
                    pass
        finally:
            del self._clients[writer]
            writer.close()

    def close(self) -> None:
        self._reserved.close()


@contextlib.asynccontextmanager
async def database(*, up: bool = True) -> AsyncIterator[Database]:
    """A database, accepting connections if `up`, gone when the block ends."""
    db = Database()
    try:
        if up:
            await db.start()
        yield db
    finally:
        await db.stop()
        db.close()
