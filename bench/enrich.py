"""``enrich``: leads per second through the normalize and score stages (``run --stage normalize,score``),
against a plain loop calling phonenumbers, email-validator and tldextract directly over the same leads.

Ours does the whole stage: decode, load the raw leads, normalize (phones, e-mails, domain, name, address),
merge into canonical leads (keys, provenance, one transaction per raw lead), request and compute the scores,
track the job's progress, ack. Measured from the first raw lead normalized to the last score written.

E-mail verification asks DNS once per distinct domain, and every bench lead has a domain of its own: the
workers ask a DNS server of the bench's own on 127.0.0.1 (``tests/dns_zone.py``, an MX for every domain), so the
figure is our cost of verifying (questions, cache rows, verdicts), not the latency of whatever resolver the
machine has (the one here answers some 50 questions a second).
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

from baselines import plain_enrich
from common import Scratch, alternate, leadworker, publish_scrape_jobs, result, run_process, worker_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dns_zone import ZoneServer

LEADS_PER_JOB = 50
COUNTRIES = [
    ("US", "+1 206 555 {:04d}", "(206) 555-{:04d}"),
    ("GB", "+44 20 7946 {:04d}", "020 7946 {:04d}"),
    ("DE", "+49 30 1234{:04d}", "030 1234{:04d}"),
]


def leads(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        country, international, national = COUNTRIES[i % len(COUNTRIES)]
        out.append(
            {
                "company_name": f"enrich bench co {i} gmbh" if country == "DE" else f"Enrich Bench Co {i} LLC",
                "website": f"https://www.bench-co-{i}.com/contact",
                "emails": [f"info@bench-co-{i}.com", f"Owner.{i}@Bench-Co-{i}.com"],
                "phones": [international.format(i % 10000), national.format((i + 1) % 10000)],
                "country": country,
                "address": f"{i} Main Street,  Springfield",
            }
        )
    return out


def mail_zone(count: int) -> str:
    """An MX for every bench lead's domain."""
    return "\n".join(f"bench-co-{i}.com. 3600 IN MX 10 mx.bench-co-{i}.com." for i in range(count))


async def run_ours(count: int) -> float:
    from leadworker.contracts import ScrapeJob
    from leadworker.store.pool import Database

    scratch = Scratch()
    await scratch.create(migrated=True)
    dns = ZoneServer(mail_zone(count))
    env = worker_env(scratch, LEADWORKER_DNS_SERVERS=await dns.start())
    try:
        records = leads(count)
        jobs = [
            ScrapeJob.model_validate(
                {
                    "job_id": uuid.uuid4(),
                    "source_types": ["inline"],
                    "keywords": ["bench"],
                    "geography": "United States",
                    "leads": records[i : i + LEADS_PER_JOB],
                }
            )
            for i in range(0, count, LEADS_PER_JOB)
        ]
        await publish_scrape_jobs(scratch, jobs)
        db = await Database.connect(scratch.db_url)
        # Stage 1 (not measured): store the raw leads; their fan-out waits in leads.normalize.
        code, output = await run_process(leadworker("run", "--stage", "scrape", "--exit-when-idle", "1"), env)
        assert code == 0, output[-2000:]
        # Stage 2 (measured): normalize, merge and score them.
        code, output = await run_process(leadworker("run", "--stage", "normalize,score", "--exit-when-idle", "1"), env)
        assert code == 0, output[-2000:]
        row = await db.fetchrow(
            """SELECT (SELECT count(*) FROM raw_leads WHERE normalized_at IS NOT NULL) AS normalized,
                      (SELECT count(*) FROM lead_scores) AS scored,
                      extract(epoch FROM (SELECT max(scored_at) FROM lead_scores)
                                       - (SELECT min(normalized_at) FROM raw_leads)) AS seconds"""
        )
        await db.close()
        assert row is not None and row["normalized"] == count and row["scored"] == count, dict(row or {})
        return count / float(row["seconds"])
    finally:
        dns.stop()
        await scratch.cleanup()


async def run_baseline(count: int) -> float:
    return plain_enrich.run(leads(count))


async def normalize_only(count: int) -> float:
    """Leads per second of our normalizing alone (``normalize_record``), in this process: no database, no
    broker. The ceiling of the stage: merging, scoring and acking come on top."""
    from leadworker.contracts import LeadRecord
    from leadworker.enrich.normalization import normalize_record

    records = [LeadRecord.model_validate(lead) for lead in leads(count)]
    started = time.perf_counter()
    for record in records:
        normalize_record(record, geography="United States")
    return count / (time.perf_counter() - started)


async def run(quick: bool, reps: int = 3) -> dict[str, Any]:
    count = 1_000 if quick else 5_000
    ours, baseline = await alternate(lambda: run_ours(count), lambda: run_baseline(count), reps)
    alone, baseline_alone = await alternate(lambda: normalize_only(count), lambda: run_baseline(count), reps)
    only = result("normalize", "leads/s", alone, baseline_alone)
    return result(
        "enrich",
        "leads/s",
        ours,
        baseline,
        baseline_name="plain loop: phonenumbers + email-validator + tldextract, no database",
        notes=f"{count} distinct leads, 2 phones + 2 e-mails + a website each; target ratio >= 0.5",
        extra={
            "target": {"ratio": 0.5},
            "leads": count,
            "rows": [
                {
                    "name": "normalize",
                    "unit": "leads/s",
                    "ours": only["ours"],
                    "baseline": only["baseline"],
                    "ratio": only["ratio"],
                    "notes": "our normalize_record alone (no database, no broker) vs the same plain loop",
                }
            ],
        },
    )
