"""How many Lab 3 submissions batch grading gets through per minute (target: 20 at scale 1).

A class of copies of the solution and the starter, half each, graded by `python -m grader batch`,
each in a sandbox of its own (Linux, as root) and, for comparison, without one: the difference is
what the sandbox costs each submission. Run:

    .venv/bin/python benchmarks/batch_throughput.py [--students 16] [--jobs 8] [--scale 1.0]
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 20
JOBS = 4 * (os.cpu_count() or 2)  # the batch command's default
WAYS = {"sandboxed": [], "unsandboxed": ["--no-sandbox"]}


def grade(students: Path, out: Path, args: argparse.Namespace, way: list[str]) -> float:
    """Seconds to grade the class."""
    command = [sys.executable, "-m", "grader", "batch", str(students), "--lab", "lab3"]
    start = time.perf_counter()
    subprocess.run(
        [*command, "--out", str(out), "--jobs", str(args.jobs), *way],
        cwd=ROOT,
        env={**os.environ, "COURSE_TIME_SCALE": str(args.scale)},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    print(f"Batch grading Lab 3, COURSE_TIME_SCALE {args.scale:g}, {args.jobs} at a time")
    seconds = {}
    with tempfile.TemporaryDirectory() as scratch:
        students = Path(scratch) / "class"
        for number in range(args.students):
            source = ROOT / ("solutions" if number % 2 else "labs") / "lab3" / "app"
            shutil.copytree(source, students / f"student{number:02}" / "app")
        for way, options in WAYS.items():
            out = Path(scratch) / f"{way}.csv"
            seconds[way] = grade(students, out, args, options)
            rate = args.students / seconds[way] * 60
            points = sorted({row["points"] for row in csv.DictReader(out.open())})
            print(
                f"  {way}: {args.students} submissions in {seconds[way]:.1f} s: {rate:.1f}/min "
                f"(target ≥ {TARGET}); points seen: {', '.join(points)} (solution copies 10, "
                "starter copies 2)"
            )
    cost = (seconds["sandboxed"] - seconds["unsandboxed"]) / args.students
    print(f"  the sandbox's cost per submission: {cost:+.2f} s of the batch's time")


if __name__ == "__main__":
    main()
