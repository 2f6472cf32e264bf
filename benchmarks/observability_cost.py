"""What instrumentation costs: requests per second with and without JSON logs, Prometheus
metrics and OpenTelemetry tracing, and the size of /metrics with a raw-path label.

Each variant is the same small ticketing endpoint, `GET /events/{event_id}`, served by a real
uvicorn server on 127.0.0.1 (one worker, access log off), with the layers of Module 8's
examples added:

- plain: no instrumentation;
- logs: the request-id middleware and one JSON line per request, through the redaction filter
  (examples/ticket_logs.py), written to a file;
- metrics: the RED middleware of examples/ticket_metrics.py (Counter, Histogram, Gauge);
- tracing: the server span of examples/ticket_tracing.py, with a TracerProvider that has no
  exporter at all;
- tracing+otlp: the same, with a BatchSpanProcessor exporting over OTLP/HTTP to a receiver this
  script runs on 127.0.0.1 (it counts the spans' bytes and answers 200);
- all: logs, metrics and tracing+otlp together.

Load: 16 requests in flight from one httpx.AsyncClient, 3000 requests after 300 to warm up,
round robin over the variants for each run. Two figures per variant: requests per second as the
client saw them, and the server process's own CPU time per request (user + system, from
/proc/PID/stat, its export thread included). The client shares the machine's cores with the
server, and other work may too: requests per second move with the load, while CPU time per
request hardly does, so it is the figure to compare. 1 / (CPU per request) is what one worker
could serve at most.

Then the size of /metrics after requests for N distinct event ids, labelled by the route template
and by the raw path. Run:

    .venv/bin/python benchmarks/observability_cost.py [--runs 3] [--requests 3000]
"""

import argparse
import asyncio
import http.server
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from uvicorn_server import start_uvicorn

from grader.server import cpu_and_sleep

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["plain", "logs", "metrics", "tracing", "tracing+otlp", "all"]


def serve():
    """The app of one variant, chosen by OBS_VARIANT (uvicorn --factory calls this)."""
    sys.path.insert(0, str(ROOT / "examples"))
    from fastapi import FastAPI, Response
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from ticket_logs import JsonLines, Redaction, RequestIdFilter, RequestIds
    from ticket_metrics import RedMetrics, TicketMetrics
    from ticket_tracing import ServerSpans

    variant = os.environ["OBS_VARIANT"]
    layers = {"all": {"logs", "metrics", "tracing+otlp"}}.get(variant, {variant})
    app = FastAPI(telemetry={"tracing": False})
    logger = logging.getLogger("box_office")
    if "logs" in layers:
        handler = logging.FileHandler(os.environ["OBS_LOG_FILE"])
        handler.addFilter(RequestIdFilter())
        handler.addFilter(Redaction())
        handler.setFormatter(JsonLines())
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
    if "metrics" in layers or "metrics-raw" in layers:
        metrics = TicketMetrics()
        raw = "metrics-raw" in layers
        label = (lambda scope: scope["path"]) if raw else None
        app.add_middleware(RedMetrics, metrics=metrics, **({"label": label} if raw else {}))

        @app.get("/metrics")
        async def exposition() -> Response:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if layers & {"tracing", "tracing+otlp"}:
        provider = TracerProvider()
        if "tracing+otlp" in layers:
            exporter = OTLPSpanExporter(endpoint=os.environ["OBS_OTLP_ENDPOINT"])
            provider.add_span_processor(BatchSpanProcessor(exporter))
        app.add_middleware(ServerSpans, tracer=provider.get_tracer("ticket_office"))
    if "logs" in layers:
        app.add_middleware(RequestIds)  # outermost: every layer inside sees the id

    @app.get("/events/{event_id}")
    async def event(event_id: int) -> dict[str, int | str]:
        logger.info("event_viewed", extra={"fields": {"event_id": event_id}})
        return {"event_id": event_id, "name": "Proms"}

    return app


class Receiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver that keeps nothing: it reads each export and answers 200."""

    exports = 0
    received = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.exports += 1
        Receiver.received += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def throughput(url: str, pid: int, requests: int, in_flight: int = 16) -> tuple[float, float]:
    """Requests per second, and the server's CPU milliseconds per request."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        queue = iter(range(requests + 300))
        started: list[tuple[float, float]] = []

        async def worker() -> None:
            for n in queue:
                (await client.get(f"/events/{n % 50}")).raise_for_status()
                if n == 299:  # warm-up over: start the clocks
                    started.append((time.perf_counter(), cpu_and_sleep(pid)[0]))

        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - started[0][0]
        cpu = cpu_and_sleep(pid)[0] - started[0][1]
        return requests / elapsed, cpu / requests * 1000


async def metrics_size(url: str, distinct: int) -> tuple[int, int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for start_id in range(0, distinct, 50):
            ids = range(start_id, min(start_id + 50, distinct))
            await asyncio.gather(*(client.get(f"/events/{n}") for n in ids))
        page = (await client.get("/metrics")).text
    series = sum(1 for line in page.splitlines() if line and not line.startswith("#"))
    return len(page.encode()), series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    logs = tempfile.NamedTemporaryFile(suffix=".log", delete=False)
    env = {
        "OBS_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_port}/v1/traces",
        "OBS_LOG_FILE": logs.name,
    }
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.runs} runs")
    results: dict[str, list[tuple[float, float]]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.runs):  # round robin: a noisy moment hits every variant alike
        for variant in VARIANTS:
            server, url = start_uvicorn(
                "observability_cost:serve",
                ROOT / "benchmarks",
                {**env, "OBS_VARIANT": variant},
                factory=True,
            )
            try:
                results[variant].append(asyncio.run(throughput(url, server.pid, args.requests)))
            finally:
                server.terminate()
                server.wait()
    plain_cpu = statistics.median(cpu for _, cpu in results["plain"])
    print(f"\n{'variant':<14} {'requests/s':>10} {'CPU/request':>12} {'vs plain':>9}  (CPU runs)")
    for variant, runs in results.items():
        rps = statistics.median(rate for rate, _ in runs)
        cpu = statistics.median(cpu for _, cpu in runs)
        spread = ", ".join(f"{cpu:.3f}" for _, cpu in runs)
        print(f"{variant:<14} {rps:>10.0f} {cpu:>9.3f} ms {cpu / plain_cpu - 1:>+9.1%}  ({spread})")
    print(f"OTLP receiver: {Receiver.exports} exports, {Receiver.received / 1e6:.1f} MB")
    print(f"JSON log file: {os.path.getsize(logs.name) / 1e6:.1f} MB")
    os.unlink(logs.name)

    print(f"\n{'/metrics after N ids':<22} {'label':<9} {'bytes':>10} {'lines':>7}")
    for distinct in (1000, 10000):
        for variant, label in (("metrics", "template"), ("metrics-raw", "raw path")):
            server, url = start_uvicorn(
                "observability_cost:serve",
                ROOT / "benchmarks",
                {**env, "OBS_VARIANT": variant},
                factory=True,
            )
            try:
                size, series = asyncio.run(metrics_size(url, distinct))
            finally:
                server.terminate()
                server.wait()
            print(f"{distinct:<22} {label:<9} {size:>10,} {series:>7,}")


if __name__ == "__main__":
    main()
