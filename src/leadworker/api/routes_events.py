"""``GET /api/v1/events``: job transitions as Server-Sent Events, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from leadworker.api.auth import READ, Caller, services_of
from leadworker.api.live_events import EventHub
from leadworker.api.problems import ApiError

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get(
    "/events",
    summary="Job transitions as Server-Sent Events (LISTEN/NOTIFY; resume with Last-Event-ID)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    job_id: Annotated[uuid.UUID | None, Query(description="only this job's events")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    _: Caller = READ,
) -> StreamingResponse:
    after = None
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) >= 2**63:
            raise ApiError(
                422, "Last-Event-ID: the id of an event this stream sent", fields={"Last-Event-ID": "an event id"}
            )
        after = int(last_event_id)
    hub: EventHub = request.app.state.events
    return StreamingResponse(
        hub.stream(services_of(request).db, after, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
