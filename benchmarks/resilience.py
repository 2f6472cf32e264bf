"""What Module 6's lesson claims about calling other services, measured on a real server.

The fake supplier of examples/travel_upstreams.py runs under uvicorn on 127.0.0.1, in a thread of
this process, and records every call. This script measures:

- timeline: four calls that each take 0.25 s upstream, made one after another, with
  asyncio.gather, and with gather behind asyncio.Semaphore(2): when each call started and ended,
  seen by the client, and the total;
- connections: 200 requests one after another, through one shared httpx.AsyncClient and through a
  new client per request: the TCP connections the supplier saw, the median time per request, and
  the sockets this machine holds in TIME_WAIT afterwards;
- retry storm: 50 callers of a supplier that always answers 503, with 1, 4 and 10 attempts each
  (10 is stamina's default): how many requests the struggling supplier receives.

Run:

    .venv/bin/python benchmarks/resilience.py [--runs 3]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from shipping_rates import Pauses, shipping_rate  # noqa: E402
from travel_upstreams import Supplier, running  # noqa: E402

CALLS, DELAY, CAP = 4, 0.25, 2


async def timeline(url: str) -> dict[str, tuple[list[tuple[float, float]], float]]:
    async with httpx.AsyncClient(base_url=url) as client:
        await client.get("/geocode")  # warm up: the connection, and the first-call costs
        began = 0.0
        spans: list[tuple[float, float]] = []

        async def call(number: int) -> None:
            start = time.perf_counter() - began
            (await client.get("/geocode", params={"n": number})).raise_for_status()
            spans.append((start, time.perf_counter() - began))

        semaphore = asyncio.Semaphore(CAP)

        async def capped(number: int) -> None:
            async with semaphore:
                await call(number)

        results = {}
        for name in ("one after another", "gather", f"gather, Semaphore({CAP})"):
            spans = []
            began = time.perf_counter()
            if name == "one after another":
                for number in range(CALLS):
                    await call(number)
            elif name == "gather":
                await asyncio.gather(*(call(number) for number in range(CALLS)))
            else:
                await asyncio.gather(*(capped(number) for number in range(CALLS)))
            results[name] = (sorted(spans), time.perf_counter() - began)
    return results


def time_wait_sockets(port: int) -> int:
    """Sockets in TIME_WAIT (state 06) to or from `port`, from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        ports = {int(local.split(":")[1], 16), int(remote.split(":")[1], 16)}
        count += state == "06" and port in ports
    return count


async def connections(url: str, supplier: Supplier, shared: bool) -> dict[str, float]:
    port = int(url.rsplit(":", 1)[1])
    before_calls, before_waiting = len(supplier.calls), time_wait_sockets(port)
    before_connections = supplier.connections
    times = []
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(200):
            began = time.perf_counter()
            if shared:
                (await client.get("/rates")).raise_for_status()
            else:
                async with httpx.AsyncClient(base_url=url) as own:
                    (await own.get("/rates")).raise_for_status()
            times.append(time.perf_counter() - began)
    assert len(supplier.calls) - before_calls == 200
    return {
        "connections": supplier.connections - before_connections,
        "median_ms": statistics.median(times) * 1000,
        "time_wait": time_wait_sockets(port) - before_waiting,
    }


async def storm(url: str, supplier: Supplier, attempts: int, callers: int = 50) -> int:
    import shipping_rates

    shipping_rates.ATTEMPTS = attempts  # the policy's cap, for this measurement only
    before = len(supplier.calls)
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=50)) as client:
        await asyncio.gather(
            *(shipping_rate(client, "1100-148", sleep=Pauses()) for _ in range(callers)),
            return_exceptions=True,
        )
    return len(supplier.calls) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, httpx {httpx.__version__}")
    supplier = Supplier()
    supplier.route("/geocode", delay=DELAY, body={"lat": 38.7, "lon": -9.1})
    supplier.route("/rates", body={"carrier": "Parcelo", "price": 7.9})
    with running(supplier) as url:
        totals: dict[str, list[float]] = {}
        for run in range(args.runs):
            for name, (spans, total) in asyncio.run(timeline(url)).items():
                totals.setdefault(name, []).append(total)
                if run == args.runs - 1:
                    shown = ", ".join(f"{a * 1000:.0f}–{b * 1000:.0f}" for a, b in spans)
                    print(f"{name:<22} spans (ms): {shown}")
        print(f"\nTotals for {CALLS} calls of {DELAY} s (median of {args.runs} runs):")
        for name, runs in totals.items():
            print(f"  {name:<22} {statistics.median(runs):.3f} s  (all: {runs})")

        print("\n200 requests, one after another:")
        for shared in (True, False):
            rows = [asyncio.run(connections(url, supplier, shared)) for _ in range(args.runs)]
            row = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
            print(
                f"  {'shared client' if shared else 'client per request':<20}"
                f" connections {row['connections']:>5.0f}  median {row['median_ms']:.2f} ms"
                f"  TIME_WAIT sockets after {row['time_wait']:.0f}"
            )
            time.sleep(1)

        supplier.route("/rates", statuses=[503])
        print("\nRetry storm: 50 callers, supplier always 503:")
        for attempts in (1, 4, 10):
            print(f"  {attempts:>2} attempts each: {asyncio.run(storm(url, supplier, attempts))}")


if __name__ == "__main__":
    main()
