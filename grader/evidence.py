"""What explains a failure, shown under it as CodeCrafters' testers show the program's own output
beside each step: the traceback behind a 5xx the app answered, a coroutine it created but never
awaited (Python warns of it), and how to start the app and send the same requests by hand.

Evidence names the learner's own files and lines; it never replaces what the check observed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from grader.apptrace import learner_frames, tracebacks
from grader.failures import AppDidNotStart, CheckFailure
from grader.reproduce import carries, requests_by_hand
from grader.server import LabServer

NEVER_AWAITED = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+): RuntimeWarning: coroutine '(?P<name>[^']+)' was never awaited"
)
OUTPUT_SHOWN = 8
UVICORN_ACCESS = re.compile(r'^INFO:\s+\S+ - "')
TRACEBACK_START = "Traceback (most recent call last):"


@dataclass(frozen=True)
class Evidence:
    lines: list[str]
    """What to show under the failure, indented by the report."""
    hint: str | None = None
    """Advice the evidence calls for, in place of the check's own hint."""


def server_of(response: httpx.Response, servers: Iterable[LabServer]) -> LabServer | None:
    """The server that sent `response`, among a check's servers."""
    return next((s for s in servers if s.port == response.url.port), None)


def written_out(lines: list[str]) -> list[str]:
    """The lines, each traceback that a JSON log line carries in a field (`"exception": "Traceback
    (most recent call last):\n..."`) written out after it, as Python prints one."""
    out = []
    for line in lines:
        out.append(line)
        if not (line.startswith("{") and TRACEBACK_START in line):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out += [
                text
                for value in record.values()
                if isinstance(value, str) and value.startswith(TRACEBACK_START)
                for text in value.splitlines()
            ]
    return out


def raised_for(response: httpx.Response, server: LabServer) -> Evidence:
    """The traceback the app printed after `response`'s request arrived (or logged, in a JSON
    line), its learner frames first; or, if it printed none, what it printed meanwhile."""
    printed = server.output.lines[server.output_mark(response.request) :]
    return raised_in(printed, server.source, server.shown_as)


def raised_in(printed: list[str], source: Path, shown_as: str) -> Evidence:
    """The first traceback in `printed` that passes through the learner's files (else the first
    one), as those files' lines and the exception; or, if there is none, the last lines printed."""
    blocks = tracebacks(written_out(printed))
    ours = [block for block in blocks if learner_frames(block[0], shown_as)]
    if not (ours or blocks):
        own = [line for line in printed if not UVICORN_ACCESS.match(line)][-OUTPUT_SHOWN:]
        said = ["Your app printed no traceback for it" + (", only:" if own else ".")]
        return Evidence(said + [f"  {line}" for line in own])
    frame_lines, exception = (ours or blocks)[0]
    frames = learner_frames(frame_lines, shown_as)
    shown = [f"  {frame.describe(source, shown_as)}" for frame in frames]
    if not frames:
        shown.append("  (raised outside your files: in FastAPI, Starlette or a library)")
    shown += [f"  {line}" for line in exception]
    return Evidence(["Your app raised, while answering it:", *shown])


def never_awaited(servers: Iterable[LabServer]) -> Evidence | None:
    """Coroutines the app created and dropped: a call that was meant to be awaited."""
    found: dict[str, str] = {}  # where: the coroutine's name
    for server in servers:
        lines = server.output.lines
        for number, line in enumerate(lines):
            if match := NEVER_AWAITED.match(line):
                code = lines[number + 1].strip() if number + 1 < len(lines) else ""
                found[f"  {match['file']}, line {match['line']}: {code}"] = match["name"]
    if not found:
        return None
    names = ", ".join(dict.fromkeys(found.values()))
    return Evidence(
        [f"Python warned that a coroutine ({names}) was never awaited, at:", *found],
        hint=f"Calling a coroutine function such as {names}(...) only creates a coroutine: "
        "nothing runs, and nothing waits, until you `await` it.",
    )


def for_failure(responses: Iterable[httpx.Response], servers: list[LabServer]) -> Evidence | None:
    """The evidence for a failure about `responses`: the app's traceback for the first 5xx among
    them, and any coroutine it never awaited."""
    found: list[Evidence] = []
    for response in responses:
        if response.status_code >= 500 and (server := server_of(response, servers)):
            found.append(raised_for(response, server))
            break
    if dropped := never_awaited(servers):
        found.append(dropped)
    if not found:
        return None
    hint = next((evidence.hint for evidence in found if evidence.hint), None)
    return Evidence([line for evidence in found for line in evidence.lines], hint)


def explain(failure: CheckFailure, servers: list[LabServer]) -> None:
    """Add to `failure` what the app printed that explains it, and how to reproduce it by hand
    (`servers`: every server its check started)."""
    if isinstance(failure, AppDidNotStart):
        failure.details = [
            f"The grader started it with {failure.launch.settings()}. To see it yourself:",
            *(f"  {line}" for line in failure.launch.command()),
        ]
        return
    found = for_failure(failure.responses, servers)
    if found is not None:
        failure.details += found.lines
        failure.hint = found.hint or failure.hint
    answered = failure.responses[:1]
    if answered and (server := server_of(answered[0], servers)):
        requests = [response.request for response in failure.responses]
        keyed = any(carries(request, server.headers) for request in requests)
        failure.details += [
            "To see it yourself, start your app as the grader did, then send the same "
            + ("requests:" if len(requests) > 1 else "request:"),
            *(f"  {line}" for line in server.launch.command()),
            *(f"  {line}" for line in (server.headers_by_hand if keyed else ())),
            *(
                f"  {line}"
                for line in requests_by_hand(requests, failure.concurrent, server.headers)
            ),
        ]
