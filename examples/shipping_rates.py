"""Shipping rates from a carrier whose API fails now and then: retries, done carefully.

A rate quote is a GET: asking twice changes nothing, so it is safe to retry. What to retry is
decided by `is_retryable` (failures that may pass: a refused or reset connection, 429, 502, 503,
504, never a 4xx such as 400 or 404), how long to wait by `Backoff` (exponential, each pause twice
the previous, jitter within ±10 %, at least what `Retry-After` asks), and when to stop by a cap on
attempts and on time. The same policy is written twice, with tenacity and with stamina, next to
the hand-written loop that gets it wrong.

Module 6's lesson (sections "Retries" and "Retry libraries") includes parts of this file. Run its
tests with `pytest examples/shipping_rates.py`: they record the pauses instead of sleeping them.
"""

import asyncio
import email.utils
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import stamina
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from travel_upstreams import Supplier, running

Sleep = Callable[[float], Awaitable[None]]


class Rate(BaseModel):
    carrier: str
    price: float


# --8<-- [start:retryable]
RETRYABLE_STATUSES = {429, 502, 503, 504}  # busy, or a gateway that could not reach the carrier


def is_retryable(error: BaseException) -> bool:
    """Could the same request succeed if sent again? Only for a request that is safe to repeat."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in RETRYABLE_STATUSES  # never 400, 401, 404, 422...
    return isinstance(error, httpx.TransportError)  # refused, reset, timed out: no answer came


def retry_after(error: BaseException | None, now: float | None = None) -> float | None:
    """The seconds a 429 or 503 asks us to wait, from `Retry-After: 3` or an HTTP date."""
    if not isinstance(error, httpx.HTTPStatusError):
        return None
    value = error.response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None  # absent, or not a form we know: fall back on our own backoff
    return max(0.0, moment - (time.time() if now is None else now))


# --8<-- [end:retryable]


# --8<-- [start:backoff]
@dataclass(frozen=True)
class Backoff:
    """Pause n (from 1) is first × factor^(n-1), times a random factor within ±jitter.

    With factor 2 and jitter 0.1, a pause is always at least 2 × 0.9 / 1.1 ≈ 1.64 times the one
    before it. A `Retry-After` longer than the pause wins: the upstream knows when it will be back.
    """

    first: float = 0.5
    factor: float = 2.0
    jitter: float = 0.1

    def pause(self, retry: int) -> float:
        spread = random.uniform(1 - self.jitter, 1 + self.jitter)
        return self.first * self.factor ** (retry - 1) * spread

    def __call__(self, state: RetryCallState) -> float:  # tenacity's `wait` protocol
        error = state.outcome.exception() if state.outcome else None
        return max(self.pause(state.attempt_number), retry_after(error) or 0.0)


ATTEMPTS = 4  # the first call and three retries: pauses of about 0.5, 1 and 2 s
BUDGET = 6.0  # seconds: no pause starts that would end after this, counted from the first call
# --8<-- [end:backoff]


async def quote(client: httpx.AsyncClient, postcode: str) -> Rate:
    response = await client.get("/rates", params={"to": postcode})
    response.raise_for_status()
    return Rate.model_validate(response.json())


# --8<-- [start:naive]
async def shipping_rate_naive(
    client: httpx.AsyncClient, postcode: str, sleep: Sleep = asyncio.sleep
) -> Rate:
    """The hand-written loop, and what is wrong with it."""
    for attempt in range(5):
        try:
            return await quote(client, postcode)
        except Exception:  # a 404, a 400 and our own bugs are "retried" too
            await sleep(2**attempt)  # the same pauses for every client, and one after the last try
    raise RuntimeError("no shipping rate")  # the carrier's actual error is lost


# --8<-- [end:naive]


# --8<-- [start:tenacity]
async def shipping_rate(
    client: httpx.AsyncClient, postcode: str, sleep: Sleep = asyncio.sleep
) -> Rate:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),  # anything else is raised at once
        wait=Backoff(),
        stop=stop_after_attempt(ATTEMPTS) | stop_before_delay(BUDGET),
        reraise=True,  # when it gives up, the last error itself, not tenacity's RetryError
        sleep=sleep,
    ):
        with attempt:
            return await quote(client, postcode)
    raise AssertionError("unreachable: the last attempt returns or raises")


# --8<-- [end:tenacity]


# --8<-- [start:stamina]
def retry_hook(error: Exception) -> bool | float:
    """stamina's backoff hook: False gives up; a number is the pause to take instead of its own."""
    if not is_retryable(error):
        return False
    return retry_after(error) or True


async def shipping_rate_stamina(client: httpx.AsyncClient, postcode: str) -> Rate:
    async for attempt in stamina.retry_context(
        on=retry_hook,
        attempts=ATTEMPTS,
        timeout=BUDGET,
        wait_initial=0.5,
        wait_exp_base=2,
        wait_jitter=0.05,  # stamina adds 0 to 0.05 s: never less, and within 10 % of every pause
    ):
        with attempt:
            return await quote(client, postcode)
    raise AssertionError("unreachable: the last attempt returns or raises")


# --8<-- [end:stamina]


class Pauses(list[float]):
    """A `sleep` for tenacity that writes the pause down instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def carrier() -> Supplier:
    supplier = Supplier()
    supplier.route("/rates", body={"carrier": "Parcelo", "price": 7.9})
    return supplier


# --8<-- [start:tests]
@pytest.mark.asyncio
@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_a_passing_failure_is_retried_after_growing_pauses(carrier, status) -> None:
    carrier.route("/rates", statuses=[status, status, 200], body={"carrier": "P", "price": 7.9})
    pauses = Pauses()
    with running(carrier) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await shipping_rate(client, "1100-148", sleep=pauses)).price == 7.9
    assert len(carrier.calls) == 3 and len(pauses) == 2
    assert 0.45 <= pauses[0] <= 0.55 and pauses[1] >= 1.5 * pauses[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_client_error_is_never_retried(carrier, status) -> None:
    carrier.route("/rates", statuses=[status])
    pauses = Pauses()
    with running(carrier) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            with pytest.raises(httpx.HTTPStatusError):
                await shipping_rate(client, "1100-148", sleep=pauses)
    assert len(carrier.calls) == 1 and pauses == []


@pytest.mark.asyncio
async def test_the_attempts_are_capped_and_the_last_error_comes_through(carrier) -> None:
    carrier.route("/rates", statuses=[503])
    pauses = Pauses()
    with running(carrier) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            with pytest.raises(httpx.HTTPStatusError, match="503"):
                await shipping_rate(client, "1100-148", sleep=pauses)
    assert len(carrier.calls) == ATTEMPTS and len(pauses) == ATTEMPTS - 1  # no pause at the end


@pytest.mark.asyncio
async def test_retry_after_is_honoured_and_a_refused_connection_retried(carrier) -> None:
    carrier.route("/rates", statuses=[429, 200], retry_after="3", body={"carrier": "P", "price": 1})
    pauses = Pauses()
    with running(carrier) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            await shipping_rate(client, "1100-148", sleep=pauses)
    assert pauses == [3.0]  # longer than our own first pause: the carrier's word wins
    async with httpx.AsyncClient(base_url=url) as client:  # the server has stopped: refused
        with pytest.raises(httpx.ConnectError):
            await shipping_rate(client, "1100-148", sleep=pauses)
    assert len(pauses) == 1 + ATTEMPTS - 1


@pytest.mark.asyncio
async def test_the_hand_written_loop_retries_a_404_and_sleeps_after_the_last_try(carrier) -> None:
    carrier.route("/rates", statuses=[404])
    pauses = Pauses()
    with running(carrier) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            with pytest.raises(RuntimeError):
                await shipping_rate_naive(client, "1100-148", sleep=pauses)
    assert len(carrier.calls) == 5 and pauses == [1, 2, 4, 8, 16]  # 31 s for a certain "no"


@pytest.mark.asyncio
async def test_stamina_follows_the_same_policy(carrier) -> None:
    carrier.route("/rates", statuses=[503, 503, 200], body={"carrier": "P", "price": 7.9})
    with stamina.set_testing(True, attempts=ATTEMPTS, cap=True):  # no pauses in tests
        with running(carrier) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                assert (await shipping_rate_stamina(client, "1100-148")).price == 7.9
                carrier.route("/rates", statuses=[404])
                with pytest.raises(httpx.HTTPStatusError, match="404"):
                    await shipping_rate_stamina(client, "1100-148")
    assert [call.status for call in carrier.calls] == [503, 503, 200, 404]


# --8<-- [end:tests]


# --8<-- [start:defaults_tests]
def tenacity_pauses(wait: Callable[[RetryCallState], float], retries: int) -> list[float]:
    pauses = []
    for number in range(1, retries + 1):
        state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = number
        pauses.append(wait(state))
    return pauses


def grows_by_the_rule(pauses: list[float]) -> bool:
    return all(later >= 1.5 * earlier for earlier, later in zip(pauses, pauses[1:], strict=False))


def test_library_defaults_break_a_rule_of_1_5_times_the_previous_pause() -> None:
    random.seed(6)
    defaults = [tenacity_pauses(wait_exponential_jitter(), 3) for _ in range(200)]
    assert not all(grows_by_the_rule(pauses) for pauses in defaults)  # 1 s + up to 1 s of jitter
    ours = [tenacity_pauses(Backoff(), 3) for _ in range(200)]
    assert all(grows_by_the_rule(pauses) for pauses in ours)
    stamina_defaults = inspect.signature(stamina.retry_context).parameters
    assert (stamina_defaults["wait_initial"].default, stamina_defaults["wait_jitter"].default) == (
        0.1,
        1.0,  # first pause 0.1 to 1.1 s, second 0.2 to 1.2 s: it can be shorter than the first
    )
    assert (stamina_defaults["attempts"].default, stamina_defaults["timeout"].default) == (10, 45.0)


# --8<-- [end:defaults_tests]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def refused(value: str) -> httpx.HTTPStatusError:
        request = httpx.Request("GET", "http://carrier/rates")
        response = httpx.Response(429, headers={"Retry-After": value}, request=request)
        return httpx.HTTPStatusError("429", request=request, response=response)

    assert retry_after(refused("7")) == 7.0
    now = time.time()
    assert retry_after(refused(email.utils.formatdate(now + 30, usegmt=True)), now=now) == (
        pytest.approx(30, abs=1)
    )
    assert retry_after(refused("soon")) is None and retry_after(ValueError()) is None
