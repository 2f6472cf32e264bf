"""When a visitor leaves a stream: is what the stream holds closed, and how soon?

examples/guide_streaming.py's `captions_app` serves captions that are always ready, so its
generator is always ahead of the reader and is stopped at a `yield` when the visitor leaves. One
route holds its reel in the generator (`async with`), the other on the response's exits (a
dependency with `yield`). For each, this script leaves after two events, RUNS times, and reports
how often the reel was closed within WAIT seconds, and the median time to close when it was. The
garbage collector stays on, as in production. Run:

    .venv/bin/python benchmarks/stream_disconnect.py [--runs 20]
"""

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

from guide_streaming import Reel, captions_app, leave_after_two_events  # noqa: E402
from travel_upstreams import running  # noqa: E402

WAIT = 0.5
"""Seconds after the visitor left within which the reel counts as closed at once."""
ROUTES = ["/captions/held-by-generator", "/captions/held-by-response"]


def trial(route: str) -> float | None:
    """Seconds from leaving to the reel closed, or None if it was not closed within WAIT."""
    reel = Reel()
    with running(captions_app(reel)) as url:
        leave_after_two_events(url, route)
        left = time.perf_counter()
        time.sleep(WAIT)
        return reel.closed_at - left if reel.closed_at is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    logging.disable(logging.ERROR)  # FastAPI logs each hang-up it handles badly (anyio's errors)
    for route in ROUTES:
        closed = [seconds for _ in range(runs) if (seconds := trial(route)) is not None]
        median = f"{statistics.median(closed) * 1000:.1f} ms" if closed else "-"
        print(f"{route:32} closed within {WAIT} s: {len(closed):2} of {runs}; median {median}")


if __name__ == "__main__":
    main()
