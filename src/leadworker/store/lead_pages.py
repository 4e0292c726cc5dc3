"""Pages of canonical leads for the API's list: filters, a text search and keyset pagination by lead id."""

from __future__ import annotations

import uuid

import asyncpg

from leadworker.store.pool import Database

_PAGE = """
SELECT l.id AS lead_id, l.company_name, l.domain, l.website, l.emails, l.phones, l.city, l.country, l.score,
       l.segment, l.scored_at, l.created_at, l.updated_at
  FROM leads l
 WHERE l.merged_into IS NULL
   AND ($1::text IS NULL OR l.segment = $1)
   AND ($2::int IS NULL OR l.score >= $2)
   AND ($3::text IS NULL OR l.country = upper($3))
   AND ($4::uuid IS NULL OR l.id IN (SELECT s.lead_id FROM scrape_job_leads jl
                                       JOIN lead_sources s ON s.raw_lead_id = jl.raw_lead_id
                                      WHERE jl.job_id = $4))
   AND ($5::text IS NULL OR l.company_name ILIKE $5 OR l.domain ILIKE $5
        OR array_to_string(l.emails, ' ') ILIKE $5)
   AND l.id > $6
 ORDER BY l.id
 LIMIT $7
"""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def page_leads(
    db: Database,
    *,
    segment: str | None,
    min_score: int | None,
    country: str | None,
    job_id: uuid.UUID | None,
    q: str | None,
    after_id: int,
    limit: int,
) -> list[asyncpg.Record]:
    """Live leads with an id above ``after_id``, by id: ``segment``, ``min_score``, ``country`` (ISO code),
    found by ``job_id``, and ``q`` found in the name, the domain or an e-mail (case-insensitive)."""
    return await db.fetch(_PAGE, segment, min_score, country, job_id, _like(q) if q else None, after_id, limit)
