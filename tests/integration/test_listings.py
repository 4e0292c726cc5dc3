"""Listing directories as a user runs them: one ``directory:<recipe>`` job per directory of
:mod:`world.listings` (static, script-drawn, JSON-hydrated, JSON-LD, robots-disallowed API, scroll-to-load,
"show number", national phones, shared-host websites), each with the recipe written from the README and the
default ``render=auto``, through the real worker, RabbitMQ, PostgreSQL and Chromium. Every mode is scored
against its truth: listing and phone recall, precision, no card that only a disallowed request gives, and no
lead that holds two listings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import support
from chromium import chromium_processes
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store import jobs as jobstore
from leadworker.store.leads import job_leads
from leadworker.store.pool import Database
from world import World, WorldServer
from world.listings import MODES, ListingDirectory, ListingWorld, generate_listings

pytestmark = pytest.mark.browser

RECALL_BAR = 0.95
PRECISION_BAR = 0.98


@pytest.fixture(scope="module")
def listing_world() -> ListingWorld:
    return generate_listings()


@pytest.fixture(scope="module")
def listing_server(listing_world: ListingWorld) -> Iterator[WorldServer]:
    world = World(seed=0, routes=listing_world.routes, sites=[], directory_host="", directory_listing=[])
    runner = support.ThreadedServer(WorldServer(world))
    server: WorldServer = runner.start()
    try:
        yield server
    finally:
        runner.stop()


def write_recipe(folder: Path, directory: ListingDirectory, port: int) -> str:
    recipe = {**directory.recipe, "base_url": str(directory.recipe["base_url"]).replace("{{port}}", str(port))}
    (folder / f"{recipe['name']}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return str(recipe["name"])


def score_directory(directory: ListingDirectory, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the records of one directory's job got right and wrong."""
    truth = {x.name: x for x in directory.listings}
    forbidden = {x.name for x in directory.forbidden}
    names = [str(r.get("company_name")) for r in records]
    found = [n for n in names if n in truth]
    phones_found = sum(
        1
        for r in records
        if r.get("company_name") in truth and truth[str(r["company_name"])].phone in r.get("phones", [])
    )
    all_phones = {x.phone: x.name for x in [*directory.listings, *directory.forbidden]}
    mixed = [
        r["company_name"]
        for r in records  # a lead holding a phone or e-mail of another listing
        if any(all_phones.get(p, r.get("company_name")) != r.get("company_name") for p in r.get("phones", []))
        or any(
            e not in truth.get(str(r.get("company_name")), directory.listings[0]).own_emails
            for e in r.get("emails", [])
            if directory.follow_website
        )
    ]
    return {
        "listing_recall": len(set(found)) / len(truth) if truth else 1.0,
        "phone_recall": phones_found / len(truth) if truth else 1.0,
        "precision": len(found) / len(names) if names else 1.0,
        "forbidden_collected": sorted(set(names) & forbidden),
        "mixed_leads": mixed,
        "duplicates": len(names) - len(set(names)),
    }


async def test_every_listing_mode_with_the_default_render(
    settings: Settings,
    db: Database,
    tmp_path: Path,
    browser_mark: str,
    listing_world: ListingWorld,
    listing_server: WorldServer,
) -> None:
    assert {d.mode for d in listing_world.directories} == set(MODES)
    cfg = settings.model_copy(
        update={"resolve": listing_world.resolve_override(), "recipes_dir": tmp_path, "render_settle": 1.0}
    )
    jobs: dict[str, ScrapeJob] = {}
    for directory in listing_world.directories:
        name = write_recipe(tmp_path, directory, listing_server.port)
        jobs[directory.mode] = ScrapeJob(
            job_id=uuid.uuid4(),
            source_types=[f"directory:{name}"],
            search_query=directory.query,
            geography=directory.geography,
            max_pages=20,
        )
    assert all(job.render == "auto" for job in jobs.values())  # the default
    await support.publish(cfg, db, list(jobs.values()))
    await support.run_until_idle(cfg, idle=2.0, timeout=240)

    report = {}
    for directory in listing_world.directories:
        job = jobs[directory.mode]
        row = await jobstore.get_job(db, job.job_id)
        assert row is not None and row["status"] == "completed", (directory.mode, dict(row or {}))
        records = [lead["record"] for lead in await job_leads(db, job.job_id)]
        report[directory.mode] = score_directory(directory, records)  # type: ignore[arg-type]
    failures = {
        mode: r
        for mode, r in report.items()
        if r["listing_recall"] < RECALL_BAR
        or r["phone_recall"] < RECALL_BAR
        or r["precision"] < PRECISION_BAR
        or r["forbidden_collected"]
        or r["mixed_leads"]
        or r["duplicates"]
    }
    assert not failures, "\n".join(f"{m}: {r}" for m, r in failures.items())
    assert listing_server.hits.get(("robots-api-listings.test", "/api/private/more.json")) is None
    assert chromium_processes(browser_mark) == []


async def test_phones_no_region_can_read_are_counted_on_the_job(
    settings: Settings, db: Database, tmp_path: Path, scripted_site: support.ScriptedSite
) -> None:
    """Cards whose phones are national and whose place nothing names (no country, no town, a geography that is
    no place): the phones are kept as written and the job counts them in ``invalid_phones`` once enriched."""
    cards = [("Ohne Ort GmbH", "030 1234567"), ("Nirgendwo KG", "089 7654321"), ("Irgendwer e.K.", "040 555666")]
    scripted_site.page(
        "/search/painters",
        "".join(
            f'<article class="card"><h2 class="name">{n}</h2><span class="phone">{p}</span>'
            '<span class="addr">Hauptstraße 5</span></article>'
            for n, p in cards
        ),
    )
    recipe = {
        "name": "no-place",
        "search_url": scripted_site.url("nowhere-listings.test", "/search/{query}"),
        "results": "article.card",
        "fields": {"company_name": ".name", "phones": ".phone", "address": ".addr"},
    }
    (tmp_path / "no-place.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    cfg = settings.model_copy(update={"resolve": {"nowhere-listings.test": "127.0.0.1"}, "recipes_dir": tmp_path})
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["directory:no-place"],
        search_query="painters",
        geography="Qwzxv",
        render="static",
    )
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ("scrape", "normalize", "score"), idle=1.5, timeout=120)

    row = await jobstore.get_job(db, job.job_id)
    assert row is not None and row["status"] == "completed"
    assert row["invalid_phones"] == len(cards), dict(row)
    records = {lead["record"]["company_name"]: lead["record"] for lead in await job_leads(db, job.job_id)}
    for name, phone in cards:  # kept as the card wrote it, for the normalize stage to judge
        assert records[name]["phones"] == [phone]  # type: ignore[index]
