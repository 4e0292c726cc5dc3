"""Periodic maintenance: rescue stuck jobs, delete old ones. One instance at a time, under an advisory lock.

A job is stuck when nothing will move it any more:

- ``running`` with no heartbeat for ``stale_seconds`` — its worker was killed (OOM killer, power loss) and its
  message is gone or held by a hung process;
- ``retrying`` for longer than the longest retry delay plus ``stale_seconds`` — its retry message was lost;
- ``queued`` for ``stale_seconds`` while the work queue is empty — its producer created the row and died
  before the publish was confirmed.

A stuck job that still has attempts left gets a fresh message (status ``retrying``); one that has used them
all is failed with error kind ``stuck``. A duplicate message is harmless: the claim and the attempt fence make
every handler idempotent.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from leadworker.broker.publisher import OutgoingMessage
from leadworker.broker.retry_policy import RetryPolicy
from leadworker.store import jobs
from leadworker.store.pool import Database

MAINTENANCE_LOCK_ID = 7_411_320_002
"""Advisory lock key of the maintenance run (an arbitrary constant of ours)."""


@dataclass
class StuckJobs:
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped_locked: bool = False
    """Another instance holds the maintenance lock; nothing was done."""


_FIND_STUCK = """
SELECT id, status, attempts, criteria
  FROM scrape_jobs
 WHERE (status = 'running' AND coalesce(heartbeat_at, started_at, updated_at) < now() - make_interval(secs => $1))
    OR (status = 'retrying' AND updated_at < now() - make_interval(secs => $2))
    OR ($3 AND status = 'queued' AND updated_at < now() - make_interval(secs => $1))
 ORDER BY updated_at
 LIMIT $4
   FOR UPDATE SKIP LOCKED
"""


async def requeue_stuck_jobs(
    db: Database,
    publish: Any,
    *,
    work_queue: str,
    stale_seconds: float,
    policy: RetryPolicy,
    include_queued: bool,
    limit: int = 1000,
) -> StuckJobs:
    """Find stuck jobs and requeue or fail them, holding the maintenance lock for the transaction.

    ``publish`` is an async callable taking the :class:`OutgoingMessage` list to publish (with confirms)
    before the transaction commits: a crash in between leaves the job as it was, to be found again.
    ``include_queued`` should be true only when the work queue holds no ready message.
    """
    result = StuckJobs()
    async with db.transaction() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", MAINTENANCE_LOCK_ID):
            result.skipped_locked = True
            return result
        rows = await conn.fetch(_FIND_STUCK, stale_seconds, policy.longest_delay + stale_seconds, include_queued, limit)
        messages: list[OutgoingMessage] = []
        for row in rows:
            silent = "no heartbeat" if row["status"] == "running" else f"{row['status']} without a message"
            if policy.is_last(row["attempts"]):
                reason = f"stuck ({silent} for over {stale_seconds:g} s) after {row['attempts']} attempts"
                await jobs.fail_stuck(conn, row["id"], row["status"], reason)
                result.failed.append(row["id"])
                continue
            reason = f"stuck ({silent} for over {stale_seconds:g} s); requeued by maintenance"
            await jobs.requeue_stuck(conn, row["id"], row["status"], reason)
            criteria = row["criteria"]
            body = json.dumps(criteria if isinstance(criteria, dict) else json.loads(criteria)).encode()
            messages.append(OutgoingMessage(routing_key=work_queue, body=body, message_id=str(row["id"])))
            result.requeued.append(row["id"])
        if messages:
            await publish(messages)
    return result


@dataclass
class Cleanup:
    jobs: int
    raw_leads: int
    skipped_locked: bool = False


_OLD_JOBS_COUNT = """
SELECT count(*) FROM scrape_jobs
 WHERE status IN ('completed', 'failed', 'cancelled')
   AND coalesce(completed_at, updated_at) < now() - make_interval(secs => $1)
"""

_STILL_REFERENCED = """
       EXISTS (SELECT 1 FROM lead_sources s WHERE s.raw_lead_id = r.id)
    OR EXISTS (SELECT 1 FROM lead_values v WHERE v.raw_lead_id = r.id)
    OR EXISTS (SELECT 1 FROM lead_keys k WHERE k.raw_lead_id = r.id)
    OR EXISTS (SELECT 1 FROM lead_conflicts c WHERE c.raw_lead_id = r.id)
"""
"""A raw lead a canonical lead was built from is provenance: it stays as long as the lead does."""

_ORPHANS_AFTER_COUNT = (
    """
SELECT count(*) FROM raw_leads r
 WHERE NOT EXISTS (
       SELECT 1 FROM scrape_job_leads l JOIN scrape_jobs j ON j.id = l.job_id
        WHERE l.raw_lead_id = r.id
          AND NOT (j.status IN ('completed', 'failed', 'cancelled')
                   AND coalesce(j.completed_at, j.updated_at) < now() - make_interval(secs => $1)))
   AND NOT ("""
    + _STILL_REFERENCED
    + """)
"""
)

_DELETE_OLD_JOBS = """
WITH d AS (
    DELETE FROM scrape_jobs
     WHERE status IN ('completed', 'failed', 'cancelled')
       AND coalesce(completed_at, updated_at) < now() - make_interval(secs => $1)
    RETURNING 1
) SELECT count(*) FROM d
"""

_DELETE_ORPHAN_LEADS = (
    """
WITH d AS (
    DELETE FROM raw_leads r
     WHERE NOT EXISTS (SELECT 1 FROM scrape_job_leads l WHERE l.raw_lead_id = r.id)
       AND NOT ("""
    + _STILL_REFERENCED
    + """)
    RETURNING 1
) SELECT count(*) FROM d
"""
)


async def cleanup_old(db: Database, older_than_seconds: float, *, dry_run: bool = False) -> Cleanup:
    """Delete terminal jobs finished more than ``older_than_seconds`` ago (with their events, links, scores
    and webhook logs), then raw leads that neither a job nor a canonical lead references any more. Canonical
    leads are never deleted: they are the product."""
    async with db.transaction() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", MAINTENANCE_LOCK_ID):
            return Cleanup(0, 0, skipped_locked=True)
        if dry_run:
            jobs = await conn.fetchval(_OLD_JOBS_COUNT, older_than_seconds)
            orphans = await conn.fetchval(_ORPHANS_AFTER_COUNT, older_than_seconds)
            return Cleanup(jobs, orphans)
        deleted_jobs = await conn.fetchval(_DELETE_OLD_JOBS, older_than_seconds)
        deleted_leads = await conn.fetchval(_DELETE_ORPHAN_LEADS)
    return Cleanup(deleted_jobs, deleted_leads)
