"""``POST /api/v1/inbound/{name}``: a CRM's signed webhook becomes an ``inline`` job (see :mod:`.inbound`)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from leadworker.api.auth import services_of
from leadworker.api.inbound import InboundSource, dig, records_of
from leadworker.api.job_actions import job_location, submit_or_503, submitted_view
from leadworker.api.problems import ApiError, validation_fields
from leadworker.contracts import ScrapeJob, structure_problem

router = APIRouter(prefix="/api/v1/inbound", tags=["inbound"])
INBOUND_NAMESPACE = uuid.UUID("5d0e8f7e-2b0c-4c8e-8f8e-1c7a3f0d9b21")


@router.post(
    "/{name}",
    status_code=202,
    summary="A CRM webhook (HMAC-signed raw body) as an inline job",
    responses={202: {"description": "the job made"}, 200: {"description": "a repeat: the same job"}},
)
async def inbound(request: Request, response: Response, name: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    sources: dict[str, InboundSource] = request.app.state.inbound
    source = sources.get(name)
    if source is None:
        raise ApiError(404, f"no inbound source {name!r} (see LEADWORKER_INBOUND_SOURCES)")
    body = await request.body()
    if not source.signed(body, request.headers.get(source.signature_header)):
        raise ApiError(401, f"the {source.signature_header} header is not the HMAC-SHA256 of the body")
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "the body is not JSON", fields={"body": "not JSON"}) from None
    event_id = dig(event, source.event_id)
    if not isinstance(event_id, (str, int)) or isinstance(event_id, bool) or str(event_id) == "":
        raise ApiError(422, f"{source.event_id}: the event id is missing", fields={source.event_id: "missing"})
    job = _job(source, event, uuid.uuid5(INBOUND_NAMESPACE, f"{name}\n{event_id}"))
    services = services_of(request)
    response.status_code, view = await submitted_view(services, job.job_id, await submit_or_503(services, [job]))
    response.headers["Location"] = job_location(job.job_id)
    return view


def _job(source: InboundSource, event: Any, job_id: uuid.UUID) -> ScrapeJob:
    records = records_of(source, event)
    if not records:
        raise ApiError(422, "the event carries no lead field the mapping names", fields={"fields": "empty"})
    problem = structure_problem(records)
    if problem is not None:
        raise ApiError(422, problem, fields={"body": problem})
    try:
        return ScrapeJob.model_validate(
            {"job_id": job_id, "source_types": ["inline"], "leads": records, "user_id": f"inbound:{source.name}"}
        )
    except ValidationError as exc:
        fields = validation_fields(exc.errors(include_url=False))
        raise ApiError(422, "; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields) from None
