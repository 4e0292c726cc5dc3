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
from leadworker.enrich.normalization import normalize_record
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
            "RETURNING id",
            digest,
            record.source_url,
            data,
        )
        if job_id is not None:
            await db.execute(
                "INSERT INTO scrape_job_leads (job_id, raw_lead_id, is_new) VALUES ($1, $2, true)", job_id, raw_id
            )
        ids.append(raw_id)
    return ids


async def assert_one_lead_per_company(db: Database, tag: str, companies: int) -> list[int]:
    live: list[int] = []
    for c in range(companies):
        domain = f"{tag}-co{c}.test"
        owners = await db.fetch(
            "SELECT DISTINCT lead_id FROM lead_keys WHERE value = $1 OR value LIKE $2 OR value = $3",
            domain,
            f"%@{domain}",
            phone_of(tag, c),
        )
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
            f"SELECT count(*) FROM {table} t JOIN leads l ON l.id = t.lead_id WHERE l.merged_into IS NOT NULL"
        )
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
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        leads=[LeadRecord(company_name="placeholder")],
        keywords=["company"],
    )
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

    await asyncio.gather(
        support.run_until_idle(cfg, ("normalize", "score"), idle=0.6),
        support.run_until_idle(cfg, ("normalize", "score"), idle=0.6),
    )

    live = await assert_one_lead_per_company(db, "w", 6)
    scored = await db.fetch("SELECT lead_id FROM lead_scores WHERE job_id = $1", job.job_id)
    assert sorted(r["lead_id"] for r in scored) == sorted(live)
    row = await db.fetchrow("SELECT normalized, scored, enriched_at FROM scrape_jobs WHERE id = $1", job.job_id)
    assert row is not None and row["normalized"] == row["scored"] == len(ids) and row["enriched_at"] is not None


async def test_parallel_batches_merge_one_company_into_one_lead(database_url: str) -> None:
    """Batched merges (one transaction per batch, as the normalize stage does) racing each other and racing
    one-by-one merges of the same raw leads still make one lead per company and merge each raw lead once."""
    db = await Database.connect(database_url, min_size=10, max_size=10)
    try:
        rng = random.Random(11)
        raws: list[tuple[canonical.RawLead, Any]] = []
        for c in range(8):
            records = company_records("b", c)
            ids = await insert_raw(db, records)
            for raw_id, record in zip(ids, records, strict=True):
                raw = canonical.RawLead(raw_id, record.model_dump(mode="json"), "inline", None, False)
                raws.append((raw, normalize_record(record)))
        work = raws + raws
        rng.shuffle(work)
        batches = [work[i : i + 7] for i in range(0, len(work), 7)]
        singles = rng.sample(raws, 10)
        results = await asyncio.gather(
            *(canonical.merge_raw_leads(db, batch) for batch in batches),
            *(canonical.merge_raw_lead(db, raw, lead) for raw, lead in singles),
        )
        per_raw: dict[int, list[str]] = {}
        for result in results:
            for outcome in result if isinstance(result, list) else [result]:
                per_raw.setdefault(outcome.raw_lead_id, []).append(outcome.action)
        assert len(per_raw) == len(raws)
        for actions in per_raw.values():
            assert len(actions) - actions.count("skipped") == 1, actions
        await assert_one_lead_per_company(db, "b", 8)
    finally:
        await db.close()


async def lead_picture(db: Database) -> dict[str, Any]:
    """The canonical leads, named by the raw leads they came from (ids differ between two databases)."""
    sources: dict[int, frozenset[int]] = {}
    for row in await db.fetch("SELECT lead_id, array_agg(raw_lead_id) AS raws FROM lead_sources GROUP BY lead_id"):
        sources[row["lead_id"]] = frozenset(row["raws"])
    leads = {}
    for row in await db.fetch("SELECT * FROM leads WHERE merged_into IS NULL"):
        name = sources.get(row["id"], frozenset())
        keys = await db.fetch("SELECT kind, value FROM lead_keys WHERE lead_id = $1", row["id"])
        values = await db.fetch("SELECT field, value, raw_lead_id FROM lead_values WHERE lead_id = $1", row["id"])
        leads[name] = {
            "fields": {
                k: row[k]
                for k in (
                    "company_name",
                    "legal_form",
                    "domain",
                    "website",
                    "emails",
                    "phones",
                    "address",
                    "city",
                    "country",
                    "categories",
                    "socials",
                )
            },
            "keys": sorted((k["kind"], k["value"]) for k in keys),
            "values": sorted((v["field"], v["value"], v["raw_lead_id"]) for v in values),
        }
    conflicts = sorted(
        (sorted(sources[r["lead_id"]]), sorted(sources[r["other_lead_id"]]), r["kind"], r["value"])
        for r in await db.fetch("SELECT * FROM lead_conflicts")
    )
    normalized = await db.fetchval("SELECT count(*) FROM raw_leads WHERE normalized_at IS NOT NULL")
    return {"leads": leads, "conflicts": conflicts, "normalized": normalized}


def mixed_records() -> list[LeadRecord]:
    """Companies whose views chain (bridges, so absorbs), two franchise sites sharing a call centre (a
    conflict), the same company twice in one batch, and records with nothing usable."""
    records = [r for c in range(3) for r in company_records("m", c)]
    records += [
        LeadRecord(company_name="North Franchise", website="https://north-fr.test/", phones=["+15035550999"]),
        LeadRecord(company_name="South Franchise", website="https://south-fr.test/", phones=["+15035550999"]),
        LeadRecord(company_name="Twice Inc", emails=["hello@twice.test"]),
        LeadRecord(company_name="Twice Inc.", emails=["hello@twice.test"], phones=["+15035550777"]),
        LeadRecord(website="not a website", description="nothing to reach anyone by"),
        LeadRecord(emails=["not-an-email"], phones=["12"]),
    ]
    random.Random(5).shuffle(records)
    # and, in one batch of their own, an e-mail's lead and a phone's lead that a third record bridges
    records += [
        LeadRecord(company_name="Bridge Ltd", emails=["x@bridge.test"]),
        LeadRecord(phones=["+15035550555"], source_url="https://directory.test/bridge"),
        LeadRecord(emails=["x@bridge.test"], phones=["+15035550555"]),
    ]
    return records


async def test_batched_merge_gives_the_same_leads_as_one_by_one(
    services: tuple[str, str], template_database: str
) -> None:
    _, admin = services
    records = mixed_records()
    pictures = []
    for batched in (False, True):
        name = f"lw_test_{uuid.uuid4().hex[:12]}"
        await support.create_database(admin, name, template=template_database)
        db = await Database.connect(support.database_url_for(admin, name), min_size=1, max_size=2)
        try:
            ids = await insert_raw(db, records)
            pairs = [
                (
                    canonical.RawLead(raw_id, record.model_dump(mode="json"), "inline", None, False),
                    normalize_record(record),
                )
                for raw_id, record in zip(ids, records, strict=True)
            ]
            outcomes = []
            for i in range(0, len(pairs), 8):
                batch = pairs[i : i + 8]
                if batched:
                    outcomes += await canonical.merge_raw_leads(db, batch)
                else:
                    outcomes += [await canonical.merge_raw_lead(db, raw, lead) for raw, lead in batch]
            again = await canonical.merge_raw_leads(db, pairs[:5])  # a redelivered batch: all skipped
            assert [o.action for o in again] == ["skipped"] * 5
            assert [o.lead_id is not None for o in again] == [o.action != "rejected" for o in outcomes[:5]]
            picture = await lead_picture(db)
            picture["actions"] = sorted(o.action for o in outcomes if o.action in ("rejected", "skipped"))
            picture["bridged"] = any(o.action == "merged" for o in outcomes)
            pictures.append(picture)
        finally:
            await db.close()
            await support.drop_database(admin, name)
    one_by_one, batched_picture = pictures
    assert one_by_one["normalized"] == len(records)
    assert one_by_one["actions"] == ["rejected", "rejected"]
    assert len(one_by_one["conflicts"]) == 1  # the franchise pair: the second site's raw lead records it
    assert one_by_one["bridged"]  # some batch bridges two leads: the batched run falls back for it
    assert batched_picture == one_by_one
