"""/debug/crash: a bug on purpose, to see what a client and the logs get when code fails."""

from fastapi import APIRouter

router = APIRouter(prefix="/debug", tags=["debug"])


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("simulated crash from /debug/crash")
