"""The job API: accept at once (202 and an id), then answer how the job is doing."""

from fastapi import APIRouter, BackgroundTasks, status

from app.deps import RedisDep
from app.models import JobAccepted, JobRequest, JobStatus
from app.services import jobs
from app.worker import run_report

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def create_job(
    request: JobRequest, redis: RedisDep, background_tasks: BackgroundTasks
) -> JobAccepted:
    callback = str(request.callback_url) if request.callback_url else None
    job = jobs.new(request.kind, request.payload, callback)
    await jobs.save(redis, job)
    # TODO 1a: work done here dies with the API's process. Send it to the queue instead: a
    # message for the Celery task run_report (app/worker.py), which a worker process runs.
    background_tasks.add_task(run_report, job["job_id"])
    return JobAccepted(job_id=job["job_id"], status="queued")


@router.get("/{job_id}")
async def get_job(job_id: str, redis: RedisDep) -> JobStatus:
    job = await jobs.load(redis, job_id)
    # TODO 1b: no record, no job: 404 JOB_NOT_FOUND (errors.JobNotFound).
    return JobStatus(**jobs.public(job))
