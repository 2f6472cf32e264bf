"""What Module 9's lesson claims about an AI API, measured with the fake Anthropic API
(grader/fakes/anthropic.py), the real SDK, real uvicorn servers and the real all-MiniLM-L6-v2.

- streaming: examples/guide_streaming.py under uvicorn (its own process), the fake writing
  WORDS words PACE s apart: time to the first `delta` event and to the end of the stream, against
  the buffered endpoint (the whole answer at once);
- connections: examples/guide_client.py in-process, REQUESTS requests one after another, with
  the one client of the lifespan and with a client per request: TCP connections the API
  accepted, and the median latency;
- minilm: loading the model (a fresh process), embedding throughput (texts/s, batches of 32
  exhibit notes), and the longest the event loop went without running a 5 ms timer while a
  request embedded 32 notes inline or with `run_in_threadpool`; once with OpenBLAS's default
  threads (`MiniLM(blas_threads=None)`), once with one thread, minilm's default (each in a
  process of its own);
- retrieval: examples/guide_retrieval.py's notes in a Chroma collection, and its paraphrased
  questions (no content word shared with their note): the rank of the right note, recall@1 and
  @3, the similarity of the right note and of the best wrong one; and the best similarity an
  unrelated question gets;
- tool use: examples/guide_agent.py in-process, the fake asking for `find_exhibits` 0 to 4 times
  before it answers (1 to 5 model requests for one tour): the input tokens of each request, their
  sum, and the median time of a whole tour (the fake answers at once: the app's and the SDK's
  own cost per step).

Run (about a minute):

    .venv/bin/python benchmarks/ai_api.py [--runs 3]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anthropic
import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))
sys.path.insert(0, str(ROOT))
from uvicorn_server import start_uvicorn  # noqa: E402

from grader.fakes.anthropic import fake_anthropic  # noqa: E402

WORDS, PACE = 40, 0.05
REQUESTS = 50
QUESTION = {"question": "Who painted the lifeboat in the storm?"}


def ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:8.1f} ms"


def streaming(runs: int) -> None:
    with fake_anthropic() as api:
        api.words, api.pace = WORDS, PACE
        env = {**api.settings, "PYTHONPATH": f"{EXAMPLES}:{ROOT}"}
        server, url = start_uvicorn("guide_streaming:serve", EXAMPLES, env, factory=True)
        try:
            first, whole, buffered = [], [], []
            with httpx.Client(base_url=url, timeout=None) as http:
                http.post("/guide/answers", json=QUESTION)  # warm up
                for _ in range(runs * 3):
                    began = time.perf_counter()
                    with http.stream("POST", "/guide/answers/stream", json=QUESTION) as response:
                        lines = response.iter_lines()
                        next(line for line in lines if line.startswith("data:"))
                        first.append(time.perf_counter() - began)
                        for _ in lines:
                            pass
                    whole.append(time.perf_counter() - began)
                    began = time.perf_counter()
                    http.post("/guide/answers", json=QUESTION).raise_for_status()
                    buffered.append(time.perf_counter() - began)
        finally:
            server.terminate()
            server.wait()
    print(f"\nAn answer of {WORDS} words, one every {PACE * 1000:.0f} ms (medians):")
    print(f"  streamed, first delta event       {ms(first)}")
    print(f"  streamed, whole answer            {ms(whole)}")
    print(f"  buffered, first (and only) byte   {ms(buffered)}")


async def connections(runs: int) -> None:
    from guide_client import calling, make_app, settings_for

    print(f"\n{REQUESTS * runs} requests one after another (median latency, connections):")
    for label, per_request in [("one client (lifespan)", False), ("a client per request", True)]:
        with fake_anthropic() as api:
            app = make_app(settings_for(api), client_per_request=per_request)
            latencies = []
            async with calling(app) as guide:
                for number in range(REQUESTS * runs):
                    began = time.perf_counter()
                    response = await guide.get(f"/guide/artworks/work-{number}/blurb")
                    latencies.append(time.perf_counter() - began)
                    response.raise_for_status()
            print(f"  {label:<28}  {ms(latencies)}  {api.connections:4d} connections")


EMBEDDING = """
import asyncio, json, time
from guide_retrieval import EXHIBITS
from minilm import MiniLM
began = time.perf_counter()
model = MiniLM(blas_threads=BLAS)
loaded = time.perf_counter() - began
texts = list(EXHIBITS.values()) * 8  # 96 notes
model.embed(texts[:32])  # warm up
began = time.perf_counter()
for _ in range(RUNS):
    model.embed(texts)
throughput = len(texts) * RUNS / (time.perf_counter() - began)

async def longest_gap(offload):
    from fastapi.concurrency import run_in_threadpool
    gaps, last, done = [], time.perf_counter(), False
    async def tick():
        nonlocal last
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    gaps.clear()
    began = time.perf_counter()
    if offload:
        await run_in_threadpool(model.embed, texts[:32])
    else:
        model.embed(texts[:32])
    took = time.perf_counter() - began
    await asyncio.sleep(0.02)
    done = True
    await ticker
    return took, max(gaps)

inline = [asyncio.run(longest_gap(False)) for _ in range(RUNS)]
offloaded = [asyncio.run(longest_gap(True)) for _ in range(RUNS)]
print(json.dumps({"loaded": loaded, "throughput": throughput, "inline": inline,
                  "offloaded": offloaded}))
"""


def embedding(runs: int) -> None:
    print("\nall-MiniLM-L6-v2 in NumPy (minilm), one process each:")
    for label, threads in [("OpenBLAS's default threads", None), ("one BLAS thread", 1)]:
        env = {**os.environ, "PYTHONPATH": f"{EXAMPLES}:{ROOT}"}
        script = EMBEDDING.replace("RUNS", str(runs)).replace("BLAS", str(threads))
        run = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(run.stdout.splitlines()[-1])
        inline_gap = statistics.median(gap for _, gap in figures["inline"])
        offloaded_gap = statistics.median(gap for _, gap in figures["offloaded"])
        took = statistics.median(took for took, _ in figures["inline"])
        print(f"  {label}:")
        print(f"    load the weights and tokenizer     {figures['loaded'] * 1000:8.1f} ms")
        print(f"    throughput                        {figures['throughput']:8.1f} texts/s")
        print(f"    embedding 32 notes                {took * 1000:8.1f} ms")
        print(f"    longest loop stall, inline        {inline_gap * 1000:8.1f} ms")
        print(f"    longest loop stall, off the loop  {offloaded_gap * 1000:8.1f} ms")


def retrieval() -> None:
    from guide_retrieval import EXHIBITS, PARAPHRASES, UNRELATED, nearest_notes, open_exhibits

    with tempfile.TemporaryDirectory() as folder:
        exhibits = open_exhibits(Path(folder) / "chroma")
        exhibits.upsert(
            ids=list(EXHIBITS),
            documents=list(EXHIBITS.values()),
            metadatas=[{"exhibit": exhibit_id} for exhibit_id in EXHIBITS],
        )
        print(f"\nRetrieval among {len(EXHIBITS)} notes (cosine similarity = 1 - distance):")
        print(f"  {'question':<58} rank  right  best wrong")
        ranks, gaps, rights = [], [], []
        for question, right in PARAPHRASES.items():
            notes = nearest_notes(exhibits, question, len(EXHIBITS), -1.0)
            rank = [note.id for note in notes].index(right) + 1
            similarity = notes[rank - 1].similarity
            wrong = max(note.similarity for note in notes if note.id != right)
            ranks.append(rank)
            rights.append(similarity)
            gaps.append(similarity - wrong)
            print(f"  {question:<58} {rank:4d}  {similarity:5.3f}  {wrong:5.3f}")
        print(f"  recall@1 {sum(rank == 1 for rank in ranks)}/{len(ranks)}, ", end="")
        print(f"recall@3 {sum(rank <= 3 for rank in ranks)}/{len(ranks)}, ", end="")
        print(f"gap right - best wrong: median {statistics.median(gaps):.3f}, min {min(gaps):.3f}")
        unrelated = [nearest_notes(exhibits, question, 1, -1.0)[0] for question in UNRELATED]
        best = max(unrelated, key=lambda note: note.similarity)
        print(f"  lowest similarity of a right note          {min(rights):.3f}")
        print(
            f"  highest similarity for {len(UNRELATED)} unrelated questions {best.similarity:.3f}"
        )


async def agent(runs: int) -> None:
    from guide_agent import TourSettings, make_app
    from guide_client import calling, settings_for

    print("\nOne tour, the model asking for find_exhibits before it answers (fake API):")
    print(f"  {'requests':>8}  {'input tokens of each request':<34} {'sum':>5}  median time")
    for steps in range(1, 6):
        with fake_anthropic() as api:
            api.tool_turns = steps - 1
            app = make_app(settings_for(api, TourSettings, tour_max_steps=5))
            latencies = []
            async with calling(app) as guide:
                for _ in range(REQUESTS * runs // 5):
                    since = len(api.calls)
                    began = time.perf_counter()
                    response = await guide.post("/guide/tours", json={"wish": "ships and storms"})
                    latencies.append(time.perf_counter() - began)
                    assert response.json()["steps"] == steps, response.text
                    inputs = [call.usage["input_tokens"] for call in api.messages(since)]
            each = ", ".join(map(str, inputs))
            print(f"  {steps:8d}  {each:<34} {sum(inputs):5d}  {ms(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="multiplies the samples")
    args = parser.parse_args()
    import chromadb
    import fastapi

    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, fastapi {fastapi.__version__}, "
        f"anthropic {anthropic.__version__}, chromadb {chromadb.__version__}"
    )
    streaming(args.runs)
    asyncio.run(connections(args.runs))
    embedding(args.runs)
    retrieval()
    asyncio.run(agent(args.runs))


if __name__ == "__main__":
    main()
