"""A real load tool against a running app: locust, headless, as a team runs it before a release.

The grader writes a `Plan` (the request, its bodies, and one seat per user: the headers it sends)
and runs `locust --headless` on it for the plan's seconds, with the users of
grader/services/locust_users.py. What comes back is every request the users sent, each with its
answer or none (`Sent`), read from the users' own log, and locust's report: its CSV files
(statistics, their history second by second, failures), kept in the run's folder.

locust runs as the grader's own process, never the learner's: in a process group of its own,
killed when the run ends however it ends (and by Linux, should the grader die first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from html import escape
from pathlib import Path

from grader.launch import die_with_parent

USERS_FILE = Path(__file__).with_name("locust_users.py")
LOG_NAME = "requests.jsonl"
CSV_PREFIX = "locust"
"""locust's report: locust_stats.csv, locust_stats_history.csv, locust_failures.csv."""
OVERRUN = 30.0
"""Seconds locust may take beyond the plan's run (its start, its report) before it is killed."""


class LoadToolFailed(RuntimeError):
    """locust itself could not run the plan: the message ends with what it printed."""


@dataclass(frozen=True)
class Seat:
    """One user's place in the plan."""

    headers: Mapping[str, str]
    also: tuple[Mapping[str, str], ...] = ()
    """Other headers the user sends in turn with `headers`, one set per request: several keys
    sharing out one user's requests."""
    think: float = 0.0
    """Seconds between an answer and the user's next request."""
    waits_after_429: bool = True
    """Whether the user waits as a 429's Retry-After says before its next request."""


@dataclass(frozen=True)
class Plan:
    method: str
    path: str
    bodies: list[object]
    """The JSON bodies each user cycles through."""
    seats: list[Seat]
    """One per user, taken in order as locust starts them."""
    seconds: int
    ramp: float = 1.0
    """Seconds over which locust starts the users, at an even rate."""

    @property
    def users(self) -> int:
        return len(self.seats)


@dataclass(frozen=True)
class Sent:
    """One request of the run, and what came back."""

    seat: int
    body: int
    """Which of the plan's bodies."""
    at: float
    """Seconds from the start of the run to its sending."""
    took: float | None
    """Seconds to its whole answer; None if none came before the run ended."""
    status: int | None
    """The answer's status: 0 for a connection that failed; None if no answer came."""
    text: str
    """The start of the answer's body."""


@dataclass(frozen=True)
class LoadRun:
    plan: Plan
    requests: list[Sent]
    seconds: float
    """How long the users ran, from the first request sent to the end."""
    folder: Path
    """locust's CSV report."""
    started: float = 0.0
    """When the first request was sent, on the machine's monotonic clock (`time.monotonic()`,
    the same in every process): what `Sent.at` counts from."""

    def unanswered_after(self, seconds: float) -> list[Sent]:
        """Requests without an answer when the run ended, though sent more than `seconds`
        before: each took longer than that, at the least."""
        return [r for r in self.requests if r.took is None and self.seconds - r.at > seconds]


async def run_load(
    plan: Plan, url: str, folder: Path, meanwhile: Callable[[], Awaitable[None]] | None = None
) -> LoadRun:
    """Run `plan` against the app at `url`; locust's files go into `folder`. `meanwhile()`, if
    given, starts once the users have sent their first request, and must end before they do."""
    plan_file, log = folder / "plan.json", folder / LOG_NAME
    plan_file.write_text(json.dumps({**asdict(plan), "log": str(log)}), encoding="utf-8")
    command = [
        sys.executable, "-m", "locust", "--locustfile", str(USERS_FILE), "--headless",
        "--users", str(plan.users), "--spawn-rate", f"{plan.users / plan.ramp:g}", "--run-time",
        f"{plan.seconds}s", "--host", url, "--csv", CSV_PREFIX, "--csv-full-history",
        "--only-summary", "--stop-timeout", "0", "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=folder,
        env={**os.environ, "GRADER_LOAD_PLAN": str(plan_file)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=partial(die_with_parent, os.getpid()),
    )
    finished = asyncio.ensure_future(process.communicate())
    try:
        if meanwhile is not None:
            await _first_request(log, finished)
            await meanwhile()
        output, _ = await asyncio.wait_for(finished, plan.seconds + OVERRUN)
    except TimeoutError:
        raise LoadToolFailed(f"locust did not finish within {plan.seconds + OVERRUN:g} s") from None
    finally:
        finished.cancel()  # done by now, unless the run failed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    printed = output.decode(errors="replace")
    if process.returncode != 0 or not log.exists():
        raise LoadToolFailed(f"locust exited with status {process.returncode}:\n{printed}")
    return read_log(plan, log, folder)


async def _first_request(log: Path, finished: asyncio.Future[object]) -> None:
    """Wait until the users have logged their first request (or locust has ended)."""
    while not finished.done() and not (log.exists() and log.stat().st_size):
        await asyncio.sleep(0.01)


def read_log(plan: Plan, log: Path, folder: Path) -> LoadRun:
    """The users' log as requests, their times from the first request sent."""
    sent: dict[int, dict] = {}
    answered: dict[int, dict] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # the last line, cut when locust stopped its users
            continue
        (answered if "took" in entry else sent)[entry["number"]] = entry
    start = min((entry["sent"] for entry in sent.values()), default=0.0)
    end = max(
        [entry["sent"] for entry in sent.values()]
        + [sent[n]["sent"] + entry["took"] for n, entry in answered.items() if n in sent],
        default=start,
    )
    requests = [
        Sent(
            seat=entry["seat"],
            body=entry["body"],
            at=entry["sent"] - start,
            took=answered[number]["took"] if number in answered else None,
            status=answered[number]["status"] if number in answered else None,
            text=answered[number]["body"] if number in answered else "",
        )
        for number, entry in sorted(sent.items())
    ]
    return LoadRun(plan, requests, max(end - start, plan.seconds), folder, start)


# --- The run's latency over time, as a chart ---

CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 280, 48
TICK_STEPS = (0.25, 0.5, 1, 2, 5, 10, 30, 60)
"""Seconds between the latency axis's lines: the first giving six lines at most."""


def latency_over_time(run: LoadRun) -> list[tuple[int, float, float]]:
    """For each second of the run in which answers `200` ended: their median and 95th
    percentile."""
    ended: dict[int, list[float]] = {}
    for request in run.requests:
        if request.status == 200 and request.took is not None:
            ended.setdefault(int(request.at + request.took), []).append(request.took)
    return [
        (second, percentile(times, 50), percentile(times, 95))
        for second, times in sorted(ended.items())
    ]


def percentile(values: list[float], percent: float) -> float:
    """Nearest rank: the smallest value that `percent` % of `values` do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def chart(run: LoadRun, bound: float, title: str) -> str:
    """An SVG chart of `latency_over_time`, with the bound the answers were held to."""
    rows = latency_over_time(run)
    highest = max([bound * 1.25, *(p95 for _, _, p95 in rows)])
    step = next((s for s in TICK_STEPS if highest / s <= 6), TICK_STEPS[-1])
    top = math.ceil(highest / step) * step
    width, height = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN

    def x(second: float) -> float:
        return MARGIN + width * second / max(run.seconds, 1)

    def y(seconds: float) -> float:
        return MARGIN + height * (1 - min(seconds, top) / top)

    def line(points: list[tuple[float, float]], style: str) -> str:
        shown = " ".join(
            f"{x(s) + 0.5 * width / max(run.seconds, 1):.1f},{y(v):.1f}" for s, v in points
        )
        return f'<polyline fill="none" {style} points="{shown}"/>'

    ticks = [step * n for n in range(round(top / step) + 1)]
    every = max(1, math.ceil(run.seconds / 10))
    x_ticks = range(0, math.floor(run.seconds) + 1, every)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'role="img" font-family="sans-serif" font-size="12"><title>{escape(title)}</title>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{MARGIN}" y="20" font-size="14">{escape(title)}</text>',
        *(
            f'<line x1="{MARGIN}" x2="{MARGIN + width}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            f'stroke="#ddd"/><text x="{MARGIN - 6}" y="{y(t) + 4:.1f}" text-anchor="end">'
            f"{t:g} s</text>"
            for t in ticks
        ),
        *(
            f'<text x="{x(t):.1f}" y="{MARGIN + height + 16}" text-anchor="middle">{t}</text>'
            for t in x_ticks
        ),
        f'<text x="{MARGIN + width / 2}" y="{CHART_HEIGHT - 10}" text-anchor="middle">'
        "seconds into the run (answers by the second they ended)</text>",
        f'<line x1="{MARGIN}" x2="{MARGIN + width}" y1="{y(bound):.1f}" y2="{y(bound):.1f}" '
        f'stroke="#b00020" stroke-dasharray="6 4"/>'
        f'<text x="{MARGIN + width}" y="{y(bound) - 6:.1f}" text-anchor="end" fill="#b00020">'
        f"p95 bound {bound:g} s</text>",
        line([(s, p50) for s, p50, _ in rows], 'stroke="#1565c0" stroke-width="2"'),
        line([(s, p95) for s, _, p95 in rows], 'stroke="#e65100" stroke-width="2"'),
        f'<text x="{MARGIN + 8}" y="{MARGIN - 8}" fill="#1565c0">median</text>'
        f'<text x="{MARGIN + 70}" y="{MARGIN - 8}" fill="#e65100">95th percentile</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
