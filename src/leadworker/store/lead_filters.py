"""The filters of the leads list and the leads export (``GET /api/v1/leads`` and ``/leads/export``), as SQL.

Only the filters given become conditions (each with its own parameter), so that every combination is a
statement of its own that PostgreSQL plans for what it asks: ``$1 IS NULL OR country = $1`` would leave a
generic plan unable to use the country's index. ``q`` is found in the name, the domain or an e-mail,
case-insensitively, in ``leads.search_text`` (the three joined by newlines, with a trigram index:
``sql/090_api_read_indexes.sql``); a ``q`` holding a control character is refused before it gets here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

JOB_LEADS = """SELECT s.lead_id
                FROM scrape_job_leads jl
               CROSS JOIN LATERAL (SELECT s.lead_id FROM lead_sources s
                                    WHERE s.raw_lead_id = jl.raw_lead_id OFFSET 0) AS s
               WHERE jl.job_id = {job}"""
"""The canonical leads a job found (new or duplicate), given the parameter that holds the job id: its raw leads
by scrape_job_leads' key, each one's lead looked up by lead_sources' key. ``OFFSET 0`` keeps each lookup a
lookup (the subquery is not merged into a join): as a join, the planner priced a job's 5,000 lookups above
reading all 1.9 million sources into a hash, and after some ANALYZEs did that (170 ms against 9)."""


def like_pattern(text: str) -> str:
    """``%text%`` for ILIKE, with the pattern characters of ``text`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class LeadFilter:
    """Which leads: ``segment`` and ``min_score`` (of the score the reader shows), ``country`` (ISO code, any
    case), ``job_id`` (found by that job) and ``q`` (text in the name, domain or an e-mail)."""

    segment: str | None = None
    min_score: int | None = None
    country: str | None = None
    job_id: uuid.UUID | None = None
    q: str | None = None

    def conditions(self, params: list[Any], *, score: str = "l", job: bool = True, lead: str = "l") -> str:
        """``AND ...`` conditions over the lead ``lead`` (scores read from the alias ``score``), appending their
        arguments to ``params``; ``job=False`` leaves the job filter to the caller."""

        def arg(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        parts: list[str] = []
        if self.segment is not None:
            parts.append(f"{score}.segment = {arg(self.segment)}")
        if self.min_score is not None:
            parts.append(f"{score}.score >= {arg(self.min_score)}::int")
        if self.country is not None:
            parts.append(f"{lead}.country = upper({arg(self.country)}::text)")
        if job and self.job_id is not None:
            # An array, not ``IN (...)``: with a semi-join the planner, expecting a big job's leads spread over
            # the table, walked every lead and every source in id order to find the first 50 (2 s for a job of
            # 5,000 leads among 1,000,000, all recent, so at the top of the ids); the array is made first and
            # read through the primary key, in id order, so a page costs its job's size, not the table's.
            parts.append(f"{lead}.id = ANY (ARRAY({JOB_LEADS.format(job=arg(self.job_id) + '::uuid')}))")
        if self.q:
            parts.append(f"{lead}.search_text ILIKE {arg(like_pattern(self.q))}")
        return "".join(f"\n   AND {part}" for part in parts)
