"""Evidence across sites, end to end: a contact that several unrelated company sites show, with no words
that credit anyone, is a vendor's; the scrape stage keeps it apart on each lead once three domains showed it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import support
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database
from world import Response, World, WorldServer

VENDOR_EMAIL = "help@bookwell-online.test"
VENDOR_PHONE = "+442079460999"


def _site(index: int) -> dict[str, Response]:
    host = f"bakery-{index}.test"
    own_phone = f"020 7946 01{index:02d}"
    body = (
        f'<!doctype html><html lang="en-GB"><head><title>Bakery {index}</title></head><body><main>'
        f"<h1>Bakery {index}</h1><p>Email: hello@{host}</p><p>Tel: {own_phone}</p>"
        f"<p>Bookings and vouchers: {VENDOR_EMAIL} · 020 7946 0999</p></main></body></html>"
    )
    return {"/": Response(body=body), "/robots.txt": Response(body="", content_type="text/plain")}


@pytest.fixture(scope="module")
def world_server() -> Iterator[WorldServer]:
    routes = {f"bakery-{i}.test": _site(i) for i in range(5)}
    world = World(seed=0, routes=routes, sites=[], directory_host="", directory_listing=[])
    runner = support.ThreadedServer(WorldServer(world))
    server: WorldServer = runner.start()
    try:
        yield server
    finally:
        runner.stop()


async def _records(db: Database, job: ScrapeJob) -> dict[str, dict[str, object]]:
    rows = await db.fetch(
        "SELECT r.record FROM raw_leads r JOIN scrape_job_leads l ON l.raw_lead_id = r.id WHERE l.job_id = $1",
        job.job_id,
    )
    return {str(r["record"]["attributes"]["domain"]): r["record"] for r in rows}


async def test_a_contact_on_three_unrelated_sites_is_a_vendors(
    settings: Settings, db: Database, world_server: WorldServer
) -> None:
    cfg = settings.model_copy(update={"resolve": {f"bakery-{i}.test": "127.0.0.1" for i in range(5)}})
    # One job of three sites: the three show the vendor's line, so it is nobody's own.
    first = ScrapeJob(
        job_id=uuid.uuid4(),
        targets=[world_server.url(f"bakery-{i}.test") for i in range(3)],
        geography="London, UK",
        render="static",
    )
    await support.publish(cfg, db, [first])
    await support.run_until_idle(cfg)
    records = await _records(db, first)
    assert sorted(records) == ["bakery-0.test", "bakery-1.test", "bakery-2.test"]
    for domain, record in records.items():
        assert record["emails"] == [f"hello@{domain}"]
        assert len(record["phones"]) == 1 and VENDOR_PHONE not in record["phones"]  # type: ignore[operator]
        kept = {(t["value"], t["reason"]) for t in record["third_party"]}  # type: ignore[attr-defined]
        assert kept == {(VENDOR_EMAIL, "shared"), (VENDOR_PHONE, "shared")}
    # A later job of another site: the stored sightings count.
    later = ScrapeJob(
        job_id=uuid.uuid4(), targets=[world_server.url("bakery-3.test")], geography="London, UK", render="static"
    )
    await support.publish(cfg, db, [later])
    await support.run_until_idle(cfg)
    record = (await _records(db, later))["bakery-3.test"]
    assert record["emails"] == ["hello@bakery-3.test"] and record["phones"] == ["+442079460103"]
    assert {t["value"] for t in record["third_party"]} == {VENDOR_EMAIL, VENDOR_PHONE}  # type: ignore[attr-defined]
    assert await db.fetchval("SELECT count(DISTINCT domain) FROM shared_contacts WHERE value = $1", VENDOR_EMAIL) == 4
