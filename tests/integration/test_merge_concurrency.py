"""Merging under concurrency: parallel transactions and parallel workers make one lead per company."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from typing import Any

import support
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, NormalizeBatch, ScrapeJob
from leadworker.enrich.normalize import normalize_record
from leadworker.store import canonical
from leadworker.store.jobs import create_jobs
from leadworker.store.pool import Database

VARIANTS = 6


def phone_of(tag: str, c: int) -> str:
    return f"+1503555{100 + 10 * (ord(tag[-1]) % 9) + c:04d}"


def company_records(tag: str, c: int) -> list[LeadRecord]:
    """Six views of one company whose keys chain together: whatever order they are merged in, one lead."""
    domain = f"{tag}-co{c}.test"
    phone = phone_of(tag, c)
    return [
        LeadRecord(company_name=f"Company {c}", website=f"https://{domain}/", emails=[f"info@{domain}"]),
        LeadRecord(emails=[f"info@{domain}"], phones=[phone]),
        LeadRecord(company_name=f"COMPANY {c} LLC", phones=[phone], source_url="https://directory.test/x"),
        LeadRecord(emails=[f"sales@{domain}"], phones=[phone]),
        LeadRecord(website=f"http://www.{domain}/contact", emails=[f"sales@{domain}"]),
        LeadRecord(company_name=f"Company {c}", emails=[f"boss@{domain}"], phones=[phone]),
    ]


async def insert_raw(db: Database, records: list[LeadRecord], job_id: uuid.UUID | None = None) -> list[int]:
    ids = []
    for record in records:
        data = record.model_dump(mode="json", exclude_defaults=True)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode() + uuid.uuid4().bytes).digest()
        raw_id = await db.fetchval(
            "INSERT INTO raw_leads (content_hash, source_type, source_url, record) VALUES ($1, 'inline', $2, $3) "
            "RETURNING id", digest, record.source_url, data)
        if job_id is not None:
            await db.execute("INSERT INTO scrape_job_leads (job_id, raw_lead_id, is_new) VALUES ($1, $2, true)",
                             job_id, raw_id)
        ids.append(raw_id)
    return ids


async def assert_one_lead_per_company(db: Database, tag: str, companies: int) -> list[int]:
    live: list[int] = []
    for c in range(companies):
        domain = f"{tag}-co{c}.test"
        owners = await db.fetch(
            "SELECT DISTINCT lead_id FROM lead_keys WHERE value = $1 OR value LIKE $2 OR value = $3",
            domain, f"%@{domain}", phone_of(tag, c))
        assert len(owners) == 1, (domain, [dict(o) for o in owners])
        lead_id = owners[0]["lead_id"]
        lead = await db.fetchrow("SELECT * FROM leads WHERE id = $1", lead_id)
        assert lead is not None and lead["merged_into"] is None and lead["domain"] == domain
        assert set(lead["emails"]) == {f"info@{domain}", f"sales@{domain}", f"boss@{domain}"}
        assert lead["phones"] == [phone_of(tag, c)]
        keys = await db.fetchval("SELECT count(*) FROM lead_keys WHERE lead_id = $1", lead_id)
        assert keys == 5  # domain, three e-mails, phone
        sources = await db.fetchval("SELECT count(*) FROM lead_sources WHERE lead_id = $1", lead_id)
        assert sources == VARIANTS
        live.append(lead_id)
    # nothing points at a tombstone
    for table in ("lead_keys", "lead_sources", "lead_values", "lead_scores"):
        stray = await db.fetchval(
            f"SELECT count(*) FROM {table} t JOIN leads l ON l.id = t.lead_id WHERE l.merged_into IS NOT NULL")
        assert stray == 0, table
    return live


async def test_parallel_transactions_merge_one_company_into_one_lead(database_url: str) -> None:
    db = await Database.connect(database_url, min_size=10, max_size=10)
    try:
        rng = random.Random(7)
        for round_ in range(3):
            tag = f"r{round_}"
            raws: list[tuple[canonical.RawLead, Any]] = []
            for c in range(8):
                records = company_records(tag, c)
                ids = await insert_raw(db, records)
                for raw_id, record in zip(ids, records, strict=True):
                    raw = canonical.RawLead(raw_id, record.model_dump(mode="json"), "inline", None, False)
                    raws.append((raw, normalize_record(record)))
            work = raws + raws  # every raw lead twice, as two workers given the same message would
            rng.shuffle(work)
            outcomes = await asyncio.gather(*(canonical.merge_raw_lead(db, raw, lead) for raw, lead in work))
            per_raw: dict[int, list[str]] = {}
            for outcome in outcomes:
                per_raw.setdefault(outcome.raw_lead_id, []).append(outcome.action)
            assert all(sorted(a)[-1] == "skipped" and "skipped" not in sorted(a)[:-1] for a in per_raw.values())
            await assert_one_lead_per_company(db, tag, 8)
        assert await db.fetchval("SELECT count(*) FROM raw_leads WHERE normalized_at IS NULL") == 0
    finally:
        await db.close()


async def test_parallel_workers_merge_one_company_into_one_lead(settings: Settings, db: Database) -> None:
    job = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[LeadRecord(company_name="placeholder")],
                    keywords=["company"])
    await create_jobs(db, [job])
    await db.execute("UPDATE scrape_jobs SET status = 'completed', attempts = 1 WHERE id = $1", job.job_id)
    records = [r for c in range(6) for r in company_records("w", c)]
    random.Random(3).shuffle(records)
    ids = await insert_raw(db, records, job.job_id)
    topology = await support.declare(settings)
    for raw_id in ids:  # one raw lead per message: the most interleaving two workers can get
        body = NormalizeBatch.of(job.job_id, [raw_id]).model_dump_json().encode()
        await support.publish_raw(settings, topology.work_queue("normalize"), body)
    cfg = settings.model_copy(update={"prefetch": 8})

    await asyncio.gather(support.run_until_idle(cfg, ("normalize", "score"), idle=0.6),
                         support.run_until_idle(cfg, ("normalize", "score"), idle=0.6))

    live = await assert_one_lead_per_company(db, "w", 6)
    scored = await db.fetch("SELECT lead_id FROM lead_scores WHERE job_id = $1", job.job_id)
    assert sorted(r["lead_id"] for r in scored) == sorted(live)
    row = await db.fetchrow("SELECT normalized, scored, enriched_at FROM scrape_jobs WHERE id = $1", job.job_id)
    assert row is not None and row["normalized"] == row["scored"] == len(ids) and row["enriched_at"] is not None
