"""The app under a real gunicorn master, as a deployment runs it (Lab 10).

A master itself starts through `LabContext.server(gunicorn_workers=N)`, like any server of the app
(grader/server.py): on a sandbox copy, from the fork server, in a process group the grader stops.
Here is what checks need beside it: the configuration gunicorn loads from the learner's
gunicorn.conf.py, judged by its values rather than its text; the master's worker processes; and
connections whose requests the check writes itself, to pipeline them and to know when the worker
has read them.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

from grader.failures import CheckFailure
from grader.reproduce import described
from grader.runner import LabContext
from grader.server import HOST

SETTING = re.compile(r"^(\w+)\s+= (.*)$")
READ_WAIT = 5.0
"""Seconds a worker may take to read a request already sent: real seconds, a bound far above
what reading takes on a busy machine."""


async def loaded_config(lab: LabContext, env: dict[str, str | None]) -> dict[str, str]:
    """Every setting as gunicorn resolves it from gunicorn.conf.py with `env`, values as gunicorn
    prints them (`gunicorn --print-config`): `{"workers": "3", "bind": "['127.0.0.1:8123']"}`."""
    command = ["gunicorn", "--print-config", "-c", "gunicorn.conf.py", lab.lab.app]
    status, lines = await lab.run_to_end(command, env)
    settings = dict(match.groups() for line in lines if (match := SETTING.match(line)))
    if status != 0 or "workers" not in settings:
        shown = "\n  ".join(lines[-15:]) or "(nothing)"
        said = "did not finish" if status is None else f"exited with status {status}"
        raise CheckFailure(
            f"Ran {' '.join(command)} with {described(env)}\n"
            f"Got no configuration: gunicorn {said}, printing:\n  {shown}\n"
            f"Expected gunicorn to load gunicorn.conf.py and print every setting"
        )
    return settings


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One HTTP/1.1 connection to 127.0.0.1:`port`, whose requests the check writes itself: it may
    send several before any answer (pipelining), and wait until the server has read them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.local_port: int = writer.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection(HOST, port))

    async def send(self, *paths: str) -> None:
        """GET each of `paths`, one after another on this connection, without waiting."""
        for path in paths:
            self._writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await self._writer.drain()

    async def response(self) -> Response | None:
        """The next response, or None if the server closed the connection first."""
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in filter(None, header_lines):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            body = await self._reader.readexactly(int(headers.get("content-length", 0)))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return Response(int(status_line.split()[1]), headers, body)

    async def until_read(self, server_port: int) -> bool:
        """Wait until the server has read everything sent on this connection (its receive queue,
        as /proc/net/tcp shows it, is empty): the requests have reached the app, and a shutdown
        now counts them in flight. False if that did not happen within READ_WAIT seconds."""
        deadline = time.monotonic() + READ_WAIT
        while time.monotonic() < deadline:
            if receive_queue(server_port, self.local_port) == 0:
                return True
            await asyncio.sleep(0.01)
        return False

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass


def receive_queue(server_port: int, client_port: int) -> int | None:
    """Bytes the server's end of the connection from `client_port` holds unread; None if there
    is no such connection."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[1], 16)
    return None
