"""The job state machine of table ``scrape_jobs``, every transition in this file.

::

    queued ──▶ running ──▶ completed
                 │  ▲  └──▶ failed ──▶ queued   (dlq replay)
                 ▼  │
               retrying
    queued | running | retrying ──▶ cancelled

Each transition is one conditional statement (``... WHERE id = $1 AND status = ANY(...) RETURNING``). A
transition that does not apply means somebody else already made it: the caller reads the current status
and acts on that, it is never an error. Work on a job is fenced by its ``attempts``: a worker that claimed
attempt *n* can only finish, retry or fail attempt *n*; if another worker took the job over meanwhile
(attempt *n + 1*), the late worker's transition simply does not apply.

Every status change and every new attempt is recorded in ``job_events`` by a trigger (``sql/001_core.sql``).
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from leadworker.contracts import ScrapeJob
from leadworker.store.leads import PreparedLeads
from leadworker.store.pool import Database


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING)
"""Statuses a job can still leave by working on it."""
TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

_ACTIVE = [s.value for s in ACTIVE]


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`claim_job`: either we run it (``attempt``) or it is already ``status``."""

    status: JobStatus
    attempt: int
    created: bool = False

    @property
    def acquired(self) -> bool:
        return self.status is JobStatus.RUNNING


@dataclass(frozen=True)
class Completion:
    found: int
    new: int
    duplicates: int
    linked_ids: list[int]
    """Every raw lead the job found, new or duplicate (what its enrichment fan-out carries)."""


# --- creating --------------------------------------------------------------------------------------------

_CREATE = """
INSERT INTO scrape_jobs (id, user_id, status, criteria)
SELECT id, user_id, 'queued', criteria::jsonb
  FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, user_id, criteria)
ON CONFLICT (id) DO NOTHING
"""


async def create_jobs(db: Database | asyncpg.Connection, jobs: Sequence[ScrapeJob]) -> None:
    """Create the rows of jobs about to be published, as ``queued`` (one statement for all; on a connection,
    inside its transaction: a schedule's fire and its job are one commit)."""
    if not jobs:
        return
    await db.execute(
        _CREATE,
        [j.job_id for j in jobs],
        [j.user_id for j in jobs],
        [j.model_dump_json() for j in jobs],
    )


async def create_new_jobs(
    db: Database, jobs: Sequence[ScrapeJob], criteria: Sequence[str] | None = None
) -> dict[uuid.UUID, asyncpg.Record]:
    """:func:`create_jobs`, returning the rows this call created, by id, with the columns :func:`get_job`
    reads (so the API answers from them without reading the job back). A job id that exists is left alone:
    the API's repeat of a submission returns the job it made, and publishes nothing again. ``criteria``: the
    jobs' ``model_dump_json()`` if the caller has them already (made here otherwise)."""
    if not jobs:
        return {}
    rows = await db.fetch(
        _CREATE_RETURNING,
        [j.job_id for j in jobs],
        [j.user_id for j in jobs],
        list(criteria) if criteria is not None else [j.model_dump_json() for j in jobs],
    )
    return {r["id"]: r for r in rows}


_NOT_QUEUED = "SELECT id FROM scrape_jobs WHERE id = ANY($1::uuid[]) AND status <> 'queued'"


async def not_queued(db: Database, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` whose row exists and is no longer ``queued`` (claimed, finished, cancelled): a job a
    worker already has, whose message must not be published again (a second one would be taken for a
    crashed worker's and the job run twice). An id without a row is not among them."""
    if not ids:
        return set()
    return {r["id"] for r in await db.fetch(_NOT_QUEUED, list(ids))}


# --- claiming --------------------------------------------------------------------------------------------

_CLAIM = """
UPDATE scrape_jobs
   SET status = 'running', attempts = attempts + 1, worker = $2,
       started_at = coalesce(started_at, now()), heartbeat_at = now(), updated_at = now()
 WHERE id = ANY($1::uuid[]) AND status = ANY($3::text[])
RETURNING id, attempts
"""

_CLAIM_NEW = """
INSERT INTO scrape_jobs (id, user_id, status, criteria, attempts, worker, started_at, heartbeat_at)
VALUES ($1, $2, 'running', $3::jsonb, 1, $4, now(), now())
ON CONFLICT (id) DO NOTHING
RETURNING attempts
"""


async def claim_job(db: Database, job: ScrapeJob, worker: str) -> Claim:
    """queued | retrying | running → running, attempts + 1; a job without a row gets one.

    A ``running`` job whose message came back was orphaned by a dead worker (the broker only redelivers
    when the holder's channel closed), so it is taken over. Any other status is returned as it is.
    The common case is one small statement; the job's criteria are only sent when it has no row yet.
    """
    async with db.connection() as conn:
        for _ in range(2):
            claimed = await conn.fetchrow(_CLAIM, [job.job_id], worker, _ACTIVE)
            if claimed is not None:
                return Claim(JobStatus.RUNNING, claimed["attempts"])
            current = await conn.fetchrow("SELECT status, attempts FROM scrape_jobs WHERE id = $1", job.job_id)
            if current is None:
                attempts = await conn.fetchval(_CLAIM_NEW, job.job_id, job.user_id, job.criteria(), worker)
                if attempts is not None:
                    return Claim(JobStatus.RUNNING, attempts, created=True)
                continue  # a producer created the row in between: claim it
            if current["status"] not in _ACTIVE:
                return Claim(JobStatus(current["status"]), current["attempts"])
    raise AssertionError(f"could not claim job {job.job_id}: its row keeps changing")


async def claim_jobs(db: Database, batch: Sequence[ScrapeJob], worker: str) -> list[Claim]:
    """:func:`claim_job` for several jobs, with one statement for all those that have a claimable row (the
    common case); the others, and a job that appears twice, go one by one."""
    first: dict[uuid.UUID, int] = {}
    for index, job in enumerate(batch):
        first.setdefault(job.job_id, index)
    rows = await db.fetch(_CLAIM, list(first), worker, _ACTIVE)
    claimed = {row["id"]: row["attempts"] for row in rows}
    results = []
    for index, job in enumerate(batch):
        if first[job.job_id] == index and job.job_id in claimed:
            results.append(Claim(JobStatus.RUNNING, claimed[job.job_id]))
        else:
            results.append(await claim_job(db, job, worker))
    return results


# --- finishing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionRequest:
    """Complete attempt ``attempt`` of ``job_id`` with these leads and page count."""

    job_id: uuid.UUID
    attempt: int
    leads: PreparedLeads
    pages: int
    defer_fanout: bool = False
    """Mark the job's enrichment fan-out as waiting in the database (nothing consumes ``leads.normalize``)."""
    pages_degraded: int = 0
    """Pages that needed rendering and did not get it (no browser, render failed)."""


# One statement (one implicit transaction) stores the leads of one or more jobs, links them and completes
# the jobs. Each job row is locked first (in id order), so nothing is stored for a job unless its attempt
# still owns it running. A lead new to several jobs of the batch is inserted once and is "new" for the
# first of them; leads are inserted in hash order so that concurrent batches never deadlock.
_COMPLETE = """
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $9::boolean[], $10::int[])
                  AS r(job_id, attempt, pages, defer, degraded)
), job AS (
    SELECT j.id, req.pages, req.defer, req.degraded
      FROM scrape_jobs j JOIN req ON req.job_id = j.id
     WHERE j.status = 'running' AND j.attempts = req.attempt
     ORDER BY j.id
       FOR UPDATE OF j
), input AS (
    SELECT t.job_id, t.h, t.r::jsonb AS record, t.s, t.u
      FROM unnest($4::uuid[], $5::bytea[], $6::text[], $7::text[], $8::text[]) AS t(job_id, h, r, s, u)
     WHERE t.job_id IN (SELECT id FROM job)
), candidate AS (
    SELECT DISTINCT ON (h) h, record, s, u, job_id FROM input ORDER BY h, job_id
), inserted AS (
    INSERT INTO raw_leads (content_hash, record, source_type, source_url, first_job_id)
    SELECT h, record, s, u, job_id FROM candidate ORDER BY h
    ON CONFLICT (content_hash) DO NOTHING
    RETURNING id, content_hash, first_job_id
), linked AS (
    INSERT INTO scrape_job_leads (job_id, raw_lead_id, is_new)
    SELECT input.job_id, coalesce(i.id, r.id), coalesce(i.first_job_id = input.job_id, false)
      FROM input
      LEFT JOIN inserted i ON i.content_hash = input.h
      LEFT JOIN raw_leads r ON r.content_hash = input.h
     WHERE coalesce(i.id, r.id) IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING job_id, raw_lead_id
), counts AS (
    SELECT job.id, job.pages, job.defer, job.degraded,
           (SELECT count(*) FROM input WHERE input.job_id = job.id) AS found,
           (SELECT count(*) FROM inserted WHERE inserted.first_job_id = job.id) AS new
      FROM job
), done AS (
    UPDATE scrape_jobs j
       SET status = 'completed', completed_at = now(), updated_at = now(), heartbeat_at = NULL,
           pages = c.pages, pages_degraded = c.degraded, found = c.found, new = c.new,
           duplicates = c.found - c.new,
           error = NULL, error_kind = NULL, fanout_deferred = c.defer AND c.found > 0
      FROM counts c
     WHERE j.id = c.id
    RETURNING j.id, j.found, j.new, j.duplicates
)
SELECT d.id, d.found, d.new, d.duplicates,
       coalesce((SELECT array_agg(l.raw_lead_id ORDER BY l.raw_lead_id) FROM linked l WHERE l.job_id = d.id),
                '{}') AS linked_ids
  FROM done d
"""

# Links records whose row another transaction committed while _COMPLETE ran (its snapshot missed them).
_LINK_LATE = """
INSERT INTO scrape_job_leads (job_id, raw_lead_id, is_new)
SELECT $1, r.id, false FROM raw_leads r WHERE r.content_hash = ANY($2::bytea[])
ON CONFLICT DO NOTHING
RETURNING raw_lead_id
"""


WARM_UP: list[tuple[str, tuple[Any, ...]]] = [
    (_CLAIM, ([], "", _ACTIVE)),
    (_COMPLETE, ([], [], [], [], [], [], [], [], [], [])),
]
"""The statements every delivery runs, with arguments that touch nothing (see ``Database.connect``)."""


async def complete_jobs(db: Database, batch: Sequence[CompletionRequest]) -> list[Completion | None]:
    """running (each request's attempt) → completed, storing each job's leads deduplicated, in one statement.

    A result is ``None`` where the transition did not apply (cancelled meanwhile, or taken over by another
    worker); then nothing was stored for that job. A job that appears twice is completed in a statement of
    its own (its leads must not mix with the other request's).
    """
    seen: set[uuid.UUID] = set()
    now: list[CompletionRequest] = []
    later: list[int] = []
    for index, request in enumerate(batch):
        if request.job_id in seen:
            later.append(index)
        else:
            seen.add(request.job_id)
            now.append(request)
    lead_jobs: list[uuid.UUID] = []
    for request in now:
        lead_jobs.extend([request.job_id] * len(request.leads))
    async with db.connection() as conn:
        rows = await conn.fetch(
            _COMPLETE,
            [r.job_id for r in now],
            [r.attempt for r in now],
            [r.pages for r in now],
            lead_jobs,
            [h for r in now for h in r.leads.hashes],
            [x for r in now for x in r.leads.records],
            [x for r in now for x in r.leads.source_types],
            [x for r in now for x in r.leads.source_urls],
            [r.defer_fanout for r in now],
            [r.pages_degraded for r in now],
        )
        by_id = {row["id"]: row for row in rows}
        results: list[Completion | None] = []
        for request in batch:
            row = by_id.pop(request.job_id, None)
            if row is None:
                results.append(None)
                continue
            linked = list(row["linked_ids"])
            if len(linked) < row["found"]:
                late = await conn.fetch(_LINK_LATE, request.job_id, request.leads.hashes)
                linked = sorted({*linked, *(r["raw_lead_id"] for r in late)})
            results.append(Completion(row["found"], row["new"], row["duplicates"], linked))
    for index in later:
        results[index] = (await complete_jobs(db, [batch[index]]))[0]
    return results


async def complete_job(
    db: Database, job_id: uuid.UUID, attempt: int, leads: PreparedLeads, pages: int
) -> Completion | None:
    """:func:`complete_jobs` for one job."""
    return (await complete_jobs(db, [CompletionRequest(job_id, attempt, leads, pages)]))[0]


_RETRYING = """
UPDATE scrape_jobs
   SET status = 'retrying', error = $3, error_kind = $4, heartbeat_at = NULL, updated_at = now()
 WHERE id = $1 AND status = 'running' AND attempts = $2
"""


async def mark_retrying(db: Database, job_id: uuid.UUID, attempt: int, error: str, kind: str) -> bool:
    """running (attempt ``attempt``) → retrying, with the error that caused it."""
    result = await db.execute(_RETRYING, job_id, attempt, error, kind)
    return result.endswith(" 1")


_FAIL = """
INSERT INTO scrape_jobs AS j (id, user_id, status, criteria, error, error_kind, completed_at)
VALUES ($1, $2, 'failed', coalesce($3::jsonb, '{}'::jsonb), $4, $5, now())
ON CONFLICT (id) DO UPDATE
   SET status = 'failed', error = EXCLUDED.error, error_kind = EXCLUDED.error_kind,
       completed_at = now(), updated_at = now(), heartbeat_at = NULL
 WHERE j.status = ANY($6::text[]) AND ($7::int IS NULL OR j.attempts <= $7::int)
RETURNING j.status
"""


async def fail_job(
    db: Database,
    job_id: uuid.UUID,
    error: str,
    kind: str,
    *,
    attempt: int | None = None,
    user_id: str | None = None,
    criteria: dict[str, Any] | None = None,
) -> bool:
    """queued | running | retrying → failed; a job without a row gets one, already failed.

    With ``attempt``, only that attempt (or an earlier state) can fail the job: a worker that lost the job
    to a take-over cannot fail it under the new owner.
    """
    row = await db.fetchrow(
        _FAIL,
        job_id,
        user_id,
        criteria,
        error,
        kind,
        _ACTIVE,
        attempt,
    )
    return row is not None


async def cancel_job(db: Database, job_id: uuid.UUID) -> tuple[bool, JobStatus | None]:
    """queued | running | retrying → cancelled. Returns ``(cancelled by this call, status now)``; the status
    is None if there is no such job.

    A running crawl notices at its next heartbeat and stops; a queued message is skipped when delivered.
    """
    async with db.connection() as conn:
        row = await conn.fetchrow(
            """
            UPDATE scrape_jobs SET status = 'cancelled', completed_at = now(), updated_at = now(),
                                   heartbeat_at = NULL
             WHERE id = $1 AND status = ANY($2::text[])
            RETURNING status
            """,
            job_id,
            _ACTIVE,
        )
        if row is not None:
            return True, JobStatus.CANCELLED
        row = await conn.fetchrow("SELECT status FROM scrape_jobs WHERE id = $1", job_id)
    return False, JobStatus(row["status"]) if row else None


async def requeue_failed(db: Database, job_id: uuid.UUID) -> bool:
    """failed → queued, for a dead letter replayed by an operator: a fresh start, attempts back to 0
    (``job_events`` keeps the history of the earlier ones)."""
    result = await db.execute(
        """
        UPDATE scrape_jobs SET status = 'queued', attempts = 0, error = NULL, error_kind = NULL,
                               completed_at = NULL, worker = NULL, updated_at = now()
         WHERE id = $1 AND status = 'failed'
        """,
        job_id,
    )
    return result.endswith(" 1")


async def requeue_for_retry(db: Database, job_id: uuid.UUID) -> tuple[bool, JobStatus | None]:
    """failed | cancelled → queued with fresh attempts (the API's retry). Returns ``(requeued by this call,
    status now)``; the status is None if there is no such job."""
    async with db.connection() as conn:
        row = await conn.fetchrow(
            """
            UPDATE scrape_jobs SET status = 'queued', attempts = 0, error = NULL, error_kind = NULL,
                                   completed_at = NULL, worker = NULL, heartbeat_at = NULL, updated_at = now()
             WHERE id = $1 AND status IN ('failed', 'cancelled')
            RETURNING status
            """,
            job_id,
        )
        if row is not None:
            return True, JobStatus.QUEUED
        row = await conn.fetchrow("SELECT status FROM scrape_jobs WHERE id = $1", job_id)
    return False, JobStatus(row["status"]) if row else None


_REQUEUE_STUCK = """
UPDATE scrape_jobs
   SET status = 'retrying', heartbeat_at = NULL, updated_at = now(),
       error = $2, error_kind = 'stuck'
 WHERE id = $1 AND status = $3
"""

_FAIL_STUCK = """
UPDATE scrape_jobs
   SET status = 'failed', heartbeat_at = NULL, completed_at = now(), updated_at = now(),
       error = $2, error_kind = 'stuck'
 WHERE id = $1 AND status = $3
"""


async def requeue_stuck(conn: asyncpg.Connection, job_id: uuid.UUID, status: str, reason: str) -> None:
    """running | retrying | queued (stuck, see :mod:`leadworker.store.maintenance`) → retrying, within the
    caller's transaction (which publishes the job's new message before it commits)."""
    await conn.execute(_REQUEUE_STUCK, job_id, reason, status)


async def fail_stuck(conn: asyncpg.Connection, job_id: uuid.UUID, status: str, reason: str) -> None:
    """running | retrying | queued (stuck, its attempts used) → failed with ``error_kind=stuck``."""
    await conn.execute(_FAIL_STUCK, job_id, reason, status)


async def heartbeat(db: Database, job_id: uuid.UUID, attempt: int) -> JobStatus | None:
    """Mark attempt ``attempt`` of a running job alive; return the job's status (to notice a cancel)."""
    async with db.connection() as conn:
        status = await conn.fetchval(
            """
            UPDATE scrape_jobs SET heartbeat_at = now()
             WHERE id = $1 AND status = 'running' AND attempts = $2
            RETURNING status
            """,
            job_id,
            attempt,
        )
        if status is None:
            status = await conn.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", job_id)
    return JobStatus(status) if status else None


# --- reading ---------------------------------------------------------------------------------------------

_JOB_COLUMNS = """
id, user_id, status, criteria, attempts, worker, error, error_kind, pages, pages_degraded, found, new,
duplicates, created_at, started_at, heartbeat_at, completed_at, updated_at,
normalized, scored, invalid_phones, invalid_emails, enriched_at, enrich_error, enrich_error_kind, fanout_deferred
"""


_CREATE_RETURNING = _CREATE.replace("INSERT INTO scrape_jobs ", "INSERT INTO scrape_jobs AS j ") + (
    # Qualified: ``new`` is one of the columns, and a bare ``new`` means the new row in later PostgreSQL.
    " RETURNING " + ", ".join(f"j.{c.strip()}" for c in _JOB_COLUMNS.split(","))
)


async def get_job(db: Database, job_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_JOB_COLUMNS} FROM scrape_jobs WHERE id = $1", job_id)


def decoded_criteria(stored: Any) -> Any:
    """A job's ``criteria`` as read from jsonb. A worker older than migration 107 stored them as a JSON string
    of the object's text (one still running in a rolling upgrade may write one more): that text is decoded."""
    if isinstance(stored, str):
        try:
            return json.loads(stored)
        except ValueError:
            return stored
    return stored


async def job_criteria(db: Database, job_id: uuid.UUID) -> dict[str, Any] | None:
    """The job's criteria (its ScrapeJob as submitted), or None if the job does not exist."""
    criteria = decoded_criteria(await db.fetchval("SELECT criteria FROM scrape_jobs WHERE id = $1", job_id))
    return criteria if isinstance(criteria, dict) else None


_EVENT_CONTEXT = """
SELECT j.status, j.enriched_at, j.criteria->>'webhook_url' AS webhook_url,
       (SELECT max(e.id) FROM job_events e WHERE e.job_id = j.id AND e.to_status = j.status) AS transition
  FROM scrape_jobs j WHERE j.id = $1
"""


async def event_context(db: Database, job_id: uuid.UUID) -> asyncpg.Record | None:
    """What a job event needs: ``status``, ``enriched_at``, ``webhook_url`` and ``transition`` (the id of the
    ``job_events`` row that entered the current status)."""
    return await db.fetchrow(_EVENT_CONTEXT, job_id)


async def job_status(db: Database, job_id: uuid.UUID) -> JobStatus | None:
    status = await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", job_id)
    return JobStatus(status) if status else None


async def list_jobs(db: Database, status: str | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""
        SELECT {_JOB_COLUMNS} FROM scrape_jobs
         WHERE $1::text IS NULL OR status = $1
         ORDER BY created_at DESC, id
         LIMIT $2
        """,
        status,
        limit,
    )


async def job_events(db: Database, job_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, from_status, to_status, attempts, worker, error, at FROM job_events WHERE job_id = $1 ORDER BY id",
        job_id,
    )


async def statuses(db: Database, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, JobStatus]:
    rows = await db.fetch("SELECT id, status FROM scrape_jobs WHERE id = ANY($1::uuid[])", list(job_ids))
    return {r["id"]: JobStatus(r["status"]) for r in rows}


async def status_counts(db: Database) -> dict[str, int]:
    rows = await db.fetch("SELECT status, count(*) AS n FROM scrape_jobs GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def job_outcomes(db: Database, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The jobs' figures as they stand (``job_id`` as text, ``status``, ``attempts``, ``pages``, ``found``,
    ``new``, ``duplicates``, ``error_kind``, ``error``), in the order of ``job_ids``; an id with no job has
    status ``unknown``."""
    rows = await db.fetch(
        """SELECT id, status, attempts, pages, found, new, duplicates, error_kind, error
             FROM scrape_jobs WHERE id = ANY($1::uuid[])""",
        list(job_ids),
    )
    found = {r["id"]: {"job_id": str(r["id"]), **{k: v for k, v in dict(r).items() if k != "id"}} for r in rows}
    return {i: found.get(i, {"job_id": str(i), "status": "unknown"}) for i in job_ids}


def page_jobs_query(
    *,
    status: str | None,
    user_id: str | None,
    since: Any,
    until: Any,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The statement of one page of jobs and its arguments. Only the filters given become conditions, so each
    combination is planned for itself (through the index on its filter and ``created_at DESC, id DESC``)."""
    params: list[Any] = [limit]

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    conditions = []
    if status is not None:
        conditions.append(f"status = {arg(status)}::text")
    if user_id is not None:
        conditions.append(f"user_id = {arg(user_id)}::text")
    if since is not None:
        conditions.append(f"created_at >= {arg(since)}::timestamptz")
    if until is not None:
        conditions.append(f"created_at < {arg(until)}::timestamptz")
    if after is not None:
        conditions.append(f"(created_at, id) < ({arg(after[0])}::timestamptz, {arg(after[1])}::uuid)")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {_JOB_COLUMNS} FROM scrape_jobs{where} ORDER BY created_at DESC, id DESC LIMIT $1", params


async def page_jobs(
    db: Database,
    *,
    status: str | None,
    user_id: str | None,
    since: Any,
    until: Any,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of jobs, newest first (``created_at DESC, id DESC``), after the keyset ``after``
    (``(created_at, id)`` of the last row of the previous page)."""
    query, params = page_jobs_query(status=status, user_id=user_id, since=since, until=until, after=after, limit=limit)
    return await db.fetch(query, *params)
