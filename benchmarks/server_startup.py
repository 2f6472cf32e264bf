"""What starting one server costs: forked by the fork server, or spawned as a process of its own.

For each lab's solution, the median over --runs starts of the CPU time the server had used when
it was ready (read from /proc) and the wall time from asking for it to ready; and what the fork
server itself used, importing once what every lab's servers import. Run:

    .venv/bin/python benchmarks/server_startup.py [--runs 5]
"""

import argparse
import asyncio
import os
import statistics
import time

from grader.manifest import Lab, load_course
from grader.processes import fork_server
from grader.server import cpu_and_sleep, serve

ENV = {"ANTHROPIC_API_KEY": "sk-ant-benchmark"}  # Lab 1's Settings require one
WAYS = {"forked": "1", "spawned": "0"}


async def start_once(lab: Lab) -> tuple[float, float]:
    start = time.perf_counter()
    async with serve(
        lab.solution, app=lab.app, shown_as=lab.id, env=ENV, preload=lab.preload
    ) as server:
        return cpu_and_sleep(server.process.pid)[0], time.perf_counter() - start


async def main(runs: int) -> None:
    print(f"Starting each lab's solution, median of {runs} (CPU s until ready, wall s)")
    for lab in load_course().labs:
        figures = []
        for way, setting in WAYS.items():
            os.environ["GRADER_FORKSERVER"] = setting
            await start_once(lab)  # the fork server's own imports are not a server's
            starts = [await start_once(lab) for _ in range(runs)]
            cpu = statistics.median(cpu for cpu, _ in starts)
            wall = statistics.median(wall for _, wall in starts)
            figures.append(f"{way} {cpu:.2f} CPU s, {wall:.2f} s")
        print(f"  {lab.id}: " + "; ".join(figures))
    fork_server_cpu, _ = cpu_and_sleep(fork_server().process.pid)
    print(f"  the fork server, once, for every lab's imports: {fork_server_cpu:.2f} CPU s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
