"""What is done to jobs, for the API's routes and the dashboard's forms alike: submit (row committed, message
confirmed), show, list a page, cancel, retry. Errors are :class:`ApiError` (404, 409, 422) and
:class:`ServiceUnavailable` (503): the API answers them as JSON, the dashboard shows their message."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
from fastapi.responses import StreamingResponse

from leadworker.api.problems import ApiError
from leadworker.api.services import ApiServices
from leadworker.api.views import decode_cursor, encode_cursor, job_view, plain
from leadworker.broker.dlq import take_dead
from leadworker.broker.producer import job_message, submit_jobs
from leadworker.broker.publisher import PublishError
from leadworker.contracts import ScrapeJob
from leadworker.errors import ServiceUnavailable
from leadworker.store import jobs as jobstore
from leadworker.store.lead_files import lead_lines

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


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


def job_location(job_id: uuid.UUID) -> str:
    """Where a job is read: the ``Location`` of a submission's answer."""
    return f"/api/v1/jobs/{job_id}"


async def submitted_view(
    services: ApiServices, job_id: uuid.UUID, created: dict[uuid.UUID, asyncpg.Record]
) -> tuple[int, dict[str, Any]]:
    """The answer to one submitted job: 202 with the row just created, or 200 with the job a repeat names."""
    row = created.get(job_id)
    if row is not None:
        return 202, job_view(row)
    return 200, await job_view_or_404(services, job_id)


async def job_with_events(services: ApiServices, job_id: uuid.UUID) -> dict[str, Any]:
    """The job as :func:`job_view_or_404` shows it, with its ``events`` timeline (each with its ``id``)."""
    job = await job_view_or_404(services, job_id)
    job["events"] = [plain(dict(e)) for e in await jobstore.job_events(services.db, job_id)]
    return job


def job_cursor(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """The keyset ``(created_at, id)`` a jobs page's ``next`` cursor stands for; a 422 if it is not one."""
    if cursor is None:
        return None
    created, job_id = decode_cursor(cursor, 2)
    try:
        return dt.datetime.fromisoformat(created), uuid.UUID(job_id)
    except (TypeError, ValueError):
        raise ApiError(422, "cursor: not a cursor this API gave", fields={"cursor": "invalid"}) from None


async def jobs_page(
    services: ApiServices,
    *,
    status: str | None,
    user_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[asyncpg.Record], str | None]:
    """One page of jobs, newest first, and the cursor of the next page (None on the last)."""
    rows = await jobstore.page_jobs(
        services.db, status=status, user_id=user_id, since=since, until=until, after=job_cursor(cursor), limit=limit
    )
    last = rows[-1] if len(rows) == limit else None
    return rows, encode_cursor(last["created_at"], last["id"]) if last is not None else None


async def cancel(services: ApiServices, job_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a queued or running job: 404 if there is none, 409 if it is past that."""
    cancelled, status = await jobstore.cancel_job(services.db, job_id)
    if status is None:
        raise ApiError(404, f"no job {job_id}")
    if not cancelled:
        raise ApiError(409, f"job {job_id} is {status.value}; only a queued or running job can be cancelled")
    return await job_view_or_404(services, job_id)


async def retry(services: ApiServices, job_id: uuid.UUID) -> dict[str, Any]:
    """Run a failed or cancelled job again with fresh attempts; its parked message, if any, leaves the dead queue
    first (a later dead-letter replay must not run it twice). 404, 409, or 503 with the job left queued for the
    stuck-job sweep."""
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
        dead_queue = services.topology.dead_queue(services.topology.work_queue("scrape"))
        await take_dead(await services.broker(), dead_queue, str(job_id))
        await publisher.publish(job_message(job, services.topology))
    except PublishError as exc:
        await services.publish_failed()
        raise ServiceUnavailable(
            f"the broker did not confirm the job: {exc}; it is queued and will be sent by the stuck-job sweep"
        ) from exc
    return await job_view_or_404(services, job_id)


async def leads_download(services: ApiServices, job_id: uuid.UUID, fmt: str) -> StreamingResponse:
    """The job's leads as CSV or JSON Lines, streamed from a server-side cursor (as ``leads export --job``)."""
    if await jobstore.job_status(services.db, job_id) is None:
        raise ApiError(404, f"no job {job_id}")
    return StreamingResponse(
        lead_lines(services.db, fmt=fmt, job_id=job_id, whole_pages=True),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.{fmt}"'},
    )
