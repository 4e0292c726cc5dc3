"""``/api/v1/jobs``: submit (one or a batch), list, show, cancel, retry, and download a job's leads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic_core import to_json

from leadworker.api import job_actions
from leadworker.api.auth import BEARER_SECURITY, READ, WRITE, Caller, authorize, services_of
from leadworker.api.problems import ApiError
from leadworker.api.submission import (
    MAX_IDEMPOTENCY_KEY,
    JobBatch,
    check_targets,
    idempotency_key_of,
    job_id_for,
    read_submission,
    to_job,
)
from leadworker.api.views import job_view
from leadworker.store.jobs import JobStatus

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY)]


_SUBMIT_OPENAPI: dict[str, Any] = {
    **BEARER_SECURITY,
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {
                "anyOf": [{"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY}, {"type": "null"}],
                "title": "Idempotency-Key",
            },
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobSubmission"}}},
    },
}
"""What FastAPI would document for ``body: JobSubmission``, ``Idempotency-Key`` and ``WRITE`` parameters, which
:func:`submit_job` reads itself (the schema of ``JobSubmission`` is in the components through the batch
route)."""


@router.post(
    "", status_code=202, summary="Submit a scrape job", response_model=dict[str, Any], openapi_extra=_SUBMIT_OPENAPI
)
async def submit_job(request: Request) -> Response:
    # The hot route: the token, the header and the body are read here, in that order (401 before 422), not
    # as parameters FastAPI solves on every request; the answer is rendered here, not validated again.
    caller = await authorize(request, "write")
    idempotency_key = idempotency_key_of(request)
    body = await read_submission(request)
    services = services_of(request)
    job = to_job(body, job_id_for(body, caller.token, idempotency_key))
    await check_targets(services.guard, [job])
    created = await job_actions.submit_or_503(services, [job])
    status, view = await job_actions.submitted_view(services, job.job_id, created)
    # Serialized as FastAPI serializes a returned dict (pydantic's serializer: a fifth of json.dumps' time).
    return Response(
        to_json(view), status, headers={"Location": job_actions.job_location(job.job_id)}, media_type="application/json"
    )


@router.post("/batch", status_code=202, summary="Submit up to 1,000 scrape jobs")
async def submit_batch(
    request: Request, body: JobBatch, idempotency_key: IdempotencyKey = None, caller: Caller = WRITE
) -> dict[str, Any]:
    services = services_of(request)
    batch = [to_job(s, job_id_for(s, caller.token, idempotency_key, n), f"jobs.{n}.") for n, s in enumerate(body.jobs)]
    if len({j.job_id for j in batch}) != len(batch):
        raise ApiError(422, "jobs: two jobs of the batch have the same job_id", fields={"jobs": "duplicate job_id"})
    await check_targets(services.guard, batch, prefix="jobs.")
    created = await job_actions.submit_or_503(services, batch)
    return {
        "jobs": [
            {"job_id": str(j.job_id), "created": j.job_id in created, "location": job_actions.job_location(j.job_id)}
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
    rows, next_cursor = await job_actions.jobs_page(
        services_of(request),
        status=status.value if status else None,
        user_id=user_id,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return {"jobs": [job_view(r) for r in rows], "next": next_cursor}


@router.get("/{job_id}", summary="A job: its row, counts, enrichment progress and event timeline")
async def show_job(request: Request, job_id: uuid.UUID, _: Caller = READ) -> dict[str, Any]:
    return await job_actions.job_with_events(services_of(request), job_id)


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job")
async def cancel_job(request: Request, job_id: uuid.UUID, _: Caller = WRITE) -> dict[str, Any]:
    return await job_actions.cancel(services_of(request), job_id)


@router.post("/{job_id}/retry", summary="Run a failed or cancelled job again, with fresh attempts")
async def retry_job(request: Request, job_id: uuid.UUID, _: Caller = WRITE) -> dict[str, Any]:
    return await job_actions.retry(services_of(request), job_id)


@router.get(
    "/{job_id}/leads",
    summary="The job's leads as CSV or JSON Lines, streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def job_leads(
    request: Request, job_id: uuid.UUID, format: Annotated[Literal["csv", "jsonl"], Query()] = "csv", _: Caller = READ
) -> StreamingResponse:
    return await job_actions.leads_download(services_of(request), job_id, format)
