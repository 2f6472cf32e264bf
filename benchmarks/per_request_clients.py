"""What a client built per request costs: in a thread, on the event loop, or never (shared).

examples/per_request_clients.py serves `GET /client` with each of three dependencies, on a real
uvicorn server (one worker, access log off). For each, this script measures:

- sequential: the median latency of 50 requests, one after another;
- burst: 100 requests at once (asyncio.gather), the time until the last answer;
- health during the burst: the latency of `GET /health`, which builds nothing, sent every 20 ms
  from a second connection while the burst runs: what other requests on the worker suffer.

It also times the constructors alone, in this process, and measures the resident memory each
client holds while it is kept (100 built and kept, in a fresh process each). Run:

    .venv/bin/python benchmarks/per_request_clients.py [--runs 3]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from anthropic import AsyncAnthropic
from uvicorn_server import start_uvicorn

from grader.procfs import resident_bytes

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["thread", "loop", "shared"]
CLIENTS = {
    "httpx.AsyncClient()": httpx.AsyncClient,
    "anthropic.AsyncAnthropic()": lambda: AsyncAnthropic(api_key="x"),
}
KEPT = 100


async def measure(url: str) -> dict[str, float]:
    limits = httpx.Limits(max_connections=200)
    async with (
        httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as client,
        httpx.AsyncClient(base_url=url, timeout=None) as prober,
    ):
        for _ in range(20):  # warm up
            await client.get("/client")
        sequential = []
        for _ in range(50):
            began = time.perf_counter()
            (await client.get("/client")).raise_for_status()
            sequential.append(time.perf_counter() - began)

        probes: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                began = time.perf_counter()
                (await prober.get("/health")).raise_for_status()
                probes.append(time.perf_counter() - began)
                await asyncio.sleep(0.02)

        prober_task = asyncio.create_task(probe())
        await asyncio.sleep(0.1)
        began = time.perf_counter()
        answers = await asyncio.gather(*(client.get("/client") for _ in range(100)))
        burst = time.perf_counter() - began
        done.set()
        await prober_task
        assert all(answer.status_code == 200 for answer in answers)
    return {
        "sequential_ms": statistics.median(sequential) * 1000,
        "burst_s": burst,
        "health_median_ms": statistics.median(probes) * 1000,
        "health_max_ms": max(probes) * 1000,
    }


def constructor_ms(build, count: int = 50) -> float:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        build()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def kept_kib(client: str) -> float:
    """KiB of resident memory each `client` holds while kept: KEPT of them built and kept, after
    a few built and dropped (the modules and the certificates' file loaded)."""
    build = CLIENTS[client]
    for _ in range(5):
        build()
    before = resident_bytes(os.getpid())
    kept = [build() for _ in range(KEPT)]
    return (resident_bytes(os.getpid()) - before) / len(kept) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kept", choices=CLIENTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kept:  # in a fresh process: memory freed by earlier clients would hide the growth
        print(kept_kib(args.kept))
        return
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.runs} runs")
    for client, build in CLIENTS.items():
        built = constructor_ms(build)
        fresh = [sys.executable, __file__, "--kept", client]
        kept = float(subprocess.run(fresh, capture_output=True, text=True, check=True).stdout)
        print(f"{client}: {built:.1f} ms to build, {kept:.0f} KiB of memory while kept")
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.runs):  # round robin: a noisy moment hits every variant alike
        for variant in VARIANTS:
            server, url = start_uvicorn(
                "per_request_clients:serve",
                ROOT / "examples",
                {"CLIENT_VARIANT": variant},
                factory=True,
            )
            try:
                results[variant].append(asyncio.run(measure(url)))
            finally:
                server.terminate()
                server.wait()
    header = f"{'client':<8} {'sequential':>11} {'100 at once':>12} {'health median':>14}"
    print(f"\n{header} {'max':>9}")
    for variant, runs in results.items():
        row = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{variant:<8} {row['sequential_ms']:>8.1f} ms {row['burst_s']:>10.2f} s "
            f"{row['health_median_ms']:>11.1f} ms {row['health_max_ms']:>6.0f} ms"
        )


if __name__ == "__main__":
    main()
