"""``/``: what is going on. Jobs finished per minute and the success rate over the last hour and the last day
(inline SVG; read through the index on ``completed_at``, status included, so a busy day costs milliseconds),
queue depths and dead letters from the broker, live workers, and the latest
failures with their reasons."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leadworker.api.auth import services_of
from leadworker.dashboard.charts import success_chart, throughput_chart
from leadworker.dashboard.rendering import render
from leadworker.dashboard.viewer import READER, Viewer
from leadworker.errors import ServiceUnavailable, one_line
from leadworker.ops.queue_stats import queue_stats
from leadworker.store import workers as registry
from leadworker.store.job_stats import finished_series, latest_failures

router = APIRouter(include_in_schema=False)
WINDOWS = (
    # (name, bucket seconds, buckets, label every n buckets)
    ("last hour", 60, 60, 10),
    ("last day", 900, 96, 16),
)
LATEST_FAILURES = 8


async def _queues(request: Request) -> tuple[list[dict[str, Any]], str | None]:
    services = services_of(request)
    try:
        return await queue_stats(await services.broker(), services.topology), None
    except ServiceUnavailable as exc:
        return [], one_line(exc, 300)


@router.get("/")
async def overview(request: Request, _: Viewer = READER) -> Response:
    services = services_of(request)
    # The broker and the database are asked at once (each query on a pool connection of its own): the page
    # takes as long as its slowest question, not the sum of them.
    hour, day, (queues, broker_problem), workers, failures = await asyncio.gather(
        *(finished_series(services.db, seconds, count) for _name, seconds, count, _every in WINDOWS),
        _queues(request),
        registry.list_workers(services.db),
        latest_failures(services.db, LATEST_FAILURES),
    )
    charts = []
    for (name, bucket_seconds, _count, every), series in zip(WINDOWS, (hour, day), strict=True):
        charts.append(
            {
                "name": name,
                "completed": sum(b.completed for b in series),
                "failed": sum(b.failed for b in series),
                "throughput": throughput_chart(f"Jobs finished per minute, {name}", series, bucket_seconds, every),
                "success": success_chart(f"Success rate, {name}", series, every),
            }
        )
    return render(
        request,
        "overview.html",
        {
            "charts": charts,
            "queues": queues,
            "broker_problem": broker_problem,
            "dead_letters": sum(q["dead_letters"] for q in queues),
            "workers": workers,
            "running_workers": sum(1 for w in workers if w["state"] == "running"),
            "failures": failures,
        },
    )
