"""Tables ``schedules`` and ``schedule_fires``: recurring scrape jobs and the fire times they handled.

A fire time makes at most one job: :func:`record_fire` inserts ``(schedule_id, fire_time)`` under its primary key
and creates the job row on the same connection, inside the caller's transaction (see
:mod:`leadworker.stages.schedule`). Due schedules are taken with ``FOR UPDATE SKIP LOCKED``, so instances that
poll at the same moment work on different schedules instead of waiting for each other.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from leadworker.contracts import ScrapeJob
from leadworker.store import jobs
from leadworker.store.pool import Database

_COLUMNS = """
       s.id, s.name, s.cron, s.time_zone, s.template, s.enabled, s.catch_up, s.overlap, s.jitter_seconds,
       s.next_fire_at, s.due_at, s.last_fire_at, s.last_job_id, s.created_at, s.updated_at"""

_WITH_LAST_JOB = (
    "SELECT"
    + _COLUMNS
    + """, j.status AS last_job_status
  FROM schedules s LEFT JOIN scrape_jobs j ON j.id = s.last_job_id"""
)


async def add_schedule(
    db: Database,
    *,
    name: str,
    cron: str,
    time_zone: str,
    template: dict[str, Any],
    catch_up: str,
    overlap: str,
    jitter_seconds: int,
    next_fire_at: datetime | None,
    due_at: datetime | None,
) -> asyncpg.Record | None:
    """Create a schedule; None if one of that name exists."""
    return await db.fetchrow(
        """
        INSERT INTO schedules (name, cron, time_zone, template, catch_up, overlap, jitter_seconds,
                               next_fire_at, due_at)
        VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
        ON CONFLICT (name) DO NOTHING
        RETURNING id
        """,
        name,
        cron,
        time_zone,
        template,
        catch_up,
        overlap,
        jitter_seconds,
        next_fire_at,
        due_at,
    )


async def list_schedules(db: Database) -> list[asyncpg.Record]:
    return await db.fetch(_WITH_LAST_JOB + " ORDER BY s.name")


async def get_schedule(db: Database, name: str) -> asyncpg.Record | None:
    return await db.fetchrow(_WITH_LAST_JOB + " WHERE s.name = $1", name)


async def set_enabled(
    db: Database, name: str, enabled: bool, next_fire_at: datetime | None, due_at: datetime | None
) -> bool:
    """Pause (``enabled`` false) or resume a schedule; resuming sets the next fire time given (the times missed
    while paused are not caught up). False if there is no such schedule."""
    result = await db.execute(
        """
        UPDATE schedules SET enabled = $2, next_fire_at = coalesce($3, next_fire_at),
                             due_at = coalesce($4, due_at), updated_at = now()
         WHERE name = $1
        """,
        name,
        enabled,
        next_fire_at,
        due_at,
    )
    return result.endswith(" 1")


async def remove_schedule(db: Database, name: str) -> bool:
    """Delete a schedule and its history of fires (its jobs stay). False if there is no such schedule."""
    return (await db.execute("DELETE FROM schedules WHERE name = $1", name)).endswith(" 1")


async def recent_fires(db: Database, schedule_id: int, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        """
        SELECT f.fire_time, f.kind, f.result, f.job_id, f.previous_job_id, f.worker, f.fired_at, j.status
          FROM schedule_fires f LEFT JOIN scrape_jobs j ON j.id = f.job_id
         WHERE f.schedule_id = $1
         ORDER BY f.fire_time DESC
         LIMIT $2
        """,
        schedule_id,
        limit,
    )


# --- firing (inside the caller's transaction) ---------------------------------------------------------------


async def lock_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Enabled schedules due at ``now``, locked for this transaction; those another instance holds are skipped."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT"
        + _COLUMNS
        + """
          FROM schedules s
         WHERE s.enabled AND s.due_at <= $1
         ORDER BY s.due_at
         LIMIT $2
           FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return rows


async def lock_schedule(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    """The schedule ``name``, locked for this transaction (waits for an instance firing it)."""
    return await conn.fetchrow("SELECT" + _COLUMNS + " FROM schedules s WHERE s.name = $1 FOR UPDATE", name)


async def job_is_active(conn: asyncpg.Connection, job_id: uuid.UUID | None) -> bool:
    """True if ``job_id`` is queued, running or retrying."""
    if job_id is None:
        return False
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM scrape_jobs WHERE id = $1 AND status = ANY($2::text[]))",
            job_id,
            [s.value for s in jobs.ACTIVE],
        )
    )


async def record_fire(
    conn: asyncpg.Connection,
    *,
    schedule_id: int,
    fire_time: datetime,
    kind: str,
    job: ScrapeJob | None,
    previous_job_id: uuid.UUID | None,
    worker: str,
) -> bool:
    """Record that ``fire_time`` of the schedule was handled: with ``job`` (its row created here, ``queued``),
    or skipped (``job`` None: the previous job was still running). False if the time was handled already:
    nothing is created then."""
    inserted = await conn.fetchval(
        """
        INSERT INTO schedule_fires (schedule_id, fire_time, kind, result, job_id, previous_job_id, worker)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (schedule_id, fire_time) DO NOTHING
        RETURNING true
        """,
        schedule_id,
        fire_time,
        kind,
        "fired" if job is not None else "overlap",
        job.job_id if job is not None else None,
        previous_job_id,
        worker,
    )
    if not inserted:
        return False
    if job is not None:
        await jobs.create_jobs(conn, [job])
    return True


async def advance(
    conn: asyncpg.Connection,
    schedule_id: int,
    *,
    next_fire_at: datetime | None,
    due_at: datetime | None,
    last_fire_at: datetime | None,
    last_job_id: uuid.UUID | None,
) -> None:
    """Move the schedule to its next fire time; ``last_fire_at`` and ``last_job_id`` change only when given."""
    await conn.execute(
        """
        UPDATE schedules
           SET next_fire_at = $2, due_at = $3, last_fire_at = coalesce($4, last_fire_at),
               last_job_id = coalesce($5, last_job_id), updated_at = now()
         WHERE id = $1
        """,
        schedule_id,
        next_fire_at,
        due_at,
        last_fire_at,
        last_job_id,
    )


async def set_last_job(conn: asyncpg.Connection, schedule_id: int, job_id: uuid.UUID) -> None:
    await conn.execute("UPDATE schedules SET last_job_id = $2, updated_at = now() WHERE id = $1", schedule_id, job_id)


# --- reading what a schedule found ---------------------------------------------------------------------------


async def latest_completed_run(db: Database, name: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """``(job, previous job)`` of the schedule's latest fire whose job completed, or None (no such schedule, or
    no completed run yet)."""
    row = await db.fetchrow(
        """
        SELECT f.job_id, f.previous_job_id
          FROM schedules s
          JOIN schedule_fires f ON f.schedule_id = s.id
          JOIN scrape_jobs j ON j.id = f.job_id
         WHERE s.name = $1 AND j.status = 'completed'
         ORDER BY f.fire_time DESC
         LIMIT 1
        """,
        name,
    )
    return (row["job_id"], row["previous_job_id"]) if row is not None else None


async def new_leads_of_run(db: Database, job_id: uuid.UUID, limit: int) -> dict[str, Any] | None:
    """For a job a schedule made: the schedule's name, the previous run, how many leads this run found that the
    previous one did not, and the first ``limit`` of their ids. None for a job no schedule made."""
    row = await db.fetchrow(
        """
        WITH fire AS (
            SELECT s.name, f.previous_job_id FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
             WHERE f.job_id = $1
        ), found AS (
            SELECT DISTINCT ls.lead_id
              FROM scrape_job_leads jl JOIN lead_sources ls ON ls.raw_lead_id = jl.raw_lead_id
             WHERE jl.job_id = $1
               AND NOT EXISTS (SELECT 1 FROM fire, scrape_job_leads pj JOIN lead_sources ps
                                   ON ps.raw_lead_id = pj.raw_lead_id
                                WHERE pj.job_id = fire.previous_job_id AND ps.lead_id = ls.lead_id)
        )
        SELECT fire.name, fire.previous_job_id, (SELECT count(*) FROM found) AS new_leads,
               (SELECT coalesce(array_agg(lead_id ORDER BY lead_id), '{}')
                  FROM (SELECT lead_id FROM found ORDER BY lead_id LIMIT $2) page) AS new_lead_ids
          FROM fire
        """,
        job_id,
        limit,
    )
    if row is None:
        return None
    return {
        "name": row["name"],
        "previous_job_id": str(row["previous_job_id"]) if row["previous_job_id"] else None,
        "new_leads": row["new_leads"],
        "new_lead_ids": list(row["new_lead_ids"]),
    }


async def overdue(db: Database, now: datetime) -> list[asyncpg.Record]:
    """Every enabled schedule's name and how many seconds past its due time it is (0 when not due)."""
    return await db.fetch(
        """
        SELECT name, greatest(0, extract(epoch FROM ($1::timestamptz - due_at)))::float8 AS seconds
          FROM schedules WHERE enabled AND due_at IS NOT NULL
        """,
        now,
    )


async def schedule_names(db: Database) -> list[str]:
    return [r["name"] for r in await db.fetch("SELECT name FROM schedules")]
