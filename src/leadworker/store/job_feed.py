"""The feed of job events for live listeners: ``job_events`` rows in id order, announced at commit by
PostgreSQL ``NOTIFY leadworker_job_events`` (``sql/082_job_event_notify.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from leadworker.store.pool import Database

CHANNEL = "leadworker_job_events"
PROGRESS_CHANNEL = "leadworker_job_progress"
"""Enrichment progress (``sql/083_job_progress_notify.sql``): the payload is the figures, as JSON."""


async def connect_listener(
    url: str, on_event: Callable[[], None], on_lost: Callable[[], None], on_progress: Callable[[str], None]
) -> asyncpg.Connection:
    """A connection of its own (never a pooled one: it stays LISTENing) calling ``on_event()`` for every new
    event, ``on_progress(payload)`` for every enrichment progress and ``on_lost()`` when the connection ends."""
    conn = await asyncpg.connect(url, timeout=10)

    def notified(*_: Any) -> None:
        on_event()

    def terminated(*_: Any) -> None:
        on_lost()

    def progressed(_conn: Any, _pid: Any, _channel: Any, payload: Any) -> None:
        on_progress(str(payload))

    conn.add_termination_listener(terminated)
    await conn.add_listener(CHANNEL, notified)
    await conn.add_listener(PROGRESS_CHANNEL, progressed)
    return conn


async def latest_event_id(db: Database) -> int:
    return int(await db.fetchval("SELECT coalesce(max(id), 0) FROM job_events"))


async def events_after(db: Database, after_id: int, job_id: uuid.UUID | None, limit: int = 500) -> list[asyncpg.Record]:
    """Events with an id above ``after_id`` (of one job, if given), oldest first, with the job's counts."""
    return await db.fetch(
        """SELECT e.id, e.job_id, e.from_status, e.to_status, e.attempts, e.worker, e.error, e.at,
                  j.pages, j.pages_degraded, j.found, j.new, j.duplicates, j.normalized, j.scored, j.enriched_at
             FROM job_events e JOIN scrape_jobs j ON j.id = e.job_id
            WHERE e.id > $1 AND ($2::uuid IS NULL OR e.job_id = $2)
            ORDER BY e.id LIMIT $3""",
        after_id,
        job_id,
        limit,
    )
