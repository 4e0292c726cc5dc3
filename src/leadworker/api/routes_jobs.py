"""``/api/v1/jobs``: submit (one or a batch), list, show, cancel, retry, and download a job's leads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from leadworker.api.auth import READ, WRITE, Caller, services_of
from leadworker.api.problems import ApiError
from leadworker.api.services import ApiServices
from leadworker.api.submission import JobBatch, JobSubmission, check_targets, job_id_for, to_job
from leadworker.api.views import decode_cursor, encode_cursor, job_view, plain
from leadworker.broker.dlq import take_dead
from leadworker.broker.producer import job_message, submit_jobs
from leadworker.broker.publisher import PublishError
from leadworker.contracts import ScrapeJob
from leadworker.errors import ServiceUnavailable
from leadworker.store import jobs as jobstore
from leadworker.store.jobs import JobStatus
from leadworker.store.lead_files import lead_lines

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


async def submit_or_503(services: ApiServices, to_submit: list[ScrapeJob]) -> dict[uuid.UUID, asyncpg.Record]:
    """Rows committed, messages confirmed; the rows created, by id. 503 if the broker is away (the new rows
    wait, ``queued``, for the maintenance stage's stuck-job sweep)."""
    try:
        return await submit_jobs(services.db, services.publisher, services.topology, to_submit)
    except PublishError as exc:
        await services.publish_failed()
        raise ServiceUnavailable(
            f"the broker did not confirm the job: {exc}; the job is stored and will be sent by the stuck-job sweep"
        ) from exc


async def job_view_or_404(services: ApiServices, job_id: uuid.UUID) -> dict[str, Any]:
    row = await jobstore.get_job(services.db, job_id)
    if row is None:
        raise ApiError(404, f"no job {job_id}")
    return job_view(row)


async def submitted_view(
    services: ApiServices, response: Response, job_id: uuid.UUID, created: dict[uuid.UUID, asyncpg.Record]
) -> dict[str, Any]:
    """The answer to one submitted job: 202 with the row just created, or 200 with the job a repeat names."""
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    row = created.get(job_id)
    if row is not None:
        return job_view(row)
    response.status_code = 200
    return await job_view_or_404(services, job_id)


@router.post("", status_code=202, summary="Submit a scrape job")
async def submit_job(
    request: Request,
    response: Response,
    body: JobSubmission,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = WRITE,
) -> dict[str, Any]:
    services = services_of(request)
    job = to_job(body, job_id_for(body, caller.token, idempotency_key))
    await check_targets(services.guard, [job])
    created = await submit_or_503(services, [job])
    return await submitted_view(services, response, job.job_id, created)


@router.post("/batch", status_code=202, summary="Submit up to 1,000 scrape jobs")
async def submit_batch(
    request: Request, body: JobBatch, idempotency_key: IdempotencyKey = None, caller: Caller = WRITE
) -> dict[str, Any]:
    services = services_of(request)
    batch = [to_job(s, job_id_for(s, caller.token, idempotency_key, n), f"jobs.{n}.") for n, s in enumerate(body.jobs)]
    if len({j.job_id for j in batch}) != len(batch):
        raise ApiError(422, "jobs: two jobs of the batch have the same job_id", fields={"jobs": "duplicate job_id"})
    await check_targets(services.guard, batch, prefix="jobs.")
    created = await submit_or_503(services, batch)
    return {
        "jobs": [
            {"job_id": str(j.job_id), "created": j.job_id in created, "location": f"/api/v1/jobs/{j.job_id}"}
            for j in batch
        ]
    }


@router.get("", summary="List jobs, newest first")
async def list_jobs(
    request: Request,
    status: Annotated[JobStatus | None, Query()] = None,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[dt.datetime | None, Query(description="created at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="created before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="`next` of the previous page")] = None,
    _: Caller = READ,
) -> dict[str, Any]:
    after = None
    if cursor is not None:
        created, job_id = decode_cursor(cursor, 2)
        try:
            after = (dt.datetime.fromisoformat(created), uuid.UUID(job_id))
        except (TypeError, ValueError):
            raise ApiError(422, "cursor: not a cursor this API gave", fields={"cursor": "invalid"}) from None
    rows = await jobstore.page_jobs(
        services_of(request).db,
        status=status.value if status else None,
        user_id=user_id,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )
    last = rows[-1] if len(rows) == limit else None
    return {
        "jobs": [job_view(r) for r in rows],
        "next": encode_cursor(last["created_at"], last["id"]) if last is not None else None,
    }


@router.get("/{job_id}", summary="A job: its row, counts, enrichment progress and event timeline")
async def show_job(request: Request, job_id: uuid.UUID, _: Caller = READ) -> dict[str, Any]:
    services = services_of(request)
    job = await job_view_or_404(services, job_id)
    job["events"] = [plain(dict(e)) for e in await jobstore.job_events(services.db, job_id)]
    return job


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job")
async def cancel_job(request: Request, job_id: uuid.UUID, _: Caller = WRITE) -> dict[str, Any]:
    services = services_of(request)
    cancelled, status = await jobstore.cancel_job(services.db, job_id)
    if status is None:
        raise ApiError(404, f"no job {job_id}")
    if not cancelled:
        raise ApiError(409, f"job {job_id} is {status.value}; only a queued or running job can be cancelled")
    return await job_view_or_404(services, job_id)


@router.post("/{job_id}/retry", summary="Run a failed or cancelled job again, with fresh attempts")
async def retry_job(request: Request, job_id: uuid.UUID, _: Caller = WRITE) -> dict[str, Any]:
    services = services_of(request)
    criteria = await jobstore.job_criteria(services.db, job_id)
    if criteria is None:
        raise ApiError(404, f"no job {job_id}")
    requeued, status = await jobstore.requeue_for_retry(services.db, job_id)
    if not requeued:
        raise ApiError(
            409, f"job {job_id} is {status.value if status else 'gone'}; only a failed or cancelled job can be retried"
        )
    job = ScrapeJob.model_validate({**criteria, "job_id": job_id})
    try:
        publisher = await services.publisher()
        # Its parked message, if any, leaves the dead queue: a later `dlq replay` must not run it twice.
        dead_queue = services.topology.dead_queue(services.topology.work_queue("scrape"))
        await take_dead(await services.broker(), dead_queue, str(job_id))
        await publisher.publish(job_message(job, services.topology))
    except PublishError as exc:
        await services.publish_failed()
        raise ServiceUnavailable(
            f"the broker did not confirm the job: {exc}; it is queued and will be sent by the stuck-job sweep"
        ) from exc
    return await job_view_or_404(services, job_id)


@router.get(
    "/{job_id}/leads",
    summary="The job's leads as CSV or JSON Lines, streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def job_leads(
    request: Request, job_id: uuid.UUID, format: Annotated[Literal["csv", "jsonl"], Query()] = "csv", _: Caller = READ
) -> StreamingResponse:
    services = services_of(request)
    if await jobstore.job_status(services.db, job_id) is None:
        raise ApiError(404, f"no job {job_id}")
    return StreamingResponse(
        lead_lines(services.db, fmt=format, job_id=job_id, whole_pages=True),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.{format}"'},
    )
