"""What a middleware costs per request: none, BaseHTTPMiddleware, or pure ASGI.

The same small middleware (examples/middleware_cost.py adds one response header, both ways), one
layer deep and five layers deep (as many as Lab 2's stack), measured two ways:

- in process: the app called directly as an ASGI app, no server and no network, on uvloop's event
  loop as uvicorn's would be: the cost of the middleware itself;
- through uvicorn: sequential requests from an httpx client to a real server on 127.0.0.1 (one
  worker, access log off), as a client would see it.

Run:

    .venv/bin/python benchmarks/middleware_cost.py [--calls 20000] [--requests 2000] [--runs 5]

It also serves as the app module of the servers it starts (`serve`, below).
"""

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import uvloop
from uvicorn_server import start_uvicorn

ROOT = Path(__file__).resolve().parent.parent
STACK = "MIDDLEWARE_COST_STACK"
"""How a server started by this script learns which app to build, e.g. "pure:4"."""
STACKS = ["none:0", "base:1", "pure:1", "base:5", "pure:5"]


def load_example():
    path = ROOT / "examples" / "middleware_cost.py"
    spec = importlib.util.spec_from_file_location("middleware_cost_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(stack: str):
    example = load_example()
    kind, layers = stack.split(":")
    middleware = {"none": None, "base": example.ServedByBase, "pure": example.ServedByPure}[kind]
    return example.make_app(middleware, layers=int(layers))


def serve():
    """The app for a server started by `through_uvicorn` (uvicorn --factory)."""
    return build(os.environ[STACK])


# --- In process: the ASGI call alone ---

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/items",
    "raw_path": b"/items",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
    "state": {},
}


async def receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: dict) -> None:
    pass


async def in_process(stack: str, calls: int) -> float:
    """Microseconds per ASGI call."""
    app = build(stack)
    for _ in range(1000):  # warm up: the middleware stack is built on the first call
        await app(dict(SCOPE), receive, send)
    start = time.perf_counter()
    for _ in range(calls):
        await app(dict(SCOPE), receive, send)
    return (time.perf_counter() - start) / calls * 1e6


# --- Through uvicorn: what a client sees ---


def through_uvicorn(stack: str, requests: int) -> float:
    """Microseconds per request, sequential, over one keep-alive connection."""
    app_dir = ROOT / "benchmarks"
    server, url = start_uvicorn("middleware_cost:serve", app_dir, {STACK: stack}, factory=True)
    try:
        with httpx.Client(base_url=url) as client:
            for _ in range(500):  # warm up
                client.get("/items")
            start = time.perf_counter()
            for _ in range(requests):
                client.get("/items").raise_for_status()
            return (time.perf_counter() - start) / requests * 1e6
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="in-process ASGI calls per run")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.runs} runs")
    for title, measure, count in [
        (f"In process, {args.calls} ASGI calls", in_process, args.calls),
        (f"Through uvicorn, {args.requests} sequential requests", through_uvicorn, args.requests),
    ]:
        runs: dict[str, list[float]] = {stack: [] for stack in STACKS}
        for _ in range(args.runs):  # round robin: a noisy moment hits every stack alike
            for stack in STACKS:
                result = measure(stack, count)
                if asyncio.iscoroutine(result):
                    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                        result = runner.run(result)
                runs[stack].append(result)
        print(f"\n{title}:")
        print(f"  {'middleware':<12} {'µs/request':>10} {'requests/s':>11} {'extra µs':>9}")
        baseline = statistics.median(runs[STACKS[0]])
        for stack in STACKS:
            micros = statistics.median(runs[stack])
            kind, layers = stack.split(":")
            name = "none" if kind == "none" else f"{layers} × {kind}"
            print(f"  {name:<12} {micros:>10.1f} {1e6 / micros:>11,.0f} {micros - baseline:>+9.1f}")


if __name__ == "__main__":
    main()
