"""Reading canonical leads out: the export stream (pages by lead id, constant memory) and one lead in full.

Every lead comes with its e-mails' verdicts (``email_checks``: status and reason, see
:mod:`leadworker.store.email_verdicts`), its phones' details (``phone_checks``: type, region, carrier, place)
and its coordinates. A distance filter (:class:`Near`) selects through the GiST index on the coordinates with
a bounding box (two across the antimeridian), then keeps what lies within the radius on the great circle.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from leadworker.common.geo import EARTH_RADIUS_KM, bounding_boxes
from leadworker.enrich.scoring import explain
from leadworker.store.email_verdicts import LEAD_EMAIL_CHECKS
from leadworker.store.lead_filters import JOB_LEADS, LeadFilter
from leadworker.store.pool import Database

EXPORT_FIELDS = (
    "lead_id",
    "company_name",
    "legal_form",
    "domain",
    "website",
    "emails",
    "email_checks",
    "phones",
    "phone_checks",
    "address",
    "city",
    "region",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "geo_precision",
    "geo_source",
    "distance_km",
    "contact_name",
    "categories",
    "score",
    "segment",
    "components",
    "explanation",
    "job_id",
    "scored_at",
    "sources",
    "provenance",
    "created_at",
    "updated_at",
)
"""Columns of ``leadworker leads export``, in order."""

JSON_FIELDS = frozenset({"email_checks", "phone_checks", "components", "sources", "provenance"})
"""The columns of a row of :func:`stream_lead_pages` that come as JSON text (jsonb's rendering), not decoded:
JSON Lines write them as they are."""

_PHONE_CHECKS = """
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'number', p.number, 'type', d.detail->'type', 'region', d.detail->'region',
                   'carrier', d.detail->'carrier', 'place', d.detail->'place', 'valid', d.detail->'valid',
                   'time_zones', d.detail->'time_zones') ORDER BY p.n), '[]'::jsonb)
          FROM unnest(l.phones) WITH ORDINALITY AS p(number, n)
          LEFT JOIN LATERAL ({detail}) d ON true) AS phone_checks"""

PHONE_CHECKS = _PHONE_CHECKS.format(
    detail="""SELECT v.detail FROM lead_values v
                              WHERE v.lead_id = l.id AND v.field = 'phone' AND v.value = p.number
                              ORDER BY v.id LIMIT 1"""
)
"""A select-list item over a lead ``l``: its phones in order, each with what normalization learnt of it."""

_FIELDS = """l.company_name, l.legal_form, l.domain, l.website, l.emails, l.phones, l.address, l.city,
       l.region, l.postal_code, l.country, l.contact_name, l.categories, l.latitude, l.longitude, l.geo_precision,
       l.geo_source"""

_LEAD_COLUMNS = (
    """
       l.id AS lead_id, """
    + _FIELDS
    + ","
    + LEAD_EMAIL_CHECKS
    + ",\n"
    + PHONE_CHECKS
    + ",\n"
)

_DETAILS = """
       (SELECT coalesce(jsonb_agg(jsonb_build_object('raw_lead_id', s.raw_lead_id, 'source_type', r.source_type,
                                                     'source_url', r.source_url) ORDER BY s.raw_lead_id), '[]')
          FROM lead_sources s JOIN raw_leads r ON r.id = s.raw_lead_id WHERE s.lead_id = l.id) AS sources,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('field', v.field, 'value', v.value, 'raw_lead_id', v.raw_lead_id,
                                                     'provider', v.provider, 'url', v.source_url) ORDER BY v.id), '[]')
          FROM lead_values v WHERE v.lead_id = l.id) AS provenance,
       l.created_at, l.updated_at
"""


@dataclass(frozen=True)
class Near:
    """Leads within ``radius_km`` of ``(latitude, longitude)``."""

    latitude: float
    longitude: float
    radius_km: float

    def params(self) -> list[Any]:
        """``$4``..``$6`` (the point and radius) and ``$7`` (two boxes, eight numbers) of the near clause."""
        boxes = bounding_boxes(self.latitude, self.longitude, self.radius_km)
        boxes = (boxes + boxes)[:2]
        return [self.latitude, self.longitude, self.radius_km, [c for box in boxes for c in box]]


_DISTANCE = f"""(2 * {EARTH_RADIUS_KM} * asin(least(1, sqrt(
            power(sin(radians(l.latitude - $4::float8) / 2), 2)
            + cos(radians($4::float8)) * cos(radians(l.latitude))
              * power(sin(radians(l.longitude - $5::float8) / 2), 2)))))"""


def _in_box(first: int) -> str:
    corner = "point(($7::float8[])[{}], ($7::float8[])[{}])"
    return (
        f"point(l.longitude, l.latitude) <@ box({corner.format(first, first + 1)}, "
        f"{corner.format(first + 2, first + 3)})"
    )


_NEAR = f"""
   AND l.latitude IS NOT NULL
   AND ({_in_box(1)}
        OR {_in_box(5)})
   AND {_DISTANCE} <= $6::float8"""

# The export within a distance (`Near`), read through a cursor. Without a job: every live lead with its latest score.
_ALL = (
    "SELECT"
    + _LEAD_COLUMNS
    + """
       l.score, l.segment, l.score_components AS components, l.score_job_id AS job_id, l.scored_at,"""
    + _DETAILS
    + """,
       {distance} AS distance_km
  FROM leads l
 WHERE l.merged_into IS NULL
   AND ($1::text IS NULL OR l.segment = $1)
   AND ($2::int IS NULL OR l.score >= $2)
   AND ($3::uuid IS NULL){near}
 ORDER BY {order}
"""
)

_JOB_LEADS = "l.id = ANY (ARRAY(" + JOB_LEADS.format(job="$1") + "{not_in}))"
"""The leads a job (``$1``) found, new or duplicate: the condition of an export page. An array made first, read
through the primary key in id order: joined (a CTE), the planner walked every lead and source in id order to
reach a big job's recent leads (2 s for the first 100 of a job of 5,000 among 1,000,000 leads)."""

# For a job: every lead the job found (new or duplicate), with its score for that job.
_FOR_JOB = (
    """
WITH job_leads AS (
    SELECT DISTINCT s.lead_id
      FROM scrape_job_leads jl JOIN lead_sources s ON s.raw_lead_id = jl.raw_lead_id
     WHERE jl.job_id = $3{not_in}
)
SELECT"""
    + _LEAD_COLUMNS
    + """
       sc.score, sc.segment, sc.components, $3::uuid AS job_id, sc.scored_at,"""
    + _DETAILS
    + """,
       {distance} AS distance_km
  FROM job_leads jl
  JOIN leads l ON l.id = jl.lead_id
  LEFT JOIN lead_scores sc ON sc.lead_id = l.id AND sc.job_id = $3
 WHERE ($1::text IS NULL OR sc.segment = $1)
   AND ($2::int IS NULL OR sc.score >= $2){near}
 ORDER BY {order}
"""
)


_NOT_IN_JOB = """
       AND NOT EXISTS (SELECT 1 FROM scrape_job_leads pj JOIN lead_sources ps ON ps.raw_lead_id = pj.raw_lead_id
                        WHERE pj.job_id = ${n} AND ps.lead_id = s.lead_id)"""
"""Leaves out the leads another job (a schedule's previous run) found: ``leads export --schedule NAME --new``."""


_ROW_FIELDS = tuple(name for name in EXPORT_FIELDS if name != "explanation")  # explained in Python


def _json_as_text(query: str, order: str) -> str:
    """``query``'s rows with the :data:`JSON_FIELDS` as text, so that nobody decodes what is only written out."""
    columns = ", ".join(f"x.{name}::text AS {name}" if name in JSON_FIELDS else f"x.{name}" for name in _ROW_FIELDS)
    return f"SELECT {columns}\n  FROM ({query}) AS x\n ORDER BY {order}"


def _query(template: str, near: Near | None, not_in_job: bool = False) -> str:
    not_in = _NOT_IN_JOB.format(n=4 if near is None else 8) if not_in_job else ""
    if near is None:
        return template.format(distance="NULL::float8", near="", order="l.id", not_in=not_in)
    return template.format(
        distance=f"round({_DISTANCE}::numeric, 3)::float8", near=_NEAR, order="distance_km, l.id", not_in=not_in
    )


FIRST_PAGE = 100
"""Rows of the export's first page: the download starts after these, not after a whole batch."""


_PAGE = (
    """
WITH page AS MATERIALIZED (
    SELECT l.id, """
    + _FIELDS
    + ","
    + LEAD_EMAIL_CHECKS
    + """, l.created_at, l.updated_at, {scores}
      FROM {source}
     WHERE {where}
     ORDER BY l.id
     LIMIT {limit}
), page_values AS (
    SELECT v.lead_id,
           jsonb_agg(jsonb_build_object('field', v.field, 'value', v.value, 'raw_lead_id', v.raw_lead_id,
                                        'provider', v.provider, 'url', v.source_url) ORDER BY v.id) AS provenance,
           jsonb_object_agg(v.value, v.detail ORDER BY v.id DESC) FILTER (WHERE v.field = 'phone') AS phones
      FROM lead_values v
     WHERE v.lead_id IN (SELECT id FROM page)
     GROUP BY v.lead_id
), page_sources AS (
    SELECT s.lead_id,
           jsonb_agg(jsonb_build_object('raw_lead_id', s.raw_lead_id, 'source_type', r.source_type,
                                        'source_url', r.source_url) ORDER BY s.raw_lead_id) AS sources
      FROM lead_sources s JOIN raw_leads r ON r.id = s.raw_lead_id
     WHERE s.lead_id IN (SELECT id FROM page)
     GROUP BY s.lead_id
)
SELECT
       l.id AS lead_id, """
    + _FIELDS
    + """, l.email_checks,\n"""
    # The first value of each phone (by id) in the page's values: jsonb_object_agg keeps a key's last value.
    + _PHONE_CHECKS.format(detail="SELECT pv.phones -> p.number AS detail")
    + """,
       l.score, l.segment, l.components, l.job_id, l.scored_at,
       coalesce(ps.sources, '[]') AS sources, coalesce(pv.provenance, '[]') AS provenance,
       l.created_at, l.updated_at, NULL::float8 AS distance_km
  FROM page l
  LEFT JOIN page_values pv ON pv.lead_id = l.id
  LEFT JOIN page_sources ps ON ps.lead_id = l.id
 ORDER BY l.id
"""
)


def export_page_query(
    selected: LeadFilter, *, not_in_job: uuid.UUID | None = None, after_id: int = 0, limit: int = 500
) -> tuple[str, list[Any]]:
    """One page of the export by lead id (``selected.job_id``: the leads that job found, with its scores) and
    its arguments (also what ``bench/api_read.py`` EXPLAINs). One statement: the page's lead ids by keyset,
    then their values and sources aggregated for those ids together (not a subquery a row)."""
    params: list[Any] = []
    if selected.job_id is None:
        source, where = "leads l", "l.merged_into IS NULL"
        scores = "l.score, l.segment, l.score_components AS components, l.score_job_id AS job_id, l.scored_at"
    else:
        params.append(selected.job_id)
        exclude = not_in_job is not None
        if exclude:
            params.append(not_in_job)
        source = "leads l LEFT JOIN lead_scores sc ON sc.lead_id = l.id AND sc.job_id = $1"
        where = _JOB_LEADS.format(not_in=_NOT_IN_JOB.format(n=2) if exclude else "")
        scores = "sc.score, sc.segment, sc.components, $1::uuid AS job_id, sc.scored_at"
    where += selected.conditions(params, score="sc" if selected.job_id else "l", job=False)
    params.append(after_id)
    where += f"\n       AND l.id > ${len(params)}"
    params.append(limit)
    query = _PAGE.format(scores=scores, source=source, where=where, limit=f"${len(params)}")
    return _json_as_text(query, "x.lead_id"), params


async def stream_lead_pages(
    db: Database,
    *,
    job_id: uuid.UUID | None = None,
    segment: str | None = None,
    min_score: int | None = None,
    country: str | None = None,
    q: str | None = None,
    near: Near | None = None,
    not_in_job: uuid.UUID | None = None,
    batch: int = 500,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Canonical leads a page of at most ``batch`` rows at a time, so memory stays flat however many there
    are: by id, a page after the last id read (each page a short statement its index serves: the first rows
    come at once however many leads there are, and no transaction stays open for the length of a download).
    With ``near``, only the leads within its radius, nearest first, through a server-side cursor (``country``
    and ``q`` are not taken with it). With ``not_in_job`` (and ``job_id``), only the leads of the job that job
    did not find. The :data:`JSON_FIELDS` of a row are JSON text."""
    if near is not None:
        if country is not None or q is not None:
            raise ValueError("country and q are not taken with near")
        page: list[dict[str, Any]] = []
        async for row in _stream_near(db, job_id, segment, min_score, near, not_in_job, batch):
            page.append(row)
            if len(page) >= batch:
                yield page
                page = []
        if page:
            yield page
        return
    selected = LeadFilter(segment=segment, min_score=min_score, country=country, job_id=job_id, q=q)
    after, size = 0, min(batch, FIRST_PAGE)
    while True:
        query, params = export_page_query(selected, not_in_job=not_in_job, after_id=after, limit=size)
        rows = await db.fetch(query, *params)
        if rows:
            yield [dict(row) for row in rows]
        if len(rows) < size:
            return
        after, size = rows[-1]["lead_id"], batch


async def _stream_near(
    db: Database,
    job_id: uuid.UUID | None,
    segment: str | None,
    min_score: int | None,
    near: Near,
    not_in_job: uuid.UUID | None,
    batch: int,
) -> AsyncIterator[dict[str, Any]]:
    exclude = job_id is not None and not_in_job is not None
    query = _json_as_text(_query(_ALL if job_id is None else _FOR_JOB, near, exclude), "x.distance_km, x.lead_id")
    params: list[Any] = [segment, min_score, job_id, *near.params(), *([not_in_job] if exclude else [])]
    async with db.transaction() as conn:
        async for row in conn.cursor(query, *params, prefetch=batch):
            yield dict(row)


async def job_exists(db: Database, job_id: uuid.UUID) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM scrape_jobs WHERE id = $1)", job_id))


async def leads_of_jobs(db: Database, job_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The canonical leads these jobs' raw leads were merged into, best score first: ``id``, ``company_name``,
    ``emails``, ``phones``, ``country``, ``score``, ``segment`` and ``sources`` (how many raw leads it has)."""
    return await db.fetch(
        """SELECT l.id, l.company_name, l.emails, l.phones, l.country, l.score, l.segment,
                  (SELECT count(*) FROM lead_sources s WHERE s.lead_id = l.id) AS sources
             FROM leads l
            WHERE l.id IN (SELECT s.lead_id FROM scrape_job_leads j JOIN lead_sources s
                               ON s.raw_lead_id = j.raw_lead_id WHERE j.job_id = ANY($1::uuid[]))
            ORDER BY l.score DESC NULLS LAST, l.id""",
        job_ids,
    )


_DETAIL = f"""
WITH live AS (SELECT coalesce(merged_into, id) AS id FROM leads WHERE id = $1)
SELECT l.*, {LEAD_EMAIL_CHECKS}, {PHONE_CHECKS},
       (SELECT coalesce(jsonb_agg(to_jsonb(v) ORDER BY v.field, v.id), '[]')
          FROM lead_values v WHERE v.lead_id = l.id) AS detail_values,
       (SELECT coalesce(jsonb_agg(to_jsonb(s) || jsonb_build_object(
                   'source_type', r.source_type, 'source_url', r.source_url,
                   'job_ids', (SELECT coalesce(jsonb_agg(jl.job_id ORDER BY jl.job_id), '[]')
                                 FROM scrape_job_leads jl WHERE jl.raw_lead_id = s.raw_lead_id))
                   ORDER BY s.raw_lead_id), '[]')
          FROM lead_sources s JOIN raw_leads r ON r.id = s.raw_lead_id WHERE s.lead_id = l.id) AS detail_sources,
       (SELECT coalesce(jsonb_agg(to_jsonb(sc) ORDER BY sc.scored_at DESC), '[]')
          FROM lead_scores sc WHERE sc.lead_id = l.id) AS detail_scores,
       (SELECT coalesce(jsonb_agg(to_jsonb(c) || jsonb_build_object(
                   'other_lead_id', CASE WHEN c.lead_id = l.id THEN c.other_lead_id ELSE c.lead_id END)
                   ORDER BY c.created_at), '[]')
          FROM lead_conflicts c WHERE c.lead_id = l.id OR c.other_lead_id = l.id) AS detail_conflicts,
       (SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.provider), '[]')
          FROM lead_enrichments e WHERE e.lead_id = l.id) AS detail_enrichments,
       (SELECT coalesce(jsonb_agg(a.id ORDER BY a.id), '[]')
          FROM leads a WHERE a.merged_into = l.id) AS detail_absorbed,
       (SELECT coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.at DESC, o.id DESC), '[]')
          FROM lead_outcomes o WHERE o.lead_id = l.id) AS detail_outcomes
  FROM live JOIN leads l ON l.id = live.id"""

_DETAIL_KEYS = {
    "values": ("field", "value", "detail", "raw_lead_id", "provider", "source_url", "created_at"),
    "sources": ("raw_lead_id", "source_type", "source_url", "linked_at", "job_ids"),
    "scores": ("job_id", "score", "segment", "components", "lead_revision", "scored_at"),
    "outcomes": ("outcome", "at", "note", "source", "recorded_lead_id", "recorded_at"),
    "conflicts": ("other_lead_id", "kind", "value", "raw_lead_id", "created_at"),
    "enrichments": ("provider", "status", "endpoint", "fields", "error", "attempts", "fetched_at"),
}
"""What each list of :func:`lead_detail` holds, in order (the rows come as JSON: these pick and order them)."""

_TIMES = frozenset({"created_at", "linked_at", "scored_at", "at", "recorded_at", "fetched_at"})


def _typed(key: str, value: Any) -> Any:
    """A value of a row aggregated as JSON back to the type its column gives (a timestamp in UTC, a UUID)."""
    if value is None:
        return None
    if key in _TIMES:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    if key == "job_id":
        return uuid.UUID(value)
    if key == "job_ids":
        return [uuid.UUID(v) for v in value]
    return value


def _detail_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{key: _typed(key, row[key]) for key in keys} for row in rows]


async def lead_detail(db: Database, lead_id: int) -> dict[str, Any] | None:
    """One lead with everything known about it, in one statement; a merged id resolves to the lead it was
    merged into (``merged_from`` says so). None if there is no such lead."""
    row = await db.fetchrow(_DETAIL, lead_id)
    if row is None:
        return None
    shown = dict(row)
    lists = {name: _detail_rows(shown.pop(f"detail_{name}"), keys) for name, keys in _DETAIL_KEYS.items()}
    absorbed: list[int] = shown.pop("detail_absorbed")
    shown.pop("search_text", None)  # the index's copy of the name, domain and e-mails
    return {
        "lead": {**shown, "explanation": explain(shown["score_components"])},
        "merged_from": lead_id if lead_id != shown["id"] else None,
        "absorbed": absorbed,
        "values": lists["values"],
        "sources": lists["sources"],
        "scores": [{**score, "explanation": explain(score["components"])} for score in lists["scores"]],
        "outcomes": lists["outcomes"],
        "conflicts": lists["conflicts"],
        "enrichments": lists["enrichments"],
    }
