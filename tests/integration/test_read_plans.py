"""The API's lists, searches and export pages read through indexes, checked on PostgreSQL's own plans.

A database with enough jobs and leads (ANALYZEd, no planner setting touched) that each filtered page, without
the index its filter needs (dropped in a rolled-back transaction), reads a large part of its table; with the
index it reads about the rows it returns. Counted from EXPLAIN ANALYZE: rows the scans returned or filtered out.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from leadworker.store.jobs import page_jobs_query
from leadworker.store.lead_export import export_page_query
from leadworker.store.lead_filters import LeadFilter
from leadworker.store.lead_pages import page_query
from leadworker.store.pool import Database

JOBS = 60_000
LEADS = 60_000

_SEED = f"""
INSERT INTO scrape_jobs (id, user_id, status, criteria, created_at, updated_at)
SELECT md5('job' || i)::uuid, 'u-' || (i % 500), CASE WHEN i % 1000 = 0 THEN 'failed' ELSE 'completed' END, '{{}}',
       timestamptz '2026-01-01' + i * interval '1 minute', timestamptz '2026-01-01' + i * interval '1 minute'
  FROM generate_series(1, {JOBS}) AS i;
INSERT INTO leads (company_name, domain, emails, country, score, segment)
SELECT 'Company ' || i, 'company-' || i || '.example', ARRAY['info@company-' || i || '.example'],
       CASE WHEN i % 500 = 0 THEN 'LU' WHEN i % 3 = 0 THEN 'DE' ELSE 'US' END, i % 101,
       CASE WHEN i % 101 >= 70 THEN 'hot' WHEN i % 101 >= 40 THEN 'warm' ELSE 'cold' END
  FROM generate_series(1, {LEADS}) AS i;
UPDATE leads SET company_name = 'Zanzibar Quills ' || id WHERE id % 1000 = 7;
ANALYZE scrape_jobs;
ANALYZE leads;
"""


BIG = ("leads", "scrape_jobs")


def scans(plan: dict[str, Any], tables: tuple[str, ...] = BIG) -> list[tuple[str, str, int]]:
    """(node type, index or relation, rows it read: returned or filtered out) of every scan of ``tables``."""
    found = []
    if plan["Node Type"] == "Bitmap Index Scan":  # its heap scan above counts the rows
        found.append((plan["Node Type"], plan["Index Name"], 0))
    elif "Scan" in plan["Node Type"] and plan.get("Relation Name") in tables:
        read = sum(plan.get(k, 0) for k in ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck"))
        name = plan.get("Index Name") or plan["Relation Name"]
        found.append((plan["Node Type"], name, int(read * plan.get("Actual Loops", 1))))
    for child in plan.get("Plans", []):
        found += scans(child, tables)
    return found


async def plan_of(
    conn: asyncpg.Connection, query: str, params: list[Any], tables: tuple[str, ...] = BIG
) -> list[tuple[str, str, int]]:
    found = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", *params)
    document = json.loads(found) if isinstance(found, str) else found  # the pool decodes json itself
    return scans(document[0]["Plan"], tables)


async def test_lists_searches_and_exports_read_through_indexes(db: Database) -> None:
    async with db.connection() as conn:
        await conn.execute("SET session_replication_role = replica")  # no job_events for the seeded jobs
        await conn.execute(_SEED)
        await conn.execute("RESET session_replication_role")
        cases: list[tuple[str, tuple[str, list[Any]], str | None]] = [
            ("jobs", page_jobs_query(status=None, user_id=None, since=None, until=None, after=None, limit=50), None),
            ("jobs by status", page_jobs_query(
                status="failed", user_id=None, since=None, until=None, after=None, limit=50), None),
            ("jobs by user", page_jobs_query(
                status=None, user_id="u-7", since=None, until=None, after=None, limit=50),
             "scrape_jobs_user_created_idx"),
            ("leads", page_query(LeadFilter(), 0, 50), None),
            ("leads by country", page_query(LeadFilter(country="lu"), 0, 50), "leads_live_country_idx"),
            ("leads search", page_query(LeadFilter(q="zanzibar"), 0, 50), "leads_search_trgm_idx"),
            ("export", export_page_query(LeadFilter()), None),
            ("export by country", export_page_query(LeadFilter(country="LU")), "leads_live_country_idx"),
            ("export search", export_page_query(LeadFilter(q="ZANZIBAR q")), "leads_search_trgm_idx"),
        ]  # fmt: skip
        newest_first = {"scrape_jobs_created_id_idx", "scrape_jobs_created_idx"}  # either walks created_at DESC
        expected_index = {
            "jobs": newest_first,
            "jobs by status": {"scrape_jobs_status_created_idx", "scrape_jobs_status_idx", *newest_first},
            "leads": {"leads_pkey"},
            "export": {"leads_pkey"},
        }
        for name, (query, params), needed in cases:
            plan = await plan_of(conn, query, params)
            assert not [s for s in plan if s[0] == "Seq Scan"], (name, plan)
            indexes = {needed} if needed else expected_index[name]
            assert any(s[1] in indexes for s in plan), (name, plan)
            assert sum(s[2] for s in plan) <= 500, (name, plan)  # about the page, not the table
            if needed is not None:
                dropped = conn.transaction()
                await dropped.start()
                try:
                    await conn.execute(f"DROP INDEX {needed}")
                    without = await plan_of(conn, query, params)
                finally:
                    await dropped.rollback()
                assert sum(s[2] for s in without) >= min(JOBS, LEADS) // 4, (name, without)


async def test_export_pages_are_not_compiled(db: Database) -> None:
    """A full export page (500 leads) is estimated well below ``jit_above_cost``: with a subquery a row for each
    of the values, sources, e-mails and phones it was above it on 2.5 million leads (106,000; now 57,000), and
    PostgreSQL compiled every page (20-70 ms of JIT for about 20 ms of work). On this small database the
    estimates are smaller for both (68,000 then, 8,500 now): a quarter of the threshold tells them apart."""
    async with db.connection() as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(_SEED)
        await conn.execute("RESET session_replication_role")
        threshold = float(await conn.fetchval("SHOW jit_above_cost"))
        for selected in (LeadFilter(), LeadFilter(country="LU"), LeadFilter(q="zanzibar"), LeadFilter(min_score=50)):
            query, params = export_page_query(selected, limit=500)
            found = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *params)
            document = json.loads(found) if isinstance(found, str) else found
            assert document[0]["Plan"]["Total Cost"] < threshold / 4, (selected, document[0]["Plan"]["Total Cost"])


BIG_JOB_LEADS = 2_000
_SEED_JOB_LEADS = f"""
INSERT INTO raw_leads (id, content_hash, source_type, record, first_job_id)
SELECT i, sha256(('raw ' || i)::bytea), 'website', '{{}}', md5('job' || least(i, {JOBS}))::uuid
  FROM generate_series(1, {LEADS + BIG_JOB_LEADS}) AS i;
INSERT INTO scrape_job_leads (job_id, raw_lead_id, is_new)
SELECT CASE WHEN i > {LEADS} THEN md5('job1')::uuid ELSE md5('job' || i)::uuid END, i, true
  FROM generate_series(1, {LEADS + BIG_JOB_LEADS}) AS i;
INSERT INTO lead_sources (raw_lead_id, lead_id)
SELECT i, CASE WHEN i > {LEADS} THEN 2 * {LEADS} + 1 - i ELSE i END
  FROM generate_series(1, {LEADS + BIG_JOB_LEADS}) AS i;
ANALYZE raw_leads;
ANALYZE scrape_job_leads;
ANALYZE lead_sources;
"""


async def test_a_big_jobs_leads_are_read_by_the_job_not_by_the_table(db: Database) -> None:
    """The job page's first leads (and the job's first export page) of a job that found 2,000 leads, all recent
    (the highest ids): a semi-join walked the leads (and their sources) in id order from the first, reading
    nearly the whole table before reaching the job's; as an array of a plain join, the planner read every source
    into a hash. The job's lead ids are now gathered first, a lookup in lead_sources for each of its raw leads,
    and read through the leads' primary key."""
    async with db.connection() as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(_SEED)
        await conn.execute(_SEED_JOB_LEADS)
        await conn.execute("RESET session_replication_role")
        big_job, small_job = await conn.fetchrow("SELECT md5('job1')::uuid, md5('job7')::uuid")
        for job_id, found, shown in ((big_job, BIG_JOB_LEADS, 50), (small_job, 1, 1)):
            for query, params in (page_query(LeadFilter(job_id=job_id), 0, 50), export_page_query(
                    LeadFilter(job_id=job_id), limit=50)):  # fmt: skip
                assert len(await conn.fetch(query, *params)) == shown
                plan = await plan_of(conn, query, params)
                assert not [s for s in plan if s[0] == "Seq Scan"], (job_id, plan)
                assert any(s[1] == "leads_pkey" for s in plan), (job_id, plan)
                assert sum(s[2] for s in plan) <= 500, (job_id, plan)  # about the page, not the table
                sources = await plan_of(conn, query, params, ("lead_sources",))
                assert sum(s[2] for s in sources) <= found + shown * 3, (job_id, sources)  # the job's, the page's
