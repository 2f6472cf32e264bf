"""What a grading's fork server costs: started afresh, or forked by a template (make test's cases).

For each set of modules the labs preload: the median over --runs gradings' fork servers of the
CPU time the fork server had used once its first server was ready (read from /proc), and the wall
time from asking for that server to ready. A fresh fork server imports FastAPI and the lab's
modules; one a template forked finds them imported (the template's own imports, once, are printed
apart). The server's app is a bare FastAPI app: what an app costs is its server's, not the fork
server's. Run:

    .venv/bin/python benchmarks/fork_server_template.py [--runs 5]
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from grader import processes
from grader.manifest import load_course
from grader.server import cpu_and_sleep, serve

APP = "from fastapi import FastAPI\n\napp = FastAPI()\n"


async def first_server(source: Path, preload: tuple[str, ...]) -> tuple[float, float]:
    """A new fork server's CPU seconds once its first server is ready, and the wall time."""
    processes._fork_server = None  # this grading's own, as each grading starts one
    start = time.perf_counter()
    async with serve(source, app="app.main:app", shown_as="app", preload=preload):
        wall = time.perf_counter() - start
        fork_server = processes.fork_server()
        cpu, _ = cpu_and_sleep(fork_server.process.pid)
    fork_server.stop()
    return cpu, wall


def medians(starts: list[tuple[float, float]]) -> str:
    cpu = statistics.median(cpu for cpu, _ in starts)
    wall = statistics.median(wall for _, wall in starts)
    return f"{cpu:.2f} CPU s, {wall:.2f} s"


async def compare(source: Path, preload: tuple[str, ...], runs: int) -> list[str]:
    """Fresh fork servers, then forks of a template, for `preload`: the report's lines."""
    os.environ.pop(processes.TEMPLATE, None)
    fresh = [await first_server(source, preload) for _ in range(runs)]
    socket_path = str(source.parent / "template.sock")
    template = processes.start_template(socket_path, preload)
    os.environ[processes.TEMPLATE] = socket_path
    try:
        forked = [await first_server(source, preload) for _ in range(runs)]
        template_cpu, _ = cpu_and_sleep(template.pid)
    finally:
        template.kill()
        template.wait()
        Path(socket_path).unlink()
    return [
        f"fresh {medians(fresh)}; from a template {medians(forked)}",
        f"the template's own imports, once: {template_cpu:.2f} CPU s",
    ]


async def main(runs: int) -> None:
    print(f"A grading's fork server until its first server is ready, median of {runs}")
    labs: dict[tuple[str, ...], list[str]] = {}
    for lab in load_course().labs:
        labs.setdefault(lab.preload, []).append(lab.id)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "source"
        (source / "app").mkdir(parents=True)
        (source / "app" / "__init__.py").write_text("")
        (source / "app" / "main.py").write_text(APP)
        for preload, ids in labs.items():
            print(f"  {', '.join(ids)} ({', '.join(preload) or 'FastAPI alone'}):")
            for line in await compare(source, preload, runs):
                print(f"    {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
