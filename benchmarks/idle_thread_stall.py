"""How long an event loop stalls when another thread of its process is in Linux's idle class.

The main thread sleeps 20 ms at a time on an asyncio loop, for --seconds, and records how much
later than asked each sleep ends. Beside it: no other thread; a thread doing Python work in
bursts (JSON round trips, then 10 ms of rest), as a browser's client reading results does; the
same thread in SCHED_IDLE. A thread of the idle class that holds the interpreter lock when the
machine takes the CPU from it keeps the lock until it gets a core back: on a busy machine, the
loop waits that long. tests/conftest.py starts its background work's processes in that class,
never its thread, for this reason.

The figures mean something on a busy machine only: run it beside `make test` (or busy loops).

    .venv/bin/python benchmarks/idle_thread_stall.py [--seconds 40]
"""

import argparse
import asyncio
import json
import os
import threading
import time

SLEEP = 0.02
KINDS = ("none", "normal", "idle")


def python_in_bursts(idle: bool, stop: threading.Event) -> None:
    if idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    data = {"values": list(range(2000))}
    while not stop.is_set():
        for _ in range(50):
            json.loads(json.dumps(data))
        time.sleep(0.01)


async def overshoots(seconds: float) -> list[float]:
    late = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        await asyncio.sleep(SLEEP)
        late.append(time.monotonic() - began - SLEEP)
    return sorted(late)


def measure(kind: str, seconds: float) -> list[float]:
    stop = threading.Event()
    if kind != "none":
        threading.Thread(target=python_in_bursts, args=(kind == "idle", stop)).start()
    try:
        return asyncio.run(overshoots(seconds))
    finally:
        stop.set()


def main(seconds: float) -> None:
    print(f"Overshoot of a {SLEEP * 1000:g} ms asyncio sleep, over {seconds:g} s, by second thread")
    for kind in KINDS:
        late = measure(kind, seconds)
        p50, p99 = late[len(late) // 2], late[int(len(late) * 0.99)]
        print(
            f"  {kind:<6} p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms  "
            f"max {late[-1] * 1000:7.1f} ms  ({len(late)} sleeps)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    main(parser.parse_args().seconds)
