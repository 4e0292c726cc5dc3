"""``leadworker leads export`` and ``leads show``, run as a user runs them, and export memory on a large table."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import uuid
from pathlib import Path

import support
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.demo.server import SiteServer
from leadworker.store.pool import Database


async def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(support.run_cli, settings, *args)


async def test_export_and_show(settings: Settings, db: Database, demo_site: SiteServer, tmp_path: Path) -> None:
    site = ScrapeJob(
        job_id=uuid.uuid4(),
        targets=[demo_site.url("acme-plumbing.test")],
        max_pages=5,
        industry="plumbing",
        keywords=["boiler"],
        geography="Portland, US",
    )
    crm = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        leads=[
            LeadRecord(
                company_name="Acme Plumbing & Heating", website="acme-plumbing.test", phones=["+1 503 555 0100"]
            ),
            LeadRecord(company_name="Lonely Ltd", emails=["info@gmail.com"]),
        ],
    )
    await support.publish(settings, db, [site, crm])
    await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
    acme = await db.fetchrow("SELECT id, score, segment FROM leads WHERE domain = 'acme-plumbing.test'")
    assert acme is not None

    result = await cli(settings, "leads", "export", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 and "exported 2 lead(s)" in result.stderr
    exported = next(r for r in rows if r["lead_id"] == acme["id"])
    assert sorted(exported["phones"]) == ["+15035550100", "+15035550142", "+15035550199"]
    assert exported["score"] == acme["score"] and exported["segment"] == acme["segment"]
    assert set(exported["components"]) >= {"completeness", "contact_quality"}
    assert {s["source_type"] for s in exported["sources"]} == {"website", "inline"}
    office = next(p for p in exported["provenance"] if p["value"] == "office@acme-plumbing.test")
    assert office["raw_lead_id"] is not None and office["url"].endswith("/contact")

    out = tmp_path / "site.csv"
    result = await cli(settings, "leads", "export", "--job", str(site.job_id), "--format", "csv", "--output", str(out))
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [int(r["lead_id"]) for r in table] == [acme["id"]] and not (tmp_path / "site.csv.partial").exists()
    site_score = await db.fetchrow(
        "SELECT score, segment FROM lead_scores WHERE lead_id = $1 AND job_id = $2", acme["id"], site.job_id
    )
    assert site_score is not None
    assert (int(table[0]["score"]), table[0]["segment"]) == (site_score["score"], site_score["segment"])
    assert json.loads(table[0]["components"])["industry"]["value"] == 1.0
    assert table[0]["emails"].count("; ") == 2

    other = {"hot": "cold", "warm": "hot", "cold": "hot"}[site_score["segment"]]
    none = await cli(settings, "leads", "export", "--job", str(site.job_id), "--segment", other, "--format", "jsonl")
    assert none.returncode == 0 and none.stdout == ""
    high = await cli(settings, "leads", "export", "--min-score", "100", "--format", "jsonl")
    assert high.returncode == 0 and all(json.loads(x)["score"] == 100 for x in high.stdout.splitlines())

    shown = await cli(settings, "leads", "show", str(acme["id"]), "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert len(detail["sources"]) == 2 and {s["job_id"] for s in detail["scores"]} == {
        str(site.job_id),
        str(crm.job_id),
    }
    text = await cli(settings, "leads", "show", str(acme["id"]))
    assert text.returncode == 0 and "values (provenance)" in text.stdout and "+15035550100" in text.stdout
    missing = await cli(settings, "leads", "show", "999999")
    assert missing.returncode == 1 and "no lead 999999" in missing.stderr
    no_job = await cli(settings, "leads", "export", "--job", str(uuid.uuid4()))
    assert no_job.returncode == 1 and "no job" in no_job.stderr


async def test_bad_arguments_exit_2_with_one_line(settings: Settings, tmp_path: Path) -> None:
    cases = [
        (["leads", "export", "--format", "xml"], "--format"),
        (["leads", "export", "--segment", "lukewarm"], "--segment"),
        (["leads", "export", "--min-score", "101"], "--min-score"),
        (["leads", "export", "--min-score", "lots"], "--min-score"),
        (["leads", "export", "--job", "yesterday"], "not a job id"),
        (["leads", "export", "--output", str(tmp_path / "no" / "such" / "dir.csv")], "cannot write --output"),
        (["leads", "show", "acme"], "not a lead id"),
        (["leads", "show", "0"], "not a lead id"),
        (["leads", "export", "--colour", "red"], "No such option"),
    ]
    for args, expected in cases:
        result = await cli(settings, *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)


_BULK = """
WITH made AS (
    INSERT INTO leads (company_name, domain, website, emails, phones, country, description, score, segment,
                       score_components)
    SELECT 'Company ' || g, 'company' || g || '.test', 'https://company' || g || '.test/',
           ARRAY['info@company' || g || '.test', 'sales@company' || g || '.test'],
           ARRAY['+1503555' || lpad((g % 10000)::text, 4, '0')],
           'US', repeat('A description of a company that does many things. ', 12), g % 101,
           CASE WHEN g % 101 >= 70 THEN 'hot' WHEN g % 101 >= 40 THEN 'warm' ELSE 'cold' END,
           '{"completeness": {"value": 0.8, "weight": 0.2, "points": 16, "detail": "missing address"},
             "contact_quality": {"value": 0.6, "weight": 0.25, "points": 15, "detail": "role e-mail, fixed line"}}'
      FROM generate_series(1, $1) g
    RETURNING id, domain
)
INSERT INTO lead_values (lead_id, field, value, provider, source_url)
SELECT id, f, v, 'bulk', 'https://' || domain || '/contact'
  FROM made, LATERAL (VALUES ('email', 'info@' || domain), ('email', 'sales@' || domain),
                             ('company_name', domain), ('domain', domain)) AS t(f, v)
"""


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def peak_rss_of_export(settings: Settings, out: Path, *args: str) -> int:
    """Run ``leads export`` into ``out`` and sample its resident memory until it exits; return the peak in KiB."""
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("leads", "export", "--format", "jsonl", "--output", str(out), *args),
        env=support.cli_env(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=support.ROOT,
    )
    finished = asyncio.ensure_future(process.communicate())
    peak = 0
    while not finished.done():
        peak = max(peak, _rss_kib(process.pid) or 0)
        await asyncio.wait([finished], timeout=0.02)
    _, stderr = finished.result()
    assert process.returncode == 0, stderr.decode()
    return peak


async def test_export_of_a_large_table_keeps_memory_flat(settings: Settings, db: Database, tmp_path: Path) -> None:
    leads = 60_000
    await db.execute(_BULK, leads)
    few, every = tmp_path / "few.jsonl", tmp_path / "all.jsonl"
    small = await peak_rss_of_export(settings, few, "--min-score", "100")  # ~1% of the rows
    large = await peak_rss_of_export(settings, every)
    size = every.stat().st_size
    print(
        f"\nexport peak RSS: {few.stat().st_size / 2**20:.1f} MiB written: {small} KiB; "
        f"{size / 2**20:.0f} MiB written ({leads} leads): {large} KiB"
    )
    assert sum(1 for _ in every.open()) == leads
    assert size > 60 * 2**20  # far more data than the bound below
    assert large - small < 40 * 1024, (small, large)
