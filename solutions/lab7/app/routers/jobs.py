"""The job API: accept at once (202 and an id), then answer how the job is doing."""

from fastapi import APIRouter, status

from app.deps import RedisDep
from app.errors import JobNotFound
from app.models import JobAccepted, JobRequest, JobStatus
from app.services import jobs
from app.worker import run_report

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def create_job(request: JobRequest, redis: RedisDep) -> JobAccepted:
    callback = str(request.callback_url) if request.callback_url else None
    job = jobs.new(request.kind, request.payload, callback)
    await jobs.save(redis, job)  # recorded before it is sent: the worker reads the record
    run_report.delay(job["job_id"])  # a message in Redis: it outlives this process
    return JobAccepted(job_id=job["job_id"], status="queued")


@router.get("/{job_id}")
async def get_job(job_id: str, redis: RedisDep) -> JobStatus:
    job = await jobs.load(redis, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return JobStatus(**jobs.public(job))
