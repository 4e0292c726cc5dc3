"""Maintenance cleanup: old jobs go, leads anything still references stay."""

from __future__ import annotations

import json
import uuid

import pytest

import support
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.store.pool import Database

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer in transaction mode


async def test_cleanup_deletes_old_jobs_and_only_unreferenced_leads(settings: Settings, db: Database) -> None:
    shared = LeadRecord(company_name="Shared GmbH", emails=["info@shared.test"])
    old_only = LeadRecord(company_name="Old Only Ltd", emails=["hi@oldonly.test"])
    enriched_old = LeadRecord(company_name="Kept Because Enriched", emails=["a@kept.test"])
    old = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[shared, old_only])
    old_enriched = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[enriched_old])
    recent = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[shared])
    cfg = settings.model_copy(update={"enrich": False})
    await support.publish(cfg, db, [old, recent])
    await support.run_until_idle(cfg)
    await support.publish(settings, db, [old_enriched])  # this one is normalized and merged into a lead
    await support.run_until_idle(settings, ("scrape", "normalize", "score"))
    assert await db.fetchval("SELECT count(*) FROM lead_sources") == 1
    await db.execute(
        "UPDATE scrape_jobs SET completed_at = now() - interval '100 days' WHERE id = ANY($1)",
        [old.job_id, old_enriched.job_id],
    )

    dry = support.run_cli(settings, "maintenance", "cleanup", "--older-than", "90d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"jobs": 2, "raw_leads": 1, "dry_run": True, "skipped_locked": False}
    assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 3  # a dry run changes nothing

    done = support.run_cli(settings, "maintenance", "cleanup", "--older-than", "90d")
    assert done.returncode == 0, done.stderr
    assert "deleted 2 job(s) and 1 unreferenced raw lead(s)" in done.stdout
    assert {r["id"] for r in await db.fetch("SELECT id FROM scrape_jobs")} == {recent.job_id}
    names = {r["name"] for r in await db.fetch("SELECT record->>'company_name' AS name FROM raw_leads")}
    assert names == {"Shared GmbH", "Kept Because Enriched"}
    assert await db.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", old.job_id) == 0
    assert await db.fetchval("SELECT count(*) FROM leads") == 1


def test_cleanup_needs_a_unit(settings: Settings) -> None:
    result = support.run_cli(settings, "maintenance", "cleanup", "--older-than", "90")
    assert result.returncode == 2 and "--older-than" in result.stderr
