"""A job's enrichment progress and its end, ``enriched_at``, set exactly once.

Progress is recomputed from the data, never incremented, so it cannot drift under redeliveries: over every raw
lead the job found (``scrape_job_leads``: new or duplicate), how many are normalized, and how many belong to a
canonical lead the job has scored. A job is enriched when it is completed and each of its raw leads is
normalized and either scored for the job or rejected by normalization (nothing usable to make a lead of).

A duplicate another job normalized long ago counts as normalized; its lead is scored again for this job
(the score depends on the job's keywords, industry and geography), so every job reaches ``enriched_at``.

Each update locks the job row, so updates of one job run one after another: the update that runs after the
last score of the job committed sees everything done and sets ``enriched_at``; the conditional ``WHERE
enriched_at IS NULL`` makes it happen once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from leadworker.store.pool import Database

_COUNTS = """
SELECT count(*) AS found,
       count(*) FILTER (WHERE r.normalized_at IS NOT NULL) AS normalized,
       count(*) FILTER (WHERE sc.lead_id IS NOT NULL) AS scored,
       count(*) FILTER (WHERE r.normalized_at IS NOT NULL AND (s.lead_id IS NULL OR sc.lead_id IS NOT NULL)) AS done,
       coalesce(sum((r.normalization->>'invalid_phones')::int), 0) AS invalid_phones,
       coalesce(sum((r.normalization->>'invalid_emails')::int), 0) AS invalid_emails
  FROM scrape_job_leads jl
  JOIN raw_leads r ON r.id = jl.raw_lead_id
  LEFT JOIN lead_sources s ON s.raw_lead_id = jl.raw_lead_id
  LEFT JOIN lead_scores sc ON sc.lead_id = s.lead_id AND sc.job_id = jl.job_id
 WHERE jl.job_id = $1
"""


@dataclass(frozen=True)
class Progress:
    status: str
    found: int
    normalized: int
    scored: int
    enriched_at: dt.datetime | None
    newly_enriched: bool
    """True if this update set ``enriched_at``."""


async def update_progress(db: Database, job_id: uuid.UUID) -> Progress | None:
    """Recompute the progress of ``job_id`` onto its row; set ``enriched_at`` if it is done. None: no such job."""
    async with db.transaction() as conn:
        job = await conn.fetchrow(
            "SELECT status, enriched_at, found, normalized, scored FROM scrape_jobs WHERE id = $1 FOR UPDATE",
            job_id,
        )
        if job is None:
            return None
        if job["enriched_at"] is not None:
            return Progress(job["status"], job["found"], job["normalized"], job["scored"], job["enriched_at"], False)
        counts = await conn.fetchrow(_COUNTS, job_id)
        assert counts is not None
        complete = job["status"] == "completed" and counts["done"] == counts["found"]
        enriched_at = await conn.fetchval(
            """UPDATE scrape_jobs
                  SET normalized = $2, scored = $3, invalid_phones = $4, invalid_emails = $5,
                      enriched_at = CASE WHEN $6 THEN now() END,
                      enrich_error = CASE WHEN $6 THEN NULL ELSE enrich_error END,
                      enrich_error_kind = CASE WHEN $6 THEN NULL ELSE enrich_error_kind END
                WHERE id = $1 AND enriched_at IS NULL
            RETURNING enriched_at""",
            job_id,
            counts["normalized"],
            counts["scored"],
            counts["invalid_phones"],
            counts["invalid_emails"],
            complete,
        )
    return Progress(
        job["status"], counts["found"], counts["normalized"], counts["scored"], enriched_at, enriched_at is not None
    )


async def record_enrich_error(db: Database, job_id: uuid.UUID, error: str, kind: str) -> None:
    """A normalize or score message of the job was dead-lettered: say so on the job row."""
    await db.execute(
        "UPDATE scrape_jobs SET enrich_error = $2, enrich_error_kind = $3 WHERE id = $1 AND enriched_at IS NULL",
        job_id,
        error,
        kind,
    )


async def pending_enrichment(db: Database, job_id: uuid.UUID) -> list[int]:
    """Raw leads of the job (new or duplicate) not enriched for it yet: not normalized, or normalized into a
    lead the job has not scored. What the job's fan-out must carry to ``leads.normalize``."""
    rows = await db.fetch(
        """SELECT jl.raw_lead_id
             FROM scrape_job_leads jl
             JOIN raw_leads r ON r.id = jl.raw_lead_id
             LEFT JOIN lead_sources s ON s.raw_lead_id = jl.raw_lead_id
            WHERE jl.job_id = $1
              AND (r.normalized_at IS NULL
                   OR (s.lead_id IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM lead_scores sc
                                        WHERE sc.lead_id = s.lead_id AND sc.job_id = jl.job_id)))
            ORDER BY jl.raw_lead_id""",
        job_id,
    )
    return [r["raw_lead_id"] for r in rows]


# --- fan-outs deferred while nothing consumes leads.normalize (see leadworker.stages.fanout) ---------------


async def defer_fanouts(db: Database, job_ids: Sequence[uuid.UUID]) -> None:
    """Mark completed jobs whose enrichment fan-out waits for a normalize worker."""
    await db.execute("UPDATE scrape_jobs SET fanout_deferred = true WHERE id = ANY($1::uuid[])", list(job_ids))


async def deferred_fanouts(db: Database, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` jobs whose fan-out is deferred, oldest mark first."""
    rows = await db.fetch("SELECT id FROM scrape_jobs WHERE fanout_deferred ORDER BY completed_at, id LIMIT $1", limit)
    return [r["id"] for r in rows]


async def clear_deferred_fanouts(db: Database, job_ids: Sequence[uuid.UUID]) -> None:
    await db.execute("UPDATE scrape_jobs SET fanout_deferred = false WHERE id = ANY($1::uuid[])", list(job_ids))
