"""Canonical leads: merging a normalized raw lead into ``leads``, safely under concurrency.

One transaction per raw lead:

1. ``raw_leads.normalized_at`` is set conditionally (``WHERE normalized_at IS NULL``): the row lock makes a
   second worker on the same raw lead wait, then find it done and skip it. A raw lead is merged once.
2. Transaction-scoped advisory locks on the raw lead's match keys, taken in one global order (sorted), so two
   workers merging the same company serialize on its keys instead of both creating a lead; ``lead_keys``'
   primary key is the constraint that would refuse a second owner anyway.
3. The leads owning any of the keys are locked (``FOR UPDATE``, in id order) and the owners re-read: if a
   concurrent merge moved a key or absorbed a lead meanwhile, the transaction is retried from the start.
4. :func:`~leadworker.enrich.matching.plan_merge` decides: join a lead, create one, absorb bridged leads,
   record conflicts. Keys, the source link, every value with its provenance and the canonical fields follow.

Lock order is always raw lead → key locks (sorted) → lead rows (sorted), and whoever changes a lead's keys
holds its row lock, so merges cannot deadlock each other; should PostgreSQL still report a deadlock or a
serialization failure, the transaction is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from leadworker.enrich.matching import Key, MergePlan, plan_merge
from leadworker.enrich.normalization import NormalizedLead
from leadworker.errors import TransientError
from leadworker.store.pool import Database

KEY_LOCK_SPACE = 74_113
"""First key of ``pg_advisory_xact_lock(int, int)`` for lead keys (an arbitrary constant of ours)."""

MERGE_TRIES = 8


def key_lock_id(kind: str, value: str) -> int:
    """A stable signed 32-bit lock id for a key (collisions only serialize two merges needlessly)."""
    return int.from_bytes(hashlib.sha256(f"{kind}:{value}".encode()).digest()[:4], "big", signed=True)


@dataclass(frozen=True)
class RawLead:
    id: int
    record: dict[str, Any]
    source_type: str
    source_url: str | None
    normalized: bool


@dataclass(frozen=True)
class MergeOutcome:
    raw_lead_id: int
    lead_id: int | None
    action: str
    """``created``, ``attached`` (joined an existing lead), ``merged`` (and absorbed others), ``skipped``
    (normalized before), ``rejected`` (nothing usable)."""
    absorbed: tuple[int, ...] = ()
    conflicts: int = 0
    reason: str | None = None


class _Raced(Exception):
    """A concurrent merge changed what this one read: start over."""


async def load_raw_leads(db: Database, ids: Sequence[int]) -> list[RawLead]:
    rows = await db.fetch(
        """SELECT id, record, source_type, source_url, normalized_at IS NOT NULL AS normalized
             FROM raw_leads WHERE id = ANY($1::bigint[]) ORDER BY id""",
        list(ids),
    )
    return [RawLead(r["id"], r["record"], r["source_type"], r["source_url"], r["normalized"]) for r in rows]


async def leads_of_raw(db: Database, raw_ids: Sequence[int]) -> list[int]:
    """The live leads the given raw leads belong to (through tombstones), distinct, in id order."""
    rows = await db.fetch(
        """SELECT DISTINCT coalesce(l.merged_into, l.id) AS id
             FROM lead_sources s JOIN leads l ON l.id = s.lead_id
            WHERE s.raw_lead_id = ANY($1::bigint[])
            ORDER BY 1""",
        list(raw_ids),
    )
    return [r["id"] for r in rows]


async def merge_raw_lead(db: Database, raw: RawLead, lead: NormalizedLead) -> MergeOutcome:
    """Normalize-and-merge ``raw`` (whose normalized form is ``lead``) into the canonical leads."""
    for attempt in range(MERGE_TRIES):
        try:
            async with db.transaction() as conn:
                return await _merge(conn, raw, lead)
        except (_Raced, asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError):
            await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    raise TransientError(f"raw lead {raw.id} kept racing concurrent merges; try again", kind="merge_contention")


BATCH_TRIES = 3


class _Unbatchable(Exception):
    """The batch bridges existing leads (an absorb): merge it one raw lead at a time instead."""


async def merge_raw_leads(db: Database, pairs: Sequence[tuple[RawLead, NormalizedLead]]) -> list[MergeOutcome]:
    """Merge many raw leads (each with its normalized form) in one transaction: the same result as
    :func:`merge_raw_lead` on each in order, in a handful of statements instead of ten per raw lead.

    The batch takes the key locks of all its raw leads at once (sorted, as one merge does), plans every raw
    lead in memory against the owners it read and its own earlier decisions, then writes keys, sources,
    values and conflicts in one statement each and recomputes each touched lead once. A batch that would
    absorb a lead, or that keeps racing concurrent merges, falls back to one transaction per raw lead.
    """
    unique = sorted({raw.id: (raw, lead) for raw, lead in reversed(pairs)}.values(), key=lambda p: p[0].id)
    by_id = {outcome.raw_lead_id: outcome for outcome in await _merge_unique(db, unique)}
    outcomes, seen = [], set()
    for raw, _ in pairs:  # a raw lead given twice is merged once, then skipped, as one by one
        first = by_id[raw.id]
        outcomes.append(first if raw.id not in seen else MergeOutcome(raw.id, first.lead_id, "skipped"))
        seen.add(raw.id)
    return outcomes


async def _merge_unique(db: Database, pairs: Sequence[tuple[RawLead, NormalizedLead]]) -> list[MergeOutcome]:
    if len(pairs) > 1:
        for attempt in range(BATCH_TRIES):
            try:
                async with db.transaction() as conn:
                    return await _merge_batch(conn, pairs)
            except _Unbatchable:
                break
            except (_Raced, asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError):
                await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    return [await merge_raw_lead(db, raw, lead) for raw, lead in pairs]


async def _merge_batch(conn: asyncpg.Connection, pairs: Sequence[tuple[RawLead, NormalizedLead]]) -> list[MergeOutcome]:
    ids = [raw.id for raw, _ in pairs]
    claimed = {
        r["id"]
        for r in await conn.fetch(
            """WITH locked AS (
                   SELECT id FROM raw_leads WHERE id = ANY($1::bigint[]) AND normalized_at IS NULL
                    ORDER BY id FOR UPDATE)
               UPDATE raw_leads r SET normalized_at = now(), normalization = t.summary::jsonb
                 FROM locked JOIN unnest($1::bigint[], $2::text[]) AS t(id, summary) USING (id)
                WHERE r.id = locked.id
            RETURNING r.id""",
            ids,
            [json.dumps(lead.summary()) for _, lead in pairs],
        )
    }
    outcomes: dict[int, MergeOutcome] = {}
    skipped = [raw.id for raw, _ in pairs if raw.id not in claimed]
    if skipped:
        rows = await conn.fetch(
            """SELECT s.raw_lead_id, coalesce(l.merged_into, l.id) AS lead_id
                 FROM lead_sources s JOIN leads l ON l.id = s.lead_id WHERE s.raw_lead_id = ANY($1::bigint[])""",
            skipped,
        )
        found = {r["raw_lead_id"]: r["lead_id"] for r in rows}
        outcomes.update((raw_id, MergeOutcome(raw_id, found.get(raw_id), "skipped")) for raw_id in skipped)
    usable: list[tuple[RawLead, NormalizedLead]] = []
    for raw, lead in pairs:
        if raw.id not in claimed:
            continue
        reason = lead.unusable_reason
        if reason is not None:
            outcomes[raw.id] = MergeOutcome(raw.id, None, "rejected", reason=reason)
        else:
            usable.append((raw, lead))
    if usable:
        for outcome in await _merge_usable(conn, usable):
            outcomes[outcome.raw_lead_id] = outcome
    return [outcomes[raw.id] for raw, _ in pairs]


async def _merge_usable(
    conn: asyncpg.Connection, pairs: Sequence[tuple[RawLead, NormalizedLead]]
) -> list[MergeOutcome]:
    keys_of = [lead.keys() for _, lead in pairs]
    owners, domains = await _lock_owners(conn, list(dict.fromkeys(key for keys in keys_of for key in keys)))

    # Plan each raw lead in order, as if the earlier ones were already written. New leads get placeholder
    # ids (negative) until they are inserted.
    planned: list[tuple[RawLead, NormalizedLead, int, MergePlan, str]] = []
    placeholders = 0
    for (raw, lead), keys in zip(pairs, keys_of, strict=True):
        plan = plan_merge(lead.domain, keys, owners, domains)
        if plan.absorb:
            raise _Unbatchable()
        if plan.target is None:
            placeholders += 1
            target, action = -placeholders, "created"
            domains[target] = None
        else:
            target, action = plan.target, "attached"
        for kind, value in plan.claim:
            owners[(kind, value)] = target
            if kind == "domain" and domains.get(target) is None:
                domains[target] = value
        planned.append((raw, lead, target, plan, action))

    real: dict[int, int] = {}
    if placeholders:
        new_ids = sorted(
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO leads (revision) SELECT 1 FROM generate_series(1, $1::int) RETURNING id", placeholders
            )
        )
        real = {-(n + 1): lead_id for n, lead_id in enumerate(new_ids)}

    def resolve(lead_id: int) -> int:
        return real.get(lead_id, lead_id)

    key_rows: list[tuple[str, str, int, int]] = []
    value_rows: list[tuple[int, int | None, ValueRow]] = []
    conflict_rows: list[tuple[int, int, str, str, int]] = []
    outcomes: list[MergeOutcome] = []
    targets: set[int] = set()
    for raw, lead, target, plan, action in planned:
        lead_id = resolve(target)
        targets.add(lead_id)
        key_rows.extend((kind, value, lead_id, raw.id) for kind, value in plan.claim)
        value_rows.extend((lead_id, raw.id, row) for row in lead_values(raw, lead))
        conflict_rows.extend((lead_id, resolve(other), kind, value, raw.id) for other, kind, value in plan.conflicts)
        outcomes.append(MergeOutcome(raw.id, lead_id, action, (), len(plan.conflicts)))

    if key_rows:
        await conn.execute(
            """INSERT INTO lead_keys (kind, value, lead_id, raw_lead_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
               ON CONFLICT DO NOTHING""",
            *map(list, zip(*key_rows, strict=True)),
        )
    await conn.execute(
        "INSERT INTO lead_sources (raw_lead_id, lead_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
        [o.raw_lead_id for o in outcomes],
        [o.lead_id for o in outcomes],
    )
    await insert_value_rows(conn, value_rows)
    if conflict_rows:
        await conn.execute(
            """INSERT INTO lead_conflicts (lead_id, other_lead_id, kind, value, raw_lead_id)
               SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])
                      AS t(lead_id, other, kind, value, raw_lead_id)
                WHERE other <> lead_id
               ON CONFLICT DO NOTHING""",
            *map(list, zip(*conflict_rows, strict=True)),
        )
    await conn.executemany(_REFRESH, [(lead_id,) for lead_id in sorted(targets)])
    return outcomes


async def _lock_owners(conn: asyncpg.Connection, keys: Sequence[Key]) -> tuple[dict[Key, int], dict[int, str | None]]:
    """Lock ``keys`` (advisory, sorted) and the leads owning them (rows, sorted); return the owners and each
    owner's domain. Raises :class:`_Raced` if a concurrent merge moved a key or absorbed an owner meanwhile."""
    kinds, values = [k for k, _ in keys], [v for _, v in keys]
    await conn.execute(
        """SELECT pg_advisory_xact_lock($1::int, t.h)
             FROM unnest($2::int[]) WITH ORDINALITY AS t(h, n) ORDER BY t.n""",
        KEY_LOCK_SPACE,
        sorted({key_lock_id(k, v) for k, v in keys}),
    )
    owners = await _owners(conn, kinds, values)
    domains: dict[int, str | None] = {}
    if owners:
        ids = sorted(set(owners.values()))
        locked = await conn.fetch(
            "SELECT id, merged_into FROM leads WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", ids
        )
        if len(locked) != len(ids) or any(r["merged_into"] is not None for r in locked):
            raise _Raced()
        if await _owners(conn, kinds, values) != owners:
            raise _Raced()
        domains = dict.fromkeys(ids)
        for row in await conn.fetch(
            "SELECT lead_id, value FROM lead_keys WHERE kind = 'domain' AND lead_id = ANY($1::bigint[])", ids
        ):
            domains[row["lead_id"]] = row["value"]
    return owners, domains


async def _owners(conn: asyncpg.Connection, kinds: list[str], values: list[str]) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(
        """SELECT k.kind, k.value, k.lead_id
             FROM lead_keys k JOIN unnest($1::text[], $2::text[]) AS t(kind, value) USING (kind, value)""",
        kinds,
        values,
    )
    return {(r["kind"], r["value"]): r["lead_id"] for r in rows}


async def _merge(conn: asyncpg.Connection, raw: RawLead, lead: NormalizedLead) -> MergeOutcome:
    claimed = await conn.fetchval(
        """UPDATE raw_leads SET normalized_at = now(), normalization = $2::jsonb
            WHERE id = $1 AND normalized_at IS NULL RETURNING id""",
        raw.id,
        lead.summary(),
    )
    if claimed is None:
        lead_id = await conn.fetchval(
            """SELECT coalesce(l.merged_into, l.id) FROM lead_sources s JOIN leads l ON l.id = s.lead_id
                WHERE s.raw_lead_id = $1""",
            raw.id,
        )
        return MergeOutcome(raw.id, lead_id, "skipped")
    reason = lead.unusable_reason
    if reason is not None:
        return MergeOutcome(raw.id, None, "rejected", reason=reason)

    keys = lead.keys()
    owners, domains = await _lock_owners(conn, keys)
    plan = plan_merge(lead.domain, keys, owners, domains)
    return await _apply(conn, raw, lead, plan)


async def _apply(conn: asyncpg.Connection, raw: RawLead, lead: NormalizedLead, plan: MergePlan) -> MergeOutcome:
    if plan.target is None:
        target: int = await conn.fetchval("INSERT INTO leads DEFAULT VALUES RETURNING id")
        action = "created"
    else:
        target = plan.target
        action = "merged" if plan.absorb else "attached"
    for other in plan.absorb:
        await absorb_lead(conn, other, target)
    if plan.claim:
        await conn.execute(
            """INSERT INTO lead_keys (kind, value, lead_id, raw_lead_id)
               SELECT kind, value, $3, $4 FROM unnest($1::text[], $2::text[]) AS t(kind, value)
               ON CONFLICT DO NOTHING""",
            [k for k, _ in plan.claim],
            [v for _, v in plan.claim],
            target,
            raw.id,
        )
    await conn.execute("INSERT INTO lead_sources (raw_lead_id, lead_id) VALUES ($1, $2)", raw.id, target)
    await insert_values(conn, target, lead_values(raw, lead), raw_lead_id=raw.id)
    if plan.conflicts:
        await conn.execute(
            """INSERT INTO lead_conflicts (lead_id, other_lead_id, kind, value, raw_lead_id)
               SELECT $1, other, kind, value, $5
                 FROM unnest($2::bigint[], $3::text[], $4::text[]) AS t(other, kind, value)
                WHERE other <> $1
               ON CONFLICT DO NOTHING""",
            target,
            [c[0] for c in plan.conflicts],
            [c[1] for c in plan.conflicts],
            [c[2] for c in plan.conflicts],
            raw.id,
        )
    await refresh_lead(conn, target)
    return MergeOutcome(raw.id, target, action, plan.absorb, len(plan.conflicts))


ValueRow = tuple[str, str, dict[str, Any] | None, str | None]
"""``(field, value, detail, source url)``."""


def lead_values(raw: RawLead, lead: NormalizedLead) -> list[ValueRow]:
    """Every value of a normalized raw lead, each with the page it was found on (the record's ``evidence``
    for e-mails and phones, else its ``source_url``)."""
    evidence = raw.record.get("evidence") or {}
    page = raw.source_url or raw.record.get("source_url")

    def found_on(*candidates: str) -> str | None:
        for candidate in candidates:
            url = evidence.get(candidate) or evidence.get(candidate.strip())
            if isinstance(url, str):
                return url
        return page

    rows: list[ValueRow] = []
    if lead.company:
        rows.append(("company_name", lead.company.name, lead.company.detail(), page))
        if lead.company.legal_form:
            rows.append(("legal_form", lead.company.legal_form, None, page))
    if lead.website:
        rows.append(("website", lead.website, None, page))
    if lead.domain:
        rows.append(("domain", lead.domain, None, page))
    rows.extend(("email", e.address, e.detail(), found_on(e.raw, e.address)) for e in lead.emails)
    rows.extend(("phone", p.e164, p.detail(), found_on(p.raw, p.e164)) for p in lead.phones)
    for name in ("address", "city", "region", "postal_code", "contact_name", "description"):
        value = getattr(lead, name)
        if value:
            rows.append((name, value, None, page))
    if lead.country:
        rows.append(("country", lead.country, {"source": lead.country_source}, page))
    rows.extend(("category", c, None, page) for c in lead.categories)
    rows.extend(("social", url, {"network": network}, found_on(url)) for network, url in lead.socials.items())
    return rows


async def insert_values(
    conn: asyncpg.Connection,
    lead_id: int,
    rows: Sequence[ValueRow],
    *,
    raw_lead_id: int | None = None,
    provider: str | None = None,
) -> None:
    """Record ``rows`` on ``lead_id`` with their provenance: a raw lead, or a provider."""
    await insert_value_rows(conn, [(lead_id, raw_lead_id, row) for row in rows], provider=provider)


async def insert_value_rows(
    conn: asyncpg.Connection, rows: Sequence[tuple[int, int | None, ValueRow]], *, provider: str | None = None
) -> None:
    """``(lead id, raw lead id, value)`` rows into ``lead_values``, in order (the first seen wins ties)."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO lead_values (lead_id, field, value, detail, source_url, raw_lead_id, provider)
           SELECT l, f, v, d::jsonb, u, r, $7
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                  WITH ORDINALITY AS t(l, f, v, d, u, r, n)
            ORDER BY n
           ON CONFLICT DO NOTHING""",
        [lead_id for lead_id, _, _ in rows],
        [row[0] for _, _, row in rows],
        [row[1] for _, _, row in rows],
        [json.dumps(row[2]) if row[2] is not None else None for _, _, row in rows],
        [row[3] for _, _, row in rows],
        [raw_id for _, raw_id, _ in rows],
        provider,
    )


async def absorb_lead(conn: asyncpg.Connection, source: int, target: int) -> None:
    """Merge lead ``source`` into ``target`` (both locked by the caller): move its keys, sources, values,
    scores, provider results, conflicts and outcomes; leave it as a tombstone pointing at ``target``."""
    await conn.execute("UPDATE lead_keys SET lead_id = $2 WHERE lead_id = $1", source, target)
    await conn.execute("UPDATE lead_sources SET lead_id = $2 WHERE lead_id = $1", source, target)
    await conn.execute(
        """DELETE FROM lead_values s USING lead_values t
            WHERE s.lead_id = $1 AND t.lead_id = $2 AND t.field = s.field AND t.value = s.value
              AND t.raw_lead_id IS NOT DISTINCT FROM s.raw_lead_id AND t.provider IS NOT DISTINCT FROM s.provider""",
        source,
        target,
    )
    await conn.execute("UPDATE lead_values SET lead_id = $2 WHERE lead_id = $1", source, target)
    # A job that scored the absorbed lead has scored the company: keep its score unless it scored the target.
    await conn.execute(
        """INSERT INTO lead_scores (lead_id, job_id, score, segment, components, lead_revision, scored_at)
           SELECT $2, job_id, score, segment, components, lead_revision, scored_at FROM lead_scores
            WHERE lead_id = $1
           ON CONFLICT DO NOTHING""",
        source,
        target,
    )
    await conn.execute("DELETE FROM lead_scores WHERE lead_id = $1", source)
    await conn.execute(
        """INSERT INTO lead_enrichments (lead_id, provider, status, endpoint, fields, error, attempts, fetched_at)
           SELECT $2, provider, status, endpoint, fields, error, attempts, fetched_at FROM lead_enrichments
            WHERE lead_id = $1
           ON CONFLICT DO NOTHING""",
        source,
        target,
    )
    await conn.execute("DELETE FROM lead_enrichments WHERE lead_id = $1", source)
    await conn.execute(
        """INSERT INTO lead_conflicts (lead_id, other_lead_id, kind, value, raw_lead_id, created_at)
           SELECT CASE WHEN lead_id = $1 THEN $2 ELSE lead_id END,
                  CASE WHEN other_lead_id = $1 THEN $2 ELSE other_lead_id END,
                  kind, value, raw_lead_id, created_at
             FROM lead_conflicts
            WHERE (lead_id = $1 OR other_lead_id = $1)
              AND (CASE WHEN lead_id = $1 THEN $2 ELSE lead_id END)
                  <> (CASE WHEN other_lead_id = $1 THEN $2 ELSE other_lead_id END)
           ON CONFLICT DO NOTHING""",
        source,
        target,
    )
    await conn.execute("DELETE FROM lead_conflicts WHERE lead_id = $1 OR other_lead_id = $1", source)
    # What became of the company is the survivor's: its outcomes move with it (the latest still wins).
    await conn.execute("UPDATE lead_outcomes SET lead_id = $2 WHERE lead_id = $1", source, target)
    await conn.execute("UPDATE leads SET merged_into = $2, updated_at = now() WHERE merged_into = $1", source, target)
    await conn.execute("UPDATE leads SET merged_into = $2, updated_at = now() WHERE id = $1", source, target)


# The canonical fields of a lead, from its values: each single field takes the value most sources agree on
# (ties: the first seen); lists keep every distinct value in the order first seen.
_REFRESH = """
WITH counted AS (
    SELECT field, value, count(*) AS sources, min(id) AS first
      FROM lead_values WHERE lead_id = $1 GROUP BY field, value
), best AS (
    SELECT DISTINCT ON (field) field, value FROM counted ORDER BY field, sources DESC, first
), lists AS (
    SELECT field, array_agg(value ORDER BY first) AS items FROM counted
     WHERE field IN ('email', 'phone', 'category') GROUP BY field
), socials AS (
    SELECT coalesce(jsonb_object_agg(network, value), '{}'::jsonb) AS links
      FROM (SELECT DISTINCT ON (detail->>'network') detail->>'network' AS network, value
              FROM lead_values WHERE lead_id = $1 AND field = 'social' ORDER BY detail->>'network', id) s
)
UPDATE leads l
   SET company_name = (SELECT value FROM best WHERE field = 'company_name'),
       legal_form   = (SELECT value FROM best WHERE field = 'legal_form'),
       domain       = (SELECT value FROM best WHERE field = 'domain'),
       website      = (SELECT value FROM best WHERE field = 'website'),
       address      = (SELECT value FROM best WHERE field = 'address'),
       city         = (SELECT value FROM best WHERE field = 'city'),
       region       = (SELECT value FROM best WHERE field = 'region'),
       postal_code  = (SELECT value FROM best WHERE field = 'postal_code'),
       country      = (SELECT value FROM best WHERE field = 'country'),
       contact_name = (SELECT value FROM best WHERE field = 'contact_name'),
       description  = (SELECT value FROM best WHERE field = 'description'),
       emails       = coalesce((SELECT items FROM lists WHERE field = 'email'), '{}'),
       phones       = coalesce((SELECT items FROM lists WHERE field = 'phone'), '{}'),
       categories   = coalesce((SELECT items FROM lists WHERE field = 'category'), '{}'),
       socials      = (SELECT links FROM socials),
       revision     = l.revision + 1,
       updated_at   = now()
 WHERE l.id = $1
"""


async def refresh_lead(conn: asyncpg.Connection, lead_id: int) -> None:
    """Recompute the canonical fields of ``lead_id`` (locked by the caller) from its values."""
    await conn.execute(_REFRESH, lead_id)


# --- the HTTP enrichment provider's results ------------------------------------------------------------------


async def leads_for_provider(db: Database, lead_ids: Sequence[int], provider: str) -> list[dict[str, Any]]:
    """Live leads among ``lead_ids`` that ``provider`` has not answered for yet, as the provider sees them."""
    rows = await db.fetch(
        """SELECT id, company_name, domain, website, emails, phones, address, city, postal_code, country
             FROM leads l
            WHERE id = ANY($1::bigint[]) AND merged_into IS NULL
              AND NOT EXISTS (SELECT 1 FROM lead_enrichments e
                               WHERE e.lead_id = l.id AND e.provider = $2 AND e.status IN ('ok', 'empty'))
            ORDER BY id""",
        list(lead_ids),
        provider,
    )
    return [dict(r) for r in rows]


async def save_provider_result(
    db: Database,
    lead_id: int,
    *,
    provider: str,
    endpoint: str,
    status: str,
    fields: dict[str, Any] | None,
    error: str | None,
    attempts: int,
    values: Sequence[ValueRow],
) -> int:
    """Store what ``provider`` answered for ``lead_id`` and merge its values into the lead (provenance: the
    provider and its endpoint). Returns the lead it was stored on (the survivor if it was merged meanwhile).
    Provider values never claim match keys: only sources decide which company is which."""
    for _ in range(MERGE_TRIES):
        async with db.transaction() as conn:
            live = await conn.fetchval("SELECT coalesce(merged_into, id) FROM leads WHERE id = $1", lead_id)
            if live is None:
                raise TransientError(f"lead {lead_id} does not exist", kind="unknown_lead")
            row = await conn.fetchrow("SELECT merged_into FROM leads WHERE id = $1 FOR UPDATE", live)
            if row is None or row["merged_into"] is not None:
                continue  # merged while we looked: follow it
            await conn.execute(
                """INSERT INTO lead_enrichments (lead_id, provider, status, endpoint, fields, error, attempts)
                   VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
                   ON CONFLICT (lead_id, provider) DO UPDATE
                      SET status = EXCLUDED.status, endpoint = EXCLUDED.endpoint, fields = EXCLUDED.fields,
                          error = EXCLUDED.error, attempts = lead_enrichments.attempts + EXCLUDED.attempts,
                          fetched_at = now()""",
                live,
                provider,
                status,
                endpoint,
                fields,
                error,
                attempts,
            )
            if values:
                await insert_values(conn, live, values, provider=provider)
                await refresh_lead(conn, live)
            result: int = live
            return result
    raise TransientError(f"lead {lead_id} kept being merged; try again", kind="merge_contention")
