"""``leadworker jobs stats``: one document from the database (jobs) and the broker (queues)."""

from __future__ import annotations

from typing import Any

from aio_pika.abc import AbstractConnection

from leadworker.broker.topology import STAGE_QUEUES, Topology, queue_depths
from leadworker.store import jobs as jobstore
from leadworker.store.job_stats import window_stats
from leadworker.store.jobs import JobStatus
from leadworker.store.pool import Database


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


async def job_stats(db: Database, window_seconds: float) -> dict[str, Any]:
    """Jobs by status (now), and what finished in the window: throughput, success rate, durations."""
    counts = await jobstore.status_counts(db)
    by_status = {s.value: counts.get(s.value, 0) for s in JobStatus}
    w = await window_stats(db, window_seconds)
    decided = w.completed + w.failed
    return {
        "generated_at": w.generated_at.isoformat(),
        "window_seconds": window_seconds,
        "window_start": w.window_start.isoformat(),
        "by_status": by_status,
        "total": sum(by_status.values()),
        "window": {
            "created": w.created,
            "finished": w.finished,
            "completed": w.completed,
            "failed": w.failed,
            "cancelled": w.cancelled,
            "throughput_per_minute": round(w.completed * 60 / window_seconds, 4),
            "success_rate": round(w.completed / decided, 4) if decided else None,
            "duration_seconds": {"mean": _round(w.duration_mean, 3), "p95": _round(w.duration_p95, 3)},
            "latency_seconds": {"mean": _round(w.latency_mean, 3), "p95": _round(w.latency_p95, 3)},
        },
    }


async def queue_stats(connection: AbstractConnection, topology: Topology) -> list[dict[str, Any]]:
    """Per stage whose queues exist: messages ready and consumers on the work queue, messages waiting in its
    retry tiers, dead letters (by passive declaration; nothing is consumed)."""
    names = [name for stage in STAGE_QUEUES for name in topology.queues_of(stage)]
    depths = await queue_depths(connection, names)
    result = []
    for stage in STAGE_QUEUES:
        work = topology.work_queue(stage)
        if work not in depths:
            continue
        ready, consumers = depths[work]
        tiers = [topology.retry_queue(work, n) for n in range(1, len(topology.retry_backoff) + 1)]
        result.append(
            {
                "queue": work,
                "stage": stage,
                "messages_ready": ready,
                "consumers": consumers,
                "retry_waiting": sum(depths.get(tier, (0, 0))[0] for tier in tiers),
                "dead_letters": depths.get(topology.dead_queue(work), (0, 0))[0],
            }
        )
    return result
