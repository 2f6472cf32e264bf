"""How long grading the Lab 3 solution takes, against the 9 s its own measurement needs.

The /slow-sync check must watch three blocking 3 s requests queue up: 9 s at COURSE_TIME_SCALE 1,
the floor for any grader of this lab. The target is 1.25 × that floor. Run:

    .venv/bin/python benchmarks/grading_time.py [--runs 3] [--scale 1.0]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 9.0  # seconds at scale 1: three blocking requests of SLEEP_SECONDS=3, one after another
TARGET = 1.25


def grade_once(scale: float, grades: Path) -> float:
    env = {**os.environ, "COURSE_TIME_SCALE": str(scale), "COURSE_GRADES_DIR": str(grades)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "labs/lab3",
        "--solution",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"grading the solution failed:\n{completed.stdout}{completed.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    floor = FLOOR * args.scale
    with tempfile.TemporaryDirectory() as grades:
        times = [grade_once(args.scale, Path(grades)) for _ in range(args.runs)]
    median = statistics.median(times)
    print(
        f"Lab 3 solution, COURSE_TIME_SCALE {args.scale:g}, {args.runs} runs (pytest start to exit)"
    )
    print("  each:   " + "  ".join(f"{seconds:.2f} s" for seconds in times))
    print(
        f"  median: {median:.2f} s = {median / floor:.2f} × the {floor:.1f} s floor"
        f" (target ≤ {TARGET} ×)"
    )


if __name__ == "__main__":
    main()
