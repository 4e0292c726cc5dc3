"""Outcomes: what became of a lead (``won``, ``lost``, ``contacted``, ``bad_data``), recorded with its time and
source, never overwritten. A lead's outcome is its latest (by ``at``, then by id). An outcome given for a lead
that was merged away is stored on its survivor, and a merge moves the absorbed lead's outcomes to the survivor
(:func:`leadworker.store.canonical.absorb_lead`).

Recording is idempotent on ``(lead as given, outcome, at)``: importing the same CRM export twice records each
row once (a row without a time gets the time of its import, so it is recorded again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadworker.store.pool import Database

OUTCOMES = ("won", "lost", "contacted", "bad_data")
DECIDED = ("won", "lost", "bad_data")
"""Outcomes a model learns from (``won`` against the others); ``contacted`` is not decided yet."""


@dataclass(frozen=True)
class NewOutcome:
    """An outcome to record for ``lead_id`` (any id the lead ever had)."""

    lead_id: int
    outcome: str
    at: dt.datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What recording did for one outcome: the lead it was stored on (None: no such lead), whether it was new."""

    lead_id: int | None
    created: bool


async def record_outcomes(db: Database, outcomes: Sequence[NewOutcome], source: str) -> list[Recorded]:
    """Store ``outcomes`` in one transaction, each on the live lead its id resolves to (following merges)."""
    if not outcomes:
        return []
    async with db.transaction() as conn:
        rows = await conn.fetch(
            """SELECT t.n, l.id AS live
                 FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n)
                 LEFT JOIN leads g ON g.id = t.id
                 LEFT JOIN leads l ON l.id = coalesce(g.merged_into, g.id)
                ORDER BY t.n""",
            [o.lead_id for o in outcomes],
        )
        live = [r["live"] for r in rows]
        now = await conn.fetchval("SELECT now()")
        known = [i for i, lead in enumerate(live) if lead is not None]
        inserted = await conn.fetch(
            """INSERT INTO lead_outcomes (lead_id, recorded_lead_id, outcome, at, note, source)
               SELECT t.live, t.given, t.outcome, coalesce(t.at, now()), t.note, $6
                 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[])
                      AS t(live, given, outcome, at, note)
               ON CONFLICT (recorded_lead_id, outcome, at) DO NOTHING
               RETURNING recorded_lead_id, outcome, at""",
            [live[i] for i in known],
            [outcomes[i].lead_id for i in known],
            [outcomes[i].outcome for i in known],
            [outcomes[i].at for i in known],
            [outcomes[i].note for i in known],
            source,
        )
    created = {(r["recorded_lead_id"], r["outcome"], r["at"]) for r in inserted}
    return [
        Recorded(live[i], (o.lead_id, o.outcome, o.at or now) in created and live[i] is not None)
        for i, o in enumerate(outcomes)
    ]


async def leads_by_key(db: Database, kind: str, values: Sequence[str]) -> dict[str, int]:
    """Live lead of each match key ``(kind, value)`` (kind ``domain`` or ``email``) that one owns."""
    rows = await db.fetch(
        """SELECT k.value, coalesce(l.merged_into, l.id) AS lead_id
             FROM lead_keys k JOIN leads l ON l.id = k.lead_id
            WHERE k.kind = $1 AND k.value = ANY($2::text[])""",
        kind,
        list(values),
    )
    return {r["value"]: r["lead_id"] for r in rows}


async def lead_outcomes(db: Database, lead_id: int) -> list[dict[str, Any]]:
    """Every outcome of ``lead_id`` (a live lead), newest first: the first is its outcome."""
    rows = await db.fetch(
        """SELECT outcome, at, note, source, recorded_lead_id, recorded_at FROM lead_outcomes
            WHERE lead_id = $1 ORDER BY at DESC, id DESC""",
        lead_id,
    )
    return [dict(r) for r in rows]


async def decided_outcomes(db: Database) -> list[dict[str, Any]]:
    """The latest outcome of every live lead whose latest outcome is decided (``won``, ``lost``, ``bad_data``),
    with the criteria of the job that last scored it (None if that job is gone): ``lead_id``, ``outcome``,
    ``at``, ``criteria``."""
    rows = await db.fetch(
        """WITH latest AS (
               SELECT DISTINCT ON (lead_id) lead_id, outcome, at FROM lead_outcomes
                ORDER BY lead_id, at DESC, id DESC
           )
           SELECT t.lead_id, t.outcome, t.at, j.criteria
             FROM latest t
             JOIN leads l ON l.id = t.lead_id AND l.merged_into IS NULL
             LEFT JOIN scrape_jobs j ON j.id = l.score_job_id
            WHERE t.outcome = ANY($1::text[])
            ORDER BY t.at, t.lead_id""",
        list(DECIDED),
    )
    return [dict(r) for r in rows]


async def outcomes_recorded_since(db: Database, since: dt.datetime | None) -> int:
    """Outcomes recorded after ``since`` (all of them if None)."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM lead_outcomes WHERE $1::timestamptz IS NULL OR recorded_at > $1", since
    )
    return count
