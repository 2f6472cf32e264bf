"""Staff passwords for a metrics service: argon2id through pwdlib, slow on purpose, off the loop.

The directory keeps only hashes; signing in costs one hash whether the name exists or not, and
hashes made with older parameters are upgraded at the next sign-in. The app hashes in worker
threads, a few at a time. Module 5's lesson (section "Passwords") includes parts of this file;
examples/token_endpoint.py signs staff in with it. Run it with
`pytest examples/password_hashing.py`.
"""

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from anyio import CapacityLimiter, to_thread
from fastapi import Depends, FastAPI, HTTPException, Request, status
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import BaseModel, ConfigDict, Field


# --8<-- [start:directory]
@dataclass
class StaffMember:
    username: str
    password_hash: str  # "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>": parameters, salt, hash


class StaffDirectory:
    def __init__(self, hasher: PasswordHash | None = None) -> None:
        self.hasher = hasher or PasswordHash.recommended()  # argon2id, argon2-cffi's defaults
        self.members: dict[str, StaffMember] = {}
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))  # nobody's password

    def register(self, username: str, password: str) -> StaffMember:
        member = StaffMember(username, self.hasher.hash(password))  # a new random salt each time
        self.members[username] = member
        return member

    def authenticate(self, username: str, password: str) -> StaffMember | None:
        member = self.members.get(username)
        if member is None:
            self.hasher.verify(password, self.dummy_hash)  # as slow as a wrong password
            return None
        valid, upgraded = self.hasher.verify_and_update(password, member.password_hash)
        if not valid:
            return None
        if upgraded is not None:  # made with older parameters: rehash while we know the password
            member.password_hash = upgraded
        return member


# --8<-- [end:directory]


class NewStaff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    password: str = Field(min_length=12, max_length=1024)  # a bound: hashing a megabyte is work


# --8<-- [start:app]
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # At most two hashes at a time: one per core here. Each holds 64 MiB while it runs, and the
    # default thread pool would run 40 at once (2.5 GiB), each slower for the others.
    app.state.hashing = CapacityLimiter(2)
    yield


app = FastAPI(lifespan=lifespan)
app.state.staff = StaffDirectory()


def get_staff(request: Request) -> StaffDirectory:
    return request.app.state.staff


StaffDep = Annotated[StaffDirectory, Depends(get_staff)]


@app.post("/staff", status_code=status.HTTP_201_CREATED)
async def register(new: NewStaff, staff: StaffDep, request: Request) -> dict[str, str]:
    if new.username in staff.members:  # in a database, a unique constraint settles races too
        raise HTTPException(status.HTTP_409_CONFLICT, "This username is taken")
    await to_thread.run_sync(
        staff.register, new.username, new.password, limiter=request.app.state.hashing
    )
    return {"username": new.username}


# --8<-- [end:app]


class Watched:
    """Wraps a PasswordHash: for each call, records how many turns the event loop took while it
    ran, and how many calls were running at once."""

    def __init__(self, hasher: PasswordHash, turns: Callable[[], int]) -> None:
        self.hasher, self.turns = hasher, turns
        self.turns_during: list[int] = []
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()  # calls may come from several worker threads

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.hasher, name)

        def watched(*args: Any) -> Any:
            before = self.turns()
            with self.lock:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                return method(*args)
            finally:
                with self.lock:
                    self.running -= 1
                self.turns_during.append(self.turns() - before)

        return watched


PASSWORD = "correct horse battery staple"


# --8<-- [start:hash_tests]
def test_a_hash_names_its_parameters_and_is_salted() -> None:
    staff = StaffDirectory()
    ada, grace = staff.register("ada", PASSWORD), staff.register("grace", PASSWORD)
    assert ada.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert ada.password_hash != grace.password_hash  # same password, different salts
    assert staff.authenticate("ada", PASSWORD) is ada
    assert staff.authenticate("ada", PASSWORD.upper()) is None


def test_an_unknown_name_costs_a_hash_too() -> None:
    staff = StaffDirectory()
    staff.register("ada", PASSWORD)
    staff.hasher = watched = Watched(staff.hasher, turns=lambda: 0)
    assert staff.authenticate("ada", "wrong password") is None
    assert staff.authenticate("nobody", "wrong password") is None
    assert len(watched.turns_during) == 2  # one argon2 verify each


def test_a_hash_with_older_parameters_is_upgraded_at_sign_in() -> None:
    staff = StaffDirectory()
    old = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19_456, parallelism=1),))
    staff.members["ada"] = StaffMember("ada", old.hash(PASSWORD))
    assert staff.members["ada"].password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert staff.authenticate("ada", PASSWORD) is not None
    assert staff.members["ada"].password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


# --8<-- [end:hash_tests]


# --8<-- [start:loop_tests]
async def run_with_a_ticking_loop(work: Callable[[StaffDirectory], Any]) -> list[int]:
    """Runs `work` while a task counts the event loop's turns; returns the turns seen during
    each hash."""
    turns = 0

    async def tick() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    staff = StaffDirectory()
    staff.hasher = watched = Watched(staff.hasher, turns=lambda: turns)
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        await work(staff)
    finally:
        ticker.cancel()
    return watched.turns_during


@pytest.mark.asyncio
async def test_hashing_in_a_coroutine_stops_the_whole_event_loop() -> None:
    async def on_the_loop(staff: StaffDirectory) -> None:
        staff.register("ada", PASSWORD)

    assert await run_with_a_ticking_loop(on_the_loop) == [0]  # nothing else ran meanwhile


@pytest.mark.asyncio
async def test_hashing_in_a_worker_thread_lets_the_loop_run() -> None:
    async def off_the_loop(staff: StaffDirectory) -> None:
        await to_thread.run_sync(staff.register, "ada", PASSWORD)

    [turns] = await run_with_a_ticking_loop(off_the_loop)
    assert turns > 0  # argon2 releases the GIL: the loop kept serving


# --8<-- [end:loop_tests]


@pytest.mark.asyncio
async def test_the_app_hashes_two_at_a_time_however_many_register() -> None:
    staff = app.state.staff = StaffDirectory()
    staff.hasher = watched = Watched(staff.hasher, turns=lambda: 0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            bodies = [{"username": f"staff{n}", "password": PASSWORD} for n in range(6)]
            responses = await asyncio.gather(*(client.post("/staff", json=b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 6
    assert watched.most_at_once <= 2 and len(staff.members) == 6
