"""Three requests at once to each endpoint of examples/blocking_calls.py, on a real server.

Each lookup waits LOOKUP_SECONDS (3 s here): blocking the event loop, awaiting, or on a worker
thread. For each endpoint, on a fresh uvicorn server (one worker, access log off), it sends three
requests at once and notes when each answer arrived, and sends `GET /health` half a second into
the burst: how long does a request that waits for nothing take meanwhile? Run:

    .venv/bin/python benchmarks/blocking_calls.py [--runs 3] [--seconds 3]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from uvicorn_server import start_uvicorn

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["/blocking", "/awaiting", "/offloaded", "/plain-def", "/offloaded-to-one-thread"]


async def burst(url: str, path: str) -> tuple[list[float], float]:
    """When each of three concurrent answers arrived, and how long /health took meanwhile."""
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        began = time.perf_counter()

        async def one() -> float:
            (await client.get(path, params={"address": "Paris"})).raise_for_status()
            return time.perf_counter() - began

        async def health() -> float:
            await asyncio.sleep(0.5)
            sent = time.perf_counter()
            (await client.get("/health")).raise_for_status()
            return time.perf_counter() - sent

        *answers, health_took = await asyncio.gather(one(), one(), one(), health())
    return sorted(answers), health_took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; LOOKUP_SECONDS={args.seconds}")
    results: dict[str, list[tuple[list[float], float]]] = {path: [] for path in PATHS}
    for _ in range(args.runs):
        for path in PATHS:
            server, url = start_uvicorn(
                "blocking_calls:app", ROOT / "examples", {"LOOKUP_SECONDS": str(args.seconds)}
            )  # a fresh server: a blocked one skews the next
            try:
                results[path].append(asyncio.run(burst(url, path)))
            finally:
                server.terminate()
                server.wait()
    print(f"\n{'endpoint':<26} {'answers arrived after (s), each run':<44} {'/health took'}")
    for path, runs in results.items():
        arrivals = "; ".join(", ".join(f"{t:.2f}" for t in answers) for answers, _ in runs)
        health = statistics.median(took for _, took in runs)
        print(f"{path:<26} {arrivals:<44} {health * 1000:,.0f} ms (median)")


if __name__ == "__main__":
    main()
