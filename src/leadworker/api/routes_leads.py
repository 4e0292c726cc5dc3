"""``/api/v1/leads``: list (filters, text search, keyset pages), one lead in full, and the export stream."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from leadworker.api.auth import READ, Caller, services_of
from leadworker.api.problems import ApiError
from leadworker.api.routes_jobs import MEDIA_TYPES
from leadworker.api.views import decode_cursor, encode_cursor, plain
from leadworker.store.lead_export import job_exists, lead_detail
from leadworker.store.lead_files import lead_lines
from leadworker.store.lead_pages import page_leads

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])
Segment = Annotated[Literal["hot", "warm", "cold"] | None, Query()]
MinScore = Annotated[int | None, Query(ge=0, le=100)]
JobId = Annotated[uuid.UUID | None, Query(description="leads this job found")]


Country = Annotated[str | None, Query(min_length=2, max_length=2, pattern="^[A-Za-z]{2}$")]
Text = Annotated[str | None, Query(min_length=1, max_length=200, description="in name, domain or e-mail")]


def _text(q: str | None) -> str | None:
    if q is not None and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in q):
        raise ApiError(422, "q: must not hold control characters", fields={"q": "must not hold control characters"})
    return q


@router.get("", summary="List canonical leads by id")
async def list_leads(
    request: Request,
    segment: Segment = None,
    min_score: MinScore = None,
    country: Country = None,
    job_id: JobId = None,
    q: Text = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="`next` of the previous page")] = None,
    _: Caller = READ,
) -> dict[str, Any]:
    after = 0
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
            raise ApiError(422, "cursor: not a cursor this API gave", fields={"cursor": "invalid"})
    q = _text(q)
    rows = await page_leads(
        services_of(request).db,
        segment=segment,
        min_score=min_score,
        country=country,
        job_id=job_id,
        q=q,
        after_id=after,
        limit=limit,
    )
    return {
        "leads": [plain(dict(r)) for r in rows],
        "next": encode_cursor(rows[-1]["lead_id"]) if len(rows) == limit else None,
    }


@router.get(
    "/export",
    summary="Leads as CSV or JSON Lines (the filters of the list), streamed in constant memory",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export(
    request: Request,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
    segment: Segment = None,
    min_score: MinScore = None,
    country: Country = None,
    job_id: JobId = None,
    q: Text = None,
    _: Caller = READ,
) -> StreamingResponse:
    services = services_of(request)
    q = _text(q)
    if job_id is not None and not await job_exists(services.db, job_id):
        raise ApiError(404, f"no job {job_id}")
    lines = lead_lines(
        services.db,
        fmt=format,
        job_id=job_id,
        segment=segment,
        min_score=min_score,
        country=country,
        q=q,
        whole_pages=True,
    )
    return StreamingResponse(
        lines, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": f'attachment; filename="leads.{format}"'}
    )


@router.get("/{lead_id}", summary="One lead: values with provenance, sources, scores per job")
async def show_lead(
    request: Request, lead_id: Annotated[int, Path(ge=1, le=2**63 - 1)], _: Caller = READ
) -> dict[str, Any]:
    detail = await lead_detail(services_of(request).db, lead_id)
    if detail is None:
        raise ApiError(404, f"no lead {lead_id}")
    result: dict[str, Any] = plain(detail)
    return result
