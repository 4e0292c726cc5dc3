"""Pages of canonical leads for the API's list: filters, a text search and keyset pagination by lead id."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from leadworker.store.lead_filters import LeadFilter
from leadworker.store.pool import Database

_PAGE = """
SELECT l.id AS lead_id, l.company_name, l.domain, l.website, l.emails, l.phones, l.city, l.country, l.score,
       l.segment, l.scored_at, l.created_at, l.updated_at
  FROM leads l
 WHERE l.merged_into IS NULL{conditions}
   AND l.id > $1
 ORDER BY l.id
 LIMIT $2
"""


def page_query(selected: LeadFilter, after_id: int, limit: int) -> tuple[str, list[Any]]:
    """The statement of one page and its arguments (also what ``bench/api_read.py`` EXPLAINs)."""
    params: list[Any] = [after_id, limit]
    return _PAGE.format(conditions=selected.conditions(params)), params


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
    selected = LeadFilter(segment=segment, min_score=min_score, country=country, job_id=job_id, q=q)
    query, params = page_query(selected, after_id, limit)
    return await db.fetch(query, *params)
