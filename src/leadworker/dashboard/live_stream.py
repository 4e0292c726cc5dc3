"""``/live/events``: the API's job event stream (the same :class:`EventHub`, LISTEN/NOTIFY, no polling) for the
signed-in browser, whose ``EventSource`` sends the session cookie and no ``Authorization`` header. ``after``
resumes after the last event the page was rendered with, so nothing between the render and the connection is
missed; a reconnecting ``EventSource`` sends ``Last-Event-ID``, which wins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from leadworker.api.auth import services_of
from leadworker.api.live_events import EventHub
from leadworker.dashboard.rendering import secured
from leadworker.dashboard.viewer import READER, Viewer

router = APIRouter(include_in_schema=False)


def _event_id(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and int(text) < 2**63 else None


@router.get("/live/events")
async def live_events(
    request: Request,
    job_id: Annotated[uuid.UUID | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=20)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    _: Viewer = READER,
) -> Response:
    hub: EventHub = request.app.state.events
    resume = _event_id(last_event_id)
    if resume is None:
        resume = _event_id(after)
    return secured(
        StreamingResponse(
            hub.stream(services_of(request).db, resume, job_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    )
