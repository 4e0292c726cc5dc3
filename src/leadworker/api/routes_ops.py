"""Operations: queue depths, dead letters (list, replay, purge; admin), job statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from leadworker.api import dead_letter_actions
from leadworker.api.auth import ADMIN, READ, Caller, services_of
from leadworker.api.problems import ApiError
from leadworker.api.views import plain
from leadworker.common.durations import parse_duration
from leadworker.ops.queue_stats import job_stats, queue_stats
from leadworker.store import workers as registry

router = APIRouter(prefix="/api/v1", tags=["operations"])
QueueName = Annotated[str | None, Query(max_length=200, description="a stage or its queue name; all if left out")]


class DeadLetterAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str | None = Field(None, max_length=200, description="a stage or its queue name; all if left out")
    limit: int | None = Field(None, ge=1, le=100_000, description="at most this many; all if left out")


@router.get("/queues", summary="Per stage: messages ready, consumers, waiting retries, dead letters")
async def queues(request: Request, _: Caller = READ) -> dict[str, Any]:
    services = services_of(request)
    return {"queues": await queue_stats(await services.broker(), services.topology)}


@router.get("/stats", summary="Jobs by status and what finished in the window (as `jobs stats`)")
async def stats(
    request: Request,
    since: Annotated[str, Query(max_length=20, description="window: 90s, 15m, 1h, 7d...")] = "1h",
    _: Caller = READ,
) -> dict[str, Any]:
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise ApiError(422, f"since: {exc}", fields={"since": str(exc)}) from None
    if not 0 < window <= 366 * 86400:
        raise ApiError(422, "since: between 1 s and 366 days", fields={"since": "between 1 s and 366 days"})
    return await job_stats(services_of(request).db, window)


@router.get("/dead-letters", summary="Parked messages: reason, kind, attempts, job id, first seen (left in place)")
async def dead_letters(
    request: Request, queue: QueueName = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50, _: Caller = ADMIN
) -> dict[str, Any]:
    letters = await dead_letter_actions.list_letters(services_of(request), queue, limit)
    return {"dead_letters": [letter.as_json() for letter in letters]}


@router.post("/dead-letters/replay", summary="Move dead letters back to their queues; failed jobs run afresh")
async def replay(request: Request, body: DeadLetterAction, _: Caller = ADMIN) -> dict[str, Any]:
    return {"replayed": await dead_letter_actions.replay(services_of(request), body.queue, body.limit)}


@router.post("/dead-letters/purge", summary="Delete dead letters for good")
async def purge(request: Request, body: DeadLetterAction, _: Caller = ADMIN) -> dict[str, Any]:
    return {"purged": await dead_letter_actions.purge(services_of(request), body.queue, body.limit)}


@router.get(
    "/workers",
    summary="Worker processes: host, pid, version, stages, started, last seen, in flight, "
    "handled; state running, silent or stopped",
)
async def workers(
    request: Request, include_stopped: Annotated[bool, Query()] = False, _: Caller = READ
) -> dict[str, Any]:
    rows = await registry.list_workers(services_of(request).db, include_stopped=include_stopped)
    return {"workers": [plain(dict(r)) for r in rows]}
