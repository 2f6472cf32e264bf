"""Checks of a service under load: the capstone's last stage, with locust (grader/services/load.py).

Two runs serve every check here. The project runs under gunicorn from its own
gunicorn.conf.py (one worker), on the grader's fake model, which takes LATENCY seconds to begin
each answer, with the help desk's notes stored. For SECONDS seconds, users send `POST /rag/ask`,
each question in turn: STEADY of them with a key of their own, each thinking THINK seconds between
an answer and its next question, which never come near their limit, and GREEDY sharing one key,
back to back, which reaches it (RATE_LIMIT_PER_MINUTE = LIMIT) and then wait as their 429's
Retry-After says; meanwhile the grader probes readiness every PROBE_EVERY seconds, as a platform
does, and reads the worker's memory before and after. Four checks judge a side each of that run.
Then the outage run, the fifth check's: STEADY users with new keys ask for 3 × PHASE seconds, and
the grader stops the fake model after PHASE, asks for readiness and chats meanwhile, and starts it
again after 2 × PHASE.

The runs happen on the first check's turn, and every check here runs alone (`grader.alone`), after
the project's other checks: what it measures is the app's time, not theirs. LATENCY is not scaled:
it is what keeps the app's own CPU time (about 20 ms a question here, a few ms where the fork
server embedded the question ahead, several times that on a busy machine) small beside the
model's, at every time scale; SECONDS is.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import weakref
from dataclasses import dataclass

import httpx

from grader import LabContext, scaled
from grader.checks import assistant
from grader.checks.api_keys import KeyedApi
from grader.evidence import raised_in
from grader.expect import observed
from grader.failures import CheckFailure
from grader.fakes.anthropic import Call, FakeAnthropic, fake_anthropic, texts
from grader.helpdesk import MIN_RELEVANCE, QUESTIONS
from grader.procfs import resident_bytes
from grader.runner import Startups
from grader.server import LabServer
from grader.services.load import LoadRun, Plan, Seat, Sent, chart, percentile, run_load

LATENCY = 0.5
"""Seconds the fake model takes to begin each answer."""
SECONDS = min(40, max(5, round(scaled(20))))
"""How long the users send, in whole seconds (locust's unit): under the rate limit's minute."""
STEADY = 6
"""Users with a key each."""
THINK = LATENCY
"""Seconds a steady user waits between an answer and its next question."""
GREEDY = 4
"""Users sharing one key, sending back to back."""
RAMP = 2.0
"""Seconds over which the users start, the steady ones first: ten questions arriving in the same
instant would measure a queue the run itself made."""
LIMIT = math.floor(SECONDS / (LATENCY + THINK)) + 2
"""RATE_LIMIT_PER_MINUTE: more than a steady user can send in SECONDS (each of its questions
takes LATENCY and THINK at least); the greedy users reach it within about LIMIT / GREEDY ×
LATENCY seconds."""
P95_BOUND = 4 * LATENCY
"""The slowest a 95th-percentile answer may be. A worker that serves others while one question
waits for the model answers in about LATENCY, plus its queue for the CPU; one that waits for each
answer before it takes the next request makes the users' requests queue behind one another
(about STEADY + GREEDY times LATENCY)."""
PHASE = max(3.0, scaled(4.0))
"""Seconds of each part of the outage run: the model up, stopped, up again. Never under 3: a
question sent in the first half of the outage then has 1.5 s at least to be refused, its retrieval
and its turn in the worker's queue included, on a machine as busy as it may be."""
OUTAGE_KEYS = 3
"""Keys each user of the outage run sends in turn: with the quick 503s, a user sends more than
LIMIT questions in that run, and a key of its own would reach the limit."""
RECOVERY = assistant.PROBE + assistant.PROBE_SLACK
"""Seconds readiness may take to answer, and to turn 200 again once the model is back."""
PROBE_EVERY = 0.1
"""Seconds between the readiness probes the grader sends during the first run, whatever their
answers: a platform's probes (every few seconds, for hours), compressed into the run's seconds."""
MIB = 1024 * 1024
GROWTH_FLOOR = 12 * MIB
GROWTH_PER_REQUEST = 128 * 1024
"""The worker's resident memory may grow over the first run by the larger of GROWTH_FLOOR and
GROWTH_PER_REQUEST per answered request (questions and probes). Measured here: the reference
solution's worker grows by 2 MiB over the run at CI's scale and 4 MiB at scale 1, in the run's
first seconds, while its thread pool and connections fill, and then stays flat; a worker that
keeps a client per probe (a TLS context and a connection pool each) grows by 0.9 MiB a probe:
34 MiB at CI's scale, 132 MiB at scale 1."""
PATH = "/rag/ask"
QUESTION_LIST = list(QUESTIONS)


def answering(call: Call, words: int) -> str:
    """The fake model's reply: it names the question it answers, so an answer given to another
    request shows."""
    messages = [m for m in call.body.get("messages") or [] if isinstance(m, dict)]
    asked = " ".join(texts(messages[-1].get("content", ""))) if messages else ""
    return f"Answering: {asked}"


@dataclass(frozen=True)
class Observed:
    """A load run, and what the model API saw meanwhile."""

    run: LoadRun
    most_at_once: int
    """The most questions the model was answering at the same time."""
    greedy_seats: range
    memory: Memory
    app_output: list[str]
    outage: Outage

    @property
    def situation(self) -> str:
        return (
            f"POST {PATH} from {STEADY + GREEDY} users (locust) for {SECONDS} s: {STEADY} with a "
            f"key each, waiting {THINK:g} s between questions, and {GREEDY} sharing one, back to "
            f"back; the model taking {LATENCY:g} s to answer; RATE_LIMIT_PER_MINUTE={LIMIT}; "
            "one gunicorn worker"
        )

    def answered(self) -> list[Sent]:
        return [r for r in self.run.requests if r.status is not None]


@dataclass
class Memory:
    """The worker's resident memory around the first run, and the readiness probes sent in it."""

    worker: int
    """The worker's pid when the run began."""
    before: int | None = None
    """Bytes, once the worker was warm; None if the worker was gone."""
    after: int | None = None
    """Bytes, once the run and its probes were over; None if that worker was gone by then."""
    probes_sent: int = 0
    probes_answered: int = 0


@dataclass
class Outage:
    """The outage run, and what the grader saw while the model was down."""

    run: LoadRun | None = None
    stopped: float = 0.0
    """When the model was stopped, and started again (`time.monotonic()`)."""
    restarted: float = 0.0
    ready_down: httpx.Response | None = None
    """GET /admin/ready with the model stopped; None if it took more than RECOVERY."""
    chat_failure: CheckFailure | None = None
    """How the chat sent with the model stopped failed to end in an error event, if it did."""
    ready_again: float | None = None
    """Seconds from the restart until GET /admin/ready answered 200; None if not within
    RECOVERY."""

    def sent_between(self, start: float, end: float) -> list[Sent]:
        """The outage run's requests sent between two moments of the monotonic clock."""
        assert self.run is not None
        return [r for r in self.run.requests if start <= self.run.started + r.at < end]


@dataclass
class _Shared:
    """The load run of one grading, shared by its checks."""

    first: str | None = None
    observed: Observed | None = None
    failure: CheckFailure | None = None


_shared: weakref.WeakKeyDictionary[Startups, _Shared] = weakref.WeakKeyDictionary()


async def load_run(lab: LabContext, api: KeyedApi) -> Observed:
    """This grading's load run: made on the first check's turn, read by the others. A run that
    failed fails every check with the same report."""
    shared = _shared.setdefault(lab.startups, _Shared())
    if shared.observed is not None:
        return shared.observed
    if shared.failure is not None:
        raise CheckFailure(shared.failure.report, hint=shared.failure.hint)
    if shared.first is not None:
        raise CheckFailure(f"The load run, made by {shared.first}, did not finish: see there.")
    shared.first = lab.check.name
    try:
        shared.observed = await _run(lab, api)
    except CheckFailure as failure:
        shared.failure = failure
        raise
    title = f"POST {PATH} under load: {STEADY + GREEDY} users, one worker, the model {LATENCY:g} s"
    lab.attach("load.svg", chart(shared.observed.run, P95_BOUND, title))
    return shared.observed


async def _run(lab: LabContext, api: KeyedApi) -> Observed:
    with fake_anthropic() as model:
        model.latency, model.reply_to = LATENCY, answering
        env = {
            **model.settings, "MIN_RELEVANCE": str(MIN_RELEVANCE),
            "RATE_LIMIT_PER_MINUTE": str(LIMIT), "PROBE_TIMEOUT_SECONDS": str(assistant.PROBE),
        }  # fmt: skip
        async with lab.server(env, gunicorn_workers=1) as app:
            async with app.client() as client:
                await assistant.store(client)
                keys = [await api.key_for(client, "ask", owner=f"load-{n}") for n in range(STEADY)]
                shared = await api.key_for(client, "ask", owner="load-greedy")
                later = [
                    await api.key_for(client, "ask", owner=f"outage-{n}")
                    for n in range(STEADY * OUTAGE_KEYS)
                ]
                # The route works (or the check says how not), and the worker is warm.
                await asyncio.gather(*(assistant.ask(client, q) for q in QUESTION_LIST))
                for _ in range(2):
                    await assistant.answer_within(client.get("/admin/ready"), RECOVERY)
            seats = [Seat(key, think=THINK) for key in keys] + [Seat(shared)] * GREEDY
            bodies: list[object] = [{"question": question} for question in QUESTION_LIST]
            plan = Plan("POST", PATH, bodies, seats, SECONDS, ramp=RAMP)
            memory = Memory(app.worker_pids()[-1])
            memory.before = resident_bytes(memory.worker)
            with lab.graders_own_time(), lab.folder() as folder:
                run = await run_load(
                    plan, app.url, folder, meanwhile=lambda: _probe_readiness(app, memory)
                )
            memory.after = resident_bytes(memory.worker)
            most_at_once = model.most_at_once
            outage = Outage()
            seats = [
                Seat(later[n], also=tuple(later[n + 1 : n + OUTAGE_KEYS]), think=THINK)
                for n in range(0, len(later), OUTAGE_KEYS)
            ]
            plan = Plan("POST", PATH, bodies, seats, math.ceil(3 * PHASE))
            with lab.graders_own_time(), lab.folder() as folder:
                outage.run = await run_load(
                    plan, app.url, folder, meanwhile=lambda: _model_down(app, model, outage)
                )
            output = list(app.output.lines)
    return Observed(run, most_at_once, range(STEADY, STEADY + GREEDY), memory, output, outage)


async def _probe_readiness(app: LabServer, memory: Memory) -> None:
    """GET /admin/ready every PROBE_EVERY seconds until a second before the users stop, each probe
    given RECOVERY seconds to answer; then until every probe has answered or given up."""
    end = time.monotonic() + SECONDS - 1.0
    async with app.client() as client:
        probes: list[asyncio.Task[httpx.Response | None]] = []
        while time.monotonic() < end:
            probe = assistant.answer_within(client.get("/admin/ready"), RECOVERY)
            probes.append(asyncio.ensure_future(probe))
            await asyncio.sleep(PROBE_EVERY)
        answers = await asyncio.gather(*probes, return_exceptions=True)
    memory.probes_sent = len(probes)
    memory.probes_answered = sum(isinstance(answer, httpx.Response) for answer in answers)


async def _model_down(app: LabServer, model: FakeAnthropic, outage: Outage) -> None:
    """While the outage run's users ask: the model stopped after PHASE seconds, readiness and a
    chat meanwhile, the model started again after 2 × PHASE, and readiness until it is 200."""
    began = time.monotonic()
    await asyncio.sleep(PHASE)
    model.stop()
    outage.stopped = time.monotonic()
    async with app.client() as client:
        outage.ready_down = await assistant.answer_within(client.get("/admin/ready"), RECOVERY)
        chatted = "POST /chat/message, the model API stopped"
        try:
            await asyncio.wait_for(assistant.expect_error_event(client, chatted), RECOVERY)
        except TimeoutError:
            outage.chat_failure = observed(
                f"Sent {chatted}",
                f"no end to the stream in {RECOVERY:g} s",
                "a stream ending at once with `event: error`: the model API refused the connection",
            )
        except CheckFailure as failure:
            outage.chat_failure = failure
        await asyncio.sleep(max(0.0, began + 2 * PHASE - time.monotonic()))
        model.start()
        outage.restarted = time.monotonic()
        while time.monotonic() - outage.restarted < RECOVERY:
            ready = await assistant.answer_within(client.get("/admin/ready"), RECOVERY)
            if ready is not None and ready.status_code == 200:
                outage.ready_again = time.monotonic() - outage.restarted
                return
            await asyncio.sleep(0.05)


def shown(request: Sent) -> str:
    asked = json.dumps({"question": QUESTION_LIST[request.body]})
    return f"POST {PATH} with {asked} at {request.at:.1f} s"


# --- Every request answered, and answered right ---


async def answers_every_request(lab: LabContext, api: KeyedApi) -> None:
    load = await load_run(lab, api)
    answered = load.answered()
    failed = [r for r in answered if r.status not in (200, 429)]
    if failed:
        statuses = sorted({r.status for r in failed})
        first = failed[0]
        got = "a failed connection" if first.status == 0 else f"{first.status} {first.text[:300]}"
        raise observed(
            f"Sent {load.situation}",
            f"{len(failed)} of {len(answered)} answers with status {statuses} "
            f"(0: no HTTP answer); the first, to {shown(first)}: {got}" + raised(lab, load),
            "only 200 and, for the shared key past its limit, 429",
        )
    wrong = [r for r in answered if r.status == 200 and not right_answer(r)]
    if wrong:
        one_each = {r.body: r for r in reversed(wrong)}  # the first wrong answer to each question
        examples = "\n  ".join(
            f"{shown(r)}: {r.text[:300]}" for r in sorted(one_each.values(), key=lambda r: r.at)
        )
        raise observed(
            f"Sent {load.situation}",
            f"{len(wrong)} of {len(answered)} answers that belong to another question; the first "
            "to each question:\n  " + examples,
            "each answer the model's reply to its own question (`Answering: <the question>`), "
            "with that question's sources: what one request keeps between two awaits must be its "
            "own, never shared with the requests served meanwhile",
        )


def right_answer(request: Sent) -> bool:
    question = QUESTION_LIST[request.body]
    try:
        body = json.loads(request.text)
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and body.get("answer") == f"Answering: {question}"
        and body.get("sources") == QUESTIONS[question]
    )


def raised(lab: LabContext, load: Observed) -> str:
    """What the app raised while answering, as the report shows it under a 5xx."""
    return "\n" + "\n".join(raised_in(load.app_output, lab.source, lab.shown_as).lines)


# --- Answers as fast as the model allows ---


async def p95_follows_the_model(lab: LabContext, api: KeyedApi) -> None:
    load = await load_run(lab, api)
    times = [r.took for r in load.answered() if r.status == 200 and r.took is not None]
    late = load.run.unanswered_after(P95_BOUND)  # slower than the bound, whenever they end
    if not times and not late:
        raise observed(f"Sent {load.situation}", "no answer with status 200", "answers")
    slowest = percentile(times + [math.inf] * len(late), 95)
    if slowest < math.inf:
        lab.record_timing(f"p95 of POST {PATH} under load", slowest)
    if slowest > P95_BOUND:
        answered = (
            f"{len(times)} answered (median {percentile(times, 50):.2f} s, slowest "
            f"{max(times):.2f} s)"
            if times
            else "none answered"
        )
        raise observed(
            f"Sent {load.situation}",
            "a 95th percentile of "
            + ("more than the run itself" if slowest == math.inf else f"{slowest:.2f} s")
            + f": {answered}, and {len(late)} still unanswered at the end though sent more than "
            f"{P95_BOUND:g} s before; the model was answering at most {load.most_at_once} "
            "question(s) at once",
            f"at most {P95_BOUND:g} s ({P95_BOUND / LATENCY:g} × the model's {LATENCY:g} s): "
            "while one question waits for the model, the worker serves the others; a blocking "
            "call makes every request wait for the one before it",
        )


# --- The limit holds for each key under load ---


async def limit_holds_under_load(lab: LabContext, api: KeyedApi) -> None:
    load = await load_run(lab, api)
    shared = [r for r in load.answered() if r.seat in load.greedy_seats]
    allowed = [r for r in shared if r.status == 200]
    if len(shared) <= LIMIT:
        lab.note(
            f"The load run's shared key sent {len(shared)} requests, not more than its limit "
            f"({LIMIT}): the machine was too slow for the limit to be tested under load."
        )
    if len(allowed) > LIMIT:
        refused = sum(1 for r in shared if r.status == 429)
        raise observed(
            f"Sent {load.situation}",
            f"{len(allowed)} answers 200 to the {GREEDY} users sharing one key (and {refused} "
            f"429), of {len(shared)} requests, all within {load.run.seconds:.0f} s",
            f"at most {LIMIT} in the minute: each request is counted as it arrives, before it "
            "is answered, so that requests in flight at once cannot all pass the limit",
        )


# --- Memory that stays bounded ---


async def memory_stays_bounded(lab: LabContext, api: KeyedApi) -> None:
    load = await load_run(lab, api)
    memory = load.memory
    if memory.before is None or memory.after is None:
        lab.note(
            f"The worker (pid {memory.worker}) was gone before the second reading of its "
            "memory: gunicorn replaced it (max_requests?), so its memory was not judged."
        )
        return
    handled = len(load.answered()) + memory.probes_answered
    allowed = max(GROWTH_FLOOR, GROWTH_PER_REQUEST * handled)
    grew = memory.after - memory.before
    if grew > allowed:
        raise observed(
            f"Sent {load.situation}, and GET /admin/ready every {PROBE_EVERY:g} s meanwhile "
            f"({memory.probes_sent} probes)",
            f"the worker's resident memory (VmRSS) grew from {memory.before / MIB:.1f} MiB to "
            f"{memory.after / MIB:.1f} MiB: {grew / MIB:.1f} MiB more, over {handled} answered "
            f"requests ({grew / max(handled, 1) / 1024:.0f} KiB each)",
            f"at most {allowed / MIB:.1f} MiB more (the larger of {GROWTH_FLOOR // MIB} MiB and "
            f"{GROWTH_PER_REQUEST // 1024} KiB per answered request): memory that grows with "
            "every request is held by something made per request and kept, such as a client "
            "(each holds a TLS context and a pool of connections), a cache without a bound, or "
            "a list that only grows",
        )


# --- The model going away, and coming back ---

SETTLE = 0.2
"""Seconds after the model's stop whose questions are not judged: those in flight as it stopped.
Judged are those sent from then to the middle of the outage: each must be answered before the
model is back, PHASE / 2 seconds later at the least. An app that waits for the model, or retries
until it is back, answers none of them in time."""


async def survives_the_model_going_away(lab: LabContext, api: KeyedApi) -> None:
    load = await load_run(lab, api)
    outage = load.outage
    assert outage.run is not None
    during = (
        f"POST {PATH} from {STEADY} users (locust, new keys) for {3 * PHASE:g} s, the model API "
        f"stopped after {PHASE:g} s and started again after {2 * PHASE:g} s"
    )
    midpoint = (outage.stopped + outage.restarted) / 2
    down = outage.sent_between(outage.stopped + SETTLE, midpoint)
    unclean = [r for r in down if not clean_error(r, outage.restarted - outage.run.started)]
    if unclean:
        first = unclean[0]
        raise observed(
            f"Sent {during}",
            f"{len(unclean)} of the {len(down)} questions sent in the first half of its outage "
            f"answered otherwise; the first, {shown(first)}: {got(first)}" + raised(lab, load),
            f"503 before the model is back ({PHASE / 2:g} s after the question at the least), "
            'with the error body and "error_code": "MODEL_UNAVAILABLE": a model API that '
            "refuses connections is down, and the client is told so at once",
        )
    if outage.ready_down is None:
        raise observed(
            f"Sent GET /admin/ready during {during}, once it had stopped",
            f"no answer in {RECOVERY:g} s",
            "503 at once: a refused connection is a clear answer",
        )
    assistant.expect_readiness(outage.ready_down, 503, "degraded", "stopped, under load")
    if outage.chat_failure is not None:
        raise outage.chat_failure
    if outage.ready_again is None:
        raise observed(
            f"Sent GET /admin/ready during {during}, once it had started again",
            f"no 200 within {RECOVERY:g} s",
            "200 again as soon as the model API answers: readiness asks it on every probe",
        )
    back = outage.restarted + outage.ready_again
    sent = outage.sent_between(back, math.inf)
    after = [r for r in sent if r.status is not None]  # how long they took is the p95's business
    if sent and not after:
        lab.note(
            f"None of the {len(sent)} questions sent once /admin/ready said 200 again was "
            "answered by the end of the outage run: the model's return was judged by readiness "
            "alone."
        )
    wrong = [r for r in after if r.status != 200]
    if wrong:
        first = wrong[0]
        raise observed(
            f"Sent {during}",
            f"{len(wrong)} of the {len(after)} questions sent once /admin/ready said 200 again "
            f"answered otherwise; the first, {shown(first)}: {got(first)}",
            "200, as before the model stopped: nothing in the app may stay broken once the "
            "model API is back (a client to make again, a flag to reset)",
        )


def got(request: Sent) -> str:
    """What came back to one request of the outage run, as a report shows it."""
    return "no answer" if request.status is None else f"{request.status} {request.text[:300]}"


def clean_error(request: Sent, back: float) -> bool:
    """503 MODEL_UNAVAILABLE, answered before `back` (seconds into the run)."""
    try:
        body = json.loads(request.text)
    except ValueError:
        return False
    return (
        request.status == 503
        and request.took is not None
        and request.at + request.took < back
        and isinstance(body, dict)
        and body.get("error_code") == "MODEL_UNAVAILABLE"
    )
