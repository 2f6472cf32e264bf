"""/boom, /slow and /metrics: a bug, a slow answer, and what Prometheus scrapes."""

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.dependencies import SettingsDep
from app.metrics import registry

router = APIRouter(tags=["ops"])


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("simulated failure from /boom")


@router.get("/slow")
async def slow(settings: SettingsDep) -> dict[str, float]:
    await asyncio.sleep(settings.slow_seconds)
    return {"slept": settings.slow_seconds}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
