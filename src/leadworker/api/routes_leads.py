"""``/api/v1/leads``: list (filters, text search, keyset pages), one lead in full, the export stream, and
recording a lead's outcome (what became of it: what learned scoring learns from)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from leadworker.api import lead_actions
from leadworker.api.auth import READ, WRITE, Caller, services_of
from leadworker.api.job_actions import MEDIA_TYPES
from leadworker.api.problems import ApiError
from leadworker.api.views import plain
from leadworker.contracts import structure_problem
from leadworker.store.lead_export import job_exists
from leadworker.store.lead_files import lead_lines
from leadworker.store.outcomes import NewOutcome, record_outcomes

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])
Segment = Annotated[Literal["hot", "warm", "cold"] | None, Query()]
MinScore = Annotated[int | None, Query(ge=0, le=100)]
JobId = Annotated[uuid.UUID | None, Query(description="leads this job found")]


Country = Annotated[str | None, Query(min_length=2, max_length=2, pattern="^[A-Za-z]{2}$")]
Text = Annotated[str | None, Query(min_length=1, max_length=200, description="in name, domain or e-mail")]


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
    lead_actions.check_text(q)
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
    result: dict[str, Any] = plain(await lead_actions.lead_or_404(services_of(request), lead_id))
    return result


class OutcomeBody(BaseModel):
    """What became of a lead."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["won", "lost", "contacted", "bad_data"]
    at: dt.datetime | None = Field(None, description="when it happened (ISO 8601; without a zone: UTC); default now")
    note: str | None = Field(None, max_length=2000)


@router.post(
    "/{lead_id}/outcome",
    status_code=201,
    summary="Record what became of a lead (won, lost, contacted, bad_data)",
    responses={
        201: {"description": "recorded (on the lead's survivor if it was merged away)"},
        200: {"description": "a repeat: this outcome at this time was recorded before"},
    },
)
async def record_outcome(
    request: Request,
    response: Response,
    body: OutcomeBody,
    lead_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    caller: Caller = WRITE,
) -> dict[str, Any]:
    problem = structure_problem({"note": body.note})
    if problem is not None:
        raise ApiError(422, problem, fields={"note": problem.partition(": ")[2]})
    at = body.at
    if at is not None:
        at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
        if not dt.datetime(1970, 1, 1, tzinfo=dt.UTC) <= at <= dt.datetime(9999, 1, 1, tzinfo=dt.UTC):
            raise ApiError(422, "at: must lie between 1970 and 9999", fields={"at": "out of range"})
    (done,) = await record_outcomes(
        services_of(request).db, [NewOutcome(lead_id, body.outcome, at, body.note)], source=f"api:{caller.token}"
    )
    if done.lead_id is None:
        raise ApiError(404, f"no lead {lead_id}")
    if not done.created:
        response.status_code = 200
    return {"lead_id": done.lead_id, "given_lead_id": lead_id, "outcome": body.outcome, "created": done.created}
