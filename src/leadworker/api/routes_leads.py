"""``/api/v1/leads``: list (filters, text search, keyset pages), one lead in full, and the export stream."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from leadworker.api import lead_actions
from leadworker.api.auth import READ, Caller, services_of
from leadworker.api.job_actions import MEDIA_TYPES
from leadworker.api.problems import ApiError
from leadworker.api.views import plain
from leadworker.store.lead_export import job_exists
from leadworker.store.lead_files import lead_lines

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])
Segment = Annotated[Literal["hot", "warm", "cold"] | None, Query()]
MinScore = Annotated[int | None, Query(ge=0, le=100)]
JobId = Annotated[uuid.UUID | None, Query(description="leads this job found")]


@router.get("", summary="List canonical leads by id")
async def list_leads(
    request: Request,
    segment: Segment = None,
    min_score: MinScore = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2, pattern="^[A-Za-z]{2}$")] = None,
    job_id: JobId = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="in name, domain or e-mail")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="`next` of the previous page")] = None,
    _: Caller = READ,
) -> dict[str, Any]:
    rows, next_cursor = await lead_actions.leads_page(
        services_of(request),
        segment=segment,
        min_score=min_score,
        country=country,
        job_id=job_id,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    return {"leads": [plain(dict(r)) for r in rows], "next": next_cursor}


@router.get(
    "/export",
    summary="Leads as CSV or JSON Lines, streamed in constant memory",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export(
    request: Request,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
    segment: Segment = None,
    min_score: MinScore = None,
    job_id: JobId = None,
    _: Caller = READ,
) -> StreamingResponse:
    services = services_of(request)
    if job_id is not None and not await job_exists(services.db, job_id):
        raise ApiError(404, f"no job {job_id}")
    lines = lead_lines(services.db, fmt=format, job_id=job_id, segment=segment, min_score=min_score)
    return StreamingResponse(
        lines, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": f'attachment; filename="leads.{format}"'}
    )


@router.get("/{lead_id}", summary="One lead: values with provenance, sources, scores per job")
async def show_lead(
    request: Request, lead_id: Annotated[int, Path(ge=1, le=2**63 - 1)], _: Caller = READ
) -> dict[str, Any]:
    result: dict[str, Any] = plain(await lead_actions.lead_or_404(services_of(request), lead_id))
    return result
