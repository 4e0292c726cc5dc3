"""Scores: a lead's score for a job (``lead_scores``) and its latest score (on ``leads``), written idempotently.

Scoring reads the lead under its row lock (leads are locked in id order, as merges lock them), so the score
matches the data it was computed from; the upserts only write when something changed, so scoring the same
lead for the same job again with the same data and weights changes nothing, not even ``scored_at``.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from leadworker.enrich.scoring import EmailFacts, LeadProfile, PhoneFacts, Scored
from leadworker.store.email_verdicts import LEAD_EMAIL_CHECKS
from leadworker.store.pool import Database

_PROFILES = (
    """
SELECT l.id, l.revision, l.company_name, l.legal_form, l.domain, l.website, l.address, l.city, l.region, l.postal_code,
       l.country, l.contact_name, l.description, l.categories, l.socials,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('field', v.field, 'value', v.value, 'detail', v.detail)
                                  ORDER BY v.id), '[]'::jsonb)
          FROM lead_values v WHERE v.lead_id = l.id AND v.field IN ('email', 'phone')) AS contacts,
       (SELECT coalesce(jsonb_object_agg(source_type, n), '{}'::jsonb)
          FROM (SELECT r.source_type, count(*) AS n FROM lead_sources s JOIN raw_leads r ON r.id = s.raw_lead_id
                 WHERE s.lead_id = l.id GROUP BY r.source_type) t) AS sources,
       (SELECT count(*) FROM lead_enrichments e WHERE e.lead_id = l.id AND e.status = 'ok') AS providers,
"""
    + LEAD_EMAIL_CHECKS
    + """
  FROM leads l
 WHERE l.id = ANY($1::bigint[])
"""
)


def profile_from_row(row: asyncpg.Record | dict[str, Any]) -> LeadProfile:
    emails: dict[str, EmailFacts] = {}
    phones: dict[str, PhoneFacts] = {}
    statuses = {c["address"]: c["status"] for c in row.get("email_checks") or ()}
    for item in row["contacts"]:
        detail = item.get("detail") or {}
        if item["field"] == "email":
            emails.setdefault(
                item["value"],
                EmailFacts(
                    item["value"], bool(detail.get("role")), bool(detail.get("free")), statuses.get(item["value"])
                ),
            )
        else:
            phones.setdefault(
                item["value"], PhoneFacts(item["value"], str(detail.get("type") or "unknown"), detail.get("region"))
            )
    return LeadProfile(
        company_name=row["company_name"],
        legal_form=row.get("legal_form"),
        domain=row["domain"],
        website=row["website"],
        address=row["address"],
        city=row["city"],
        region=row["region"],
        postal_code=row["postal_code"],
        country=row["country"],
        contact_name=row["contact_name"],
        description=row["description"],
        categories=tuple(row["categories"]),
        socials=tuple(sorted(row.get("socials") or ())),
        emails=tuple(emails.values()),
        phones=tuple(phones.values()),
        source_types=dict(row["sources"]),
        providers=int(row["providers"]),
    )


@dataclass
class ScoredBatch:
    scored: dict[int, Scored] = field(default_factory=dict)
    """Live lead id → its score for the job."""
    changed: int = 0
    """Scores written (new or different); the rest were already stored as they are."""


async def score_leads(
    db: Database,
    job_id: uuid.UUID,
    lead_ids: Sequence[int],
    compute: Callable[[LeadProfile], Scored],
    *,
    rescore: bool = False,
) -> ScoredBatch:
    """Score ``lead_ids`` (following merges) for ``job_id`` with ``compute`` and store the results.

    ``rescore``: a lead's latest score (on ``leads``) is updated only if it was this job's (a model activation
    re-scores every job's scores; the latest stays the latest job's)."""
    batch = ScoredBatch()
    pending = sorted(set(lead_ids))
    rounds = 0
    while pending and rounds < 8:  # a lead merged away while we scored is followed to its survivor
        rounds += 1
        try:
            pending = await _score_round(db, job_id, pending, compute, batch, rescore)
        except asyncpg.exceptions.DeadlockDetectedError:
            # A merge moving a tombstone we had locked: its transaction went on, ours is simply run again.
            await asyncio.sleep(random.uniform(0, 0.05))
    return batch


async def _score_round(
    db: Database,
    job_id: uuid.UUID,
    pending: list[int],
    compute: Callable[[LeadProfile], Scored],
    batch: ScoredBatch,
    rescore: bool,
) -> list[int]:
    """Score what is live among ``pending`` in one transaction; return the survivors of leads merged meanwhile."""
    async with db.transaction() as conn:
        live_ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT DISTINCT coalesce(merged_into, id) AS id FROM leads WHERE id = ANY($1::bigint[]) ORDER BY 1",
                pending,
            )
        ]
        locked = await conn.fetch(
            "SELECT id, merged_into FROM leads WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", live_ids
        )
        live = [r["id"] for r in locked if r["merged_into"] is None and r["id"] not in batch.scored]
        rows = await conn.fetch(_PROFILES, live)
        results = {row["id"]: (compute(profile_from_row(row)), row["revision"]) for row in rows}
        changed = await _store(conn, job_id, results, rescore) if results else 0
    batch.changed += changed
    batch.scored.update({lead_id: result for lead_id, (result, _) in results.items()})
    return sorted({r["merged_into"] for r in locked if r["merged_into"] is not None})


async def _store(
    conn: asyncpg.Connection, job_id: uuid.UUID, results: dict[int, tuple[Scored, int]], rescore: bool
) -> int:
    ids = list(results)
    scores = [results[i][0].score for i in ids]
    segments = [results[i][0].segment for i in ids]
    components = [json.dumps(results[i][0].components_json(), sort_keys=True) for i in ids]
    revisions = [results[i][1] for i in ids]
    status = await conn.execute(
        """INSERT INTO lead_scores AS s (lead_id, job_id, score, segment, components, lead_revision)
           SELECT t.id, $1, t.score, t.segment, t.components::jsonb, t.revision
             FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[], $6::int[])
                  AS t(id, score, segment, components, revision)
           ON CONFLICT (lead_id, job_id) DO UPDATE
              SET score = EXCLUDED.score, segment = EXCLUDED.segment, components = EXCLUDED.components,
                  lead_revision = EXCLUDED.lead_revision, scored_at = now()
            WHERE (s.score, s.segment, s.components, s.lead_revision)
                  IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.segment, EXCLUDED.components, EXCLUDED.lead_revision)""",
        job_id,
        ids,
        scores,
        segments,
        components,
        revisions,
    )
    await conn.execute(
        """UPDATE leads l
              SET score = t.score, segment = t.segment, score_components = t.components::jsonb,
                  score_job_id = $1, scored_at = now()
             FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[]) AS t(id, score, segment, components)
            WHERE l.id = t.id
              AND (NOT $6 OR l.score_job_id = $1)
              AND (l.score, l.segment, l.score_components, l.score_job_id)
                  IS DISTINCT FROM (t.score::smallint, t.segment, t.components::jsonb, $1::uuid)""",
        job_id,
        ids,
        scores,
        segments,
        components,
        rescore,
    )
    return int(status.rsplit(" ", 1)[-1])


async def job_segments(db: Database, job_id: uuid.UUID) -> dict[str, int]:
    """Leads scored for ``job_id`` by segment."""
    rows = await db.fetch(
        """SELECT s.segment, count(*) AS n FROM lead_scores s JOIN leads l ON l.id = s.lead_id
            WHERE s.job_id = $1 AND l.merged_into IS NULL GROUP BY s.segment""",
        job_id,
    )
    return {r["segment"]: r["n"] for r in rows}


async def lead_profiles(db: Database, lead_ids: Sequence[int], chunk: int = 2000) -> dict[int, LeadProfile]:
    """What scoring reads of each of ``lead_ids`` (as they are now), by id; ids that are not leads are left out."""
    profiles: dict[int, LeadProfile] = {}
    ids = list(lead_ids)
    for i in range(0, len(ids), chunk):
        for row in await db.fetch(_PROFILES, ids[i : i + chunk]):
            profiles[row["id"]] = profile_from_row(row)
    return profiles
