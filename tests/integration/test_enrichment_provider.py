"""The HTTP enrichment provider against a local server: merged with provenance, retried, rate limited."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest

import support
from enrich_support import FakeProvider
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.demo.server import SiteServer
from leadworker.store.pool import Database

ANSWERS = {
    "acme-plumbing.test": {
        "description": "Family plumbers since 1982",
        "categories": ["Plumber"],
        "emails": ["Sales@Acme-Plumbing.test"],
        "phones": ["+1 503 555 0177"],
        "employees": 42,
    },
}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    runner = support.ThreadedServer(FakeProvider(ANSWERS))
    server: FakeProvider = runner.start()
    try:
        yield server
    finally:
        runner.stop()


def jobs_for(site: SiteServer) -> list[ScrapeJob]:
    return [
        ScrapeJob(job_id=uuid.uuid4(), targets=[site.url(host)], max_pages=5)
        for host in ("acme-plumbing.test", "brightsmile-dental.test")
    ]


async def test_provider_fields_are_merged_with_provenance(
    settings: Settings, db: Database, demo_site: SiteServer, provider: FakeProvider
) -> None:
    provider.fail_first = [429, 503]  # retried in-process (tenacity), honouring Retry-After
    provider.retry_after = "1"  # longer than the backoff's own first waits (0.2-0.7 s)
    cfg = settings.model_copy(
        update={
            "enrich_provider_url": provider.url,
            "enrich_provider_token": "tok-123",
            "enrich_provider_name": "acme-data",
        }
    )
    jobs = jobs_for(demo_site)
    await support.publish(cfg, db, jobs)
    await support.run_until_idle(cfg, ("scrape", "normalize", "score"), idle=0.6)

    assert len(provider.requests) == 4 and set(provider.auth) == {"Bearer tok-123"}
    assert {r["lead"]["domain"] for r in provider.requests} == {"acme-plumbing.test", "brightsmile-dental.test"}
    asked: dict[str, list[float]] = {}
    for request, at in zip(provider.requests, provider.times, strict=True):
        asked.setdefault(request["lead"]["domain"], []).append(at)
    # The 429 and the 503 go to whichever requests come first: one lead's two, or one each when the two leads
    # are enriched side by side. Every retry waits the Retry-After.
    retried = [times for times in asked.values() if len(times) > 1]
    assert sorted(len(times) for times in asked.values()) in ([1, 3], [2, 2]), asked
    for times in retried:
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), times  # Retry-After: 1
    acme = await db.fetchrow("SELECT * FROM leads WHERE domain = 'acme-plumbing.test'")
    assert acme is not None
    assert "sales@acme-plumbing.test" in acme["emails"] and "+15035550177" in acme["phones"]
    assert acme["categories"] == ["Plumber"]
    values = await db.fetch(
        "SELECT field, value, provider, raw_lead_id, source_url FROM lead_values "
        "WHERE lead_id = $1 AND provider IS NOT NULL",
        acme["id"],
    )
    assert {(v["field"], v["value"]) for v in values} >= {
        ("email", "sales@acme-plumbing.test"),
        ("phone", "+15035550177"),
        ("category", "Plumber"),
        ("description", "Family plumbers since 1982"),
    }
    assert all(
        v["provider"] == "acme-data" and v["raw_lead_id"] is None and v["source_url"] == provider.url for v in values
    )
    results = {r["status"]: r for r in await db.fetch("SELECT * FROM lead_enrichments")}
    assert set(results) == {"ok", "empty"}
    assert results["ok"]["fields"]["employees"] == 42 and results["ok"]["lead_id"] == acme["id"]
    # the provider's phone does not claim a match key: only sources decide which company is which
    assert await db.fetchval("SELECT count(*) FROM lead_keys WHERE value = '+15035550177'") == 0
    components = await db.fetchval("SELECT score_components FROM leads WHERE id = $1", acme["id"])
    assert "provider" in components["source_quality"]["detail"]
    for job in jobs:
        assert await db.fetchval("SELECT enriched_at FROM scrape_jobs WHERE id = $1", job.job_id) is not None


async def test_unavailable_provider_retries_the_batch_then_goes_on_without_it(
    settings: Settings, db: Database, demo_site: SiteServer, provider: FakeProvider
) -> None:
    provider.fail_first = [503] * 100
    cfg = settings.model_copy(update={"enrich_provider_url": provider.url, "enrich_provider_retries": 1})
    job = jobs_for(demo_site)[0]
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ("scrape", "normalize", "score"), idle=1.5)

    # max_attempts deliveries of the batch, each asking twice (one in-process retry)
    assert len(provider.requests) == cfg.max_attempts * 2
    failed = await db.fetchrow("SELECT status, error, attempts FROM lead_enrichments")
    assert failed is not None and failed["status"] == "failed" and "HTTP 503" in failed["error"]
    row = await db.fetchrow("SELECT scored, enriched_at FROM scrape_jobs WHERE id = $1", job.job_id)
    assert row is not None and row["scored"] == 1 and row["enriched_at"] is not None
