"""Enrichment end to end: publish → scraped → normalized, merged, scored → signed webhooks, on the real services."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest

import support
from enrich_support import WEBHOOK_SECRET, WebhookReceiver
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.demo.server import SiteServer
from leadworker.store.pool import Database
from leadworker.worker import AVAILABLE_STAGES

ALL = tuple(AVAILABLE_STAGES)

# The pipeline, the merge of one company found three ways and redelivery also run through PgBouncer in
# transaction mode (marker pgbouncer): the statements every stage issues, and exactly-once effects, through it.


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    runner = support.ThreadedServer(WebhookReceiver())
    server: WebhookReceiver = runner.start()
    try:
        yield server
    finally:
        runner.stop()


def hooked(settings: Settings, receiver: WebhookReceiver) -> Settings:
    return settings.model_copy(update={"webhook_url": receiver.url, "webhook_secret": WEBHOOK_SECRET})


def site_job(site: SiteServer, host: str, **extra: object) -> ScrapeJob:
    return ScrapeJob.model_validate({"job_id": uuid.uuid4(), "targets": [site.url(host)], "max_pages": 10, **extra})


@pytest.mark.pgbouncer
async def test_publish_to_scored_leads_and_verified_webhooks(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    cfg = hooked(settings, receiver)
    plumbing = site_job(
        demo_site, "acme-plumbing.test", geography="Portland, US", industry="plumbing", keywords=["boiler", "heating"]
    )
    dental = site_job(demo_site, "brightsmile-dental.test", geography="London, United Kingdom")
    await support.publish(cfg, db, [plumbing, dental])

    await support.run_until_idle(cfg, ALL, idle=1.0)

    for job in (plumbing, dental):
        row = await db.fetchrow(
            "SELECT status, found, normalized, scored, enriched_at FROM scrape_jobs WHERE id = $1", job.job_id
        )
        assert row is not None and row["status"] == "completed", row
        assert row["normalized"] == row["scored"] == row["found"] == 1, dict(row)
        assert row["enriched_at"] is not None
        assert receiver.events_of(job.job_id) == ["job.completed", "job.enriched"]
    assert all(w.signature_valid for w in receiver.received)
    lead = await db.fetchrow(
        """SELECT l.* FROM leads l JOIN lead_sources s ON s.lead_id = l.id JOIN scrape_job_leads j
             ON j.raw_lead_id = s.raw_lead_id WHERE j.job_id = $1""",
        plumbing.job_id,
    )
    assert lead is not None
    assert lead["domain"] == "acme-plumbing.test"
    assert set(lead["phones"]) == {"+15035550142", "+15035550199"}
    assert lead["segment"] in ("hot", "warm", "cold") and 0 <= lead["score"] <= 100
    assert set(lead["score_components"]) == {
        "completeness",
        "keywords",
        "industry",
        "geography",
        "contact_quality",
        "source_quality",
    }
    enriched = next(w for w in receiver.delivered(plumbing.job_id) if w.event == "job.enriched")
    assert enriched.body["leads"]["total"] == 1
    assert enriched.body["job"]["enriched_at"] is not None


async def live_leads(db: Database, job: ScrapeJob) -> list[dict[str, object]]:
    rows = await db.fetch(
        """SELECT DISTINCT l.* FROM leads l JOIN lead_sources s ON s.lead_id = l.id
             JOIN scrape_job_leads j ON j.raw_lead_id = s.raw_lead_id WHERE j.job_id = $1 ORDER BY l.id""",
        job.job_id,
    )
    return [dict(r) for r in rows]


@pytest.mark.pgbouncer
async def test_same_company_from_two_jobs_and_a_directory_is_one_lead(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    """The acceptance scenario: every company on its own site and in a directory (inline records play the
    directory's role, published first so that merging has to bridge leads made without a website)."""
    cfg = hooked(settings, receiver)
    directory = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        geography="Germany",
        leads=[
            LeadRecord(
                company_name="NORDLICHT SOLAR GMBH",
                phones=["040 30 70 80 90"],
                city="Hamburg",
                categories=["Solaranlagen"],
                source_url="https://yellow.test/hamburg/nordlicht",
            ),
            LeadRecord(
                company_name="Acme Plumbing & Heating",
                website="acme-plumbing.test",
                phones=["+1 503-555-0100", "123"],
                source_url="https://yellow.test/portland/acme",
            ),
            LeadRecord(
                company_name="Acme Plumbing",
                emails=["Office@Acme-Plumbing.test"],
                source_url="https://yellow.test/portland/acme-2",
            ),
        ],
    )
    await support.publish(cfg, db, [directory])
    await support.run_until_idle(cfg, ALL, idle=0.5)
    assert await db.fetchval("SELECT count(*) FROM leads WHERE merged_into IS NULL") == 3  # not merged yet

    first = site_job(demo_site, "acme-plumbing.test", geography="Portland, US")
    first = first.model_copy(update={"targets": [*first.targets, demo_site.url("nordlicht-solar.test")]})
    second = site_job(demo_site, "nordlicht-solar.test", geography="Hamburg, Germany", industry="solar")
    await support.publish(cfg, db, [first, second])
    await support.run_until_idle(cfg, ALL, idle=1.0)

    live = await db.fetch("SELECT * FROM leads WHERE merged_into IS NULL ORDER BY id")
    assert len(live) == 2, [dict(r) for r in live]
    by_domain = {r["domain"]: r for r in live}
    acme, solar = by_domain["acme-plumbing.test"], by_domain["nordlicht-solar.test"]
    assert set(acme["phones"]) == {"+15035550142", "+15035550199", "+15035550100"}
    assert set(acme["emails"]) == {
        "office@acme-plumbing.test",
        "billing@acme-plumbing.test",
        "maria.lopez@acme-plumbing.test",
    }
    assert set(solar["phones"]) == {"+494030708090", "+494030708099"}
    assert set(solar["emails"]) == {"info@nordlicht-solar.test", "vertrieb@nordlicht-solar.test"}
    assert solar["company_name"] == "Nordlicht Solar GmbH" and solar["legal_form"] == "GmbH"
    assert solar["categories"] == ["Solaranlagen"]
    assert await db.fetchval("SELECT count(*) FROM leads WHERE merged_into = $1", acme["id"]) == 1  # the e-mail one
    # every raw lead is linked, once; the invalid directory phone was counted, not kept
    assert (
        await db.fetchval("SELECT count(*) FROM raw_leads")
        == await db.fetchval("SELECT count(*) FROM lead_sources")
        == 5
    )
    row = await db.fetchrow("SELECT invalid_phones, scored, found FROM scrape_jobs WHERE id = $1", directory.job_id)
    assert row is not None and row["invalid_phones"] == 1 and row["scored"] == row["found"] == 3
    # provenance: a scraped e-mail names the page it was on, a directory value its listing
    office = await db.fetch(
        "SELECT raw_lead_id, source_url FROM lead_values WHERE lead_id = $1 AND field = 'email' "
        "AND value = 'office@acme-plumbing.test' ORDER BY id",
        acme["id"],
    )
    urls = {r["source_url"] for r in office}
    assert "https://yellow.test/portland/acme-2" in urls and any(u.endswith("/contact") for u in urls)
    # every job enriched, every lead scored for each job that found it, one webhook per event, all signed
    for job in (directory, first, second):
        enriched = await db.fetchval("SELECT enriched_at FROM scrape_jobs WHERE id = $1", job.job_id)
        assert enriched is not None, job.job_id
        assert receiver.events_of(job.job_id) == ["job.completed", "job.enriched"]
        for lead in await live_leads(db, job):
            assert await db.fetchval(
                "SELECT segment FROM lead_scores WHERE lead_id = $1 AND job_id = $2", lead["id"], job.job_id
            ) in ("hot", "warm", "cold")
    assert len(receiver.received) == 6 and all(w.signature_valid for w in receiver.received)
    second_scores = await db.fetchval(
        "SELECT components FROM lead_scores WHERE lead_id = $1 AND job_id = $2", solar["id"], second.job_id
    )
    assert second_scores["industry"]["value"] == 1.0 and second_scores["geography"]["value"] == 1.0


async def test_duplicates_enriched_long_ago_still_enrich_the_new_job(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    cfg = hooked(settings, receiver)
    old = site_job(demo_site, "brightsmile-dental.test")
    await support.publish(cfg, db, [old])
    await support.run_until_idle(cfg, ALL, idle=0.5)
    before = await db.fetchrow(
        "SELECT r.id, r.normalized_at, l.id AS lead_id, l.revision FROM raw_leads r "
        "JOIN lead_sources s ON s.raw_lead_id = r.id JOIN leads l ON l.id = s.lead_id"
    )
    assert before is not None

    new = site_job(demo_site, "brightsmile-dental.test", keywords=["implants"], geography="London, UK")
    await support.publish(cfg, db, [new])
    await support.run_until_idle(cfg, ALL, idle=0.5)

    row = await db.fetchrow(
        "SELECT new, duplicates, normalized, scored, enriched_at FROM scrape_jobs WHERE id = $1", new.job_id
    )
    assert row is not None and (row["new"], row["duplicates"]) == (0, 1)
    assert (row["normalized"], row["scored"]) == (1, 1) and row["enriched_at"] is not None
    after = await db.fetchrow(
        "SELECT r.normalized_at, l.revision FROM raw_leads r JOIN lead_sources s "
        "ON s.raw_lead_id = r.id JOIN leads l ON l.id = s.lead_id WHERE r.id = $1",
        before["id"],
    )
    assert after is not None and after["normalized_at"] == before["normalized_at"]  # not normalized twice
    assert after["revision"] == before["revision"]  # nor merged twice
    jobs_scored = await db.fetch("SELECT job_id FROM lead_scores WHERE lead_id = $1", before["lead_id"])
    assert {r["job_id"] for r in jobs_scored} == {old.job_id, new.job_id}
    assert receiver.events_of(new.job_id) == ["job.completed", "job.enriched"]


@pytest.mark.pgbouncer
async def test_redelivered_messages_send_nothing_twice(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    from leadworker.broker.topology import Topology
    from leadworker.contracts import JobEvent, NormalizeBatch, ScoreBatch

    cfg = hooked(settings, receiver)
    job = site_job(demo_site, "acme-plumbing.test", keywords=["boiler"])
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ALL, idle=0.5)
    assert receiver.events_of(job.job_id) == ["job.completed", "job.enriched"]
    state = "SELECT lead_id, job_id, scored_at FROM lead_scores ORDER BY 1, 2"
    scores_before = [dict(r) for r in await db.fetch(state)]
    log_before = [dict(r) for r in await db.fetch("SELECT * FROM webhook_deliveries ORDER BY event_id")]
    raw_ids = [r["raw_lead_id"] for r in await db.fetch("SELECT raw_lead_id FROM scrape_job_leads")]
    lead_ids = [r["id"] for r in await db.fetch("SELECT id FROM leads")]

    topology = Topology.from_settings(cfg)
    await support.publish(cfg, db, [job])  # the job message again (a producer retry, a crash before its ack)
    for queue, body in [
        ("normalize", NormalizeBatch.of(job.job_id, raw_ids)),
        ("score", ScoreBatch(job_id=job.job_id, lead_ids=lead_ids)),
        *[("notify", JobEvent(event_id=d["event_id"], event=d["event"], job_id=job.job_id)) for d in log_before],
    ]:
        await support.publish_raw(cfg, topology.work_queue(queue), body.model_dump_json().encode())
    await support.run_until_idle(cfg, ALL, idle=0.5)

    assert len(receiver.received) == 2
    assert [dict(r) for r in await db.fetch(state)] == scores_before
    assert [dict(r) for r in await db.fetch("SELECT * FROM webhook_deliveries ORDER BY event_id")] == log_before


async def test_events_lost_before_their_publish_are_sent_when_the_job_message_returns(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    from leadworker.broker.topology import Topology

    cfg = hooked(settings, receiver)
    job = site_job(demo_site, "nordlicht-solar.test")
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ("scrape", "normalize", "score"), idle=0.5)
    topology = Topology.from_settings(cfg)
    notify_queue = topology.work_queue("notify")
    assert await support.queue_depth(cfg, notify_queue) == 2  # job.completed, job.enriched
    await _purge(cfg, notify_queue)  # as if the worker had died between its commit and its publish

    await support.publish(cfg, db, [job])  # the job message comes back
    await support.run_until_idle(cfg, ALL, idle=0.5)
    assert receiver.events_of(job.job_id) == ["job.completed", "job.enriched"]


async def _purge(settings: Settings, queue: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        await q.purge()
    finally:
        await connection.close()


async def test_webhook_retries_through_the_tiers_and_gives_up_on_a_4xx(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    from leadworker.broker.topology import Topology

    gone = support.ThreadedServer(WebhookReceiver())
    gone_receiver: WebhookReceiver = gone.start()
    try:
        gone_receiver.script = [410] * 10
        receiver.script = [500, 503]
        cfg = hooked(settings, receiver).model_copy(update={"enrich": False})
        flaky = site_job(demo_site, "acme-plumbing.test")
        refused = site_job(demo_site, "brightsmile-dental.test", webhook_url=gone_receiver.url)  # the job's own URL
        await support.publish(cfg, db, [flaky])
        await support.run_until_idle(cfg, ALL, idle=1.5)
        await support.publish(cfg, db, [refused])
        await support.run_until_idle(cfg, ALL, idle=1.5)
    finally:
        gone.stop()

    assert [w.status for w in receiver.received] == [500, 503, 200]
    assert [w.attempt for w in receiver.received] == [1, 2, 3]
    assert len({w.event_id for w in receiver.received}) == 1 and all(w.signature_valid for w in receiver.received)
    delivered = await db.fetchrow("SELECT * FROM webhook_deliveries WHERE job_id = $1", flaky.job_id)
    assert delivered is not None and (delivered["status"], delivered["attempts"]) == ("delivered", 3)
    attempts = await db.fetch(
        "SELECT status_code FROM webhook_attempts WHERE event_id = $1 ORDER BY attempt", delivered["event_id"]
    )
    assert [a["status_code"] for a in attempts] == [500, 503, 200]

    assert [w.status for w in gone_receiver.received] == [410]
    dead = await db.fetchrow("SELECT * FROM webhook_deliveries WHERE job_id = $1", refused.job_id)
    assert dead is not None and dead["status"] == "dead" and "HTTP 410" in dead["last_error"]
    assert dead["url"] == gone_receiver.url
    assert await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", refused.job_id) == "completed"
    topology = Topology.from_settings(cfg)
    parked = await support.queue_messages(cfg, topology.dead_queue(topology.work_queue("notify")))
    assert [m.message_id for m in parked] == [dead["event_id"]]


async def test_no_webhook_url_means_nothing_published(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    from leadworker.broker.topology import Topology

    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        leads=[
            LeadRecord(company_name="Useful Ltd", phones=["+44 20 7946 0001"]),
            LeadRecord(emails=["no-at-sign"], phones=["12"]),  # nothing usable: rejected, yet the job is enriched
        ],
    )
    await support.publish(settings, db, [job])
    await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.5)
    row = await db.fetchrow("SELECT * FROM scrape_jobs WHERE id = $1", job.job_id)
    assert row is not None and row["enriched_at"] is not None
    assert (row["found"], row["normalized"], row["scored"]) == (2, 2, 1)
    assert (row["invalid_emails"], row["invalid_phones"]) == (1, 1)
    rejected = await db.fetchval("SELECT normalization FROM raw_leads WHERE record->'emails' ? 'no-at-sign'")
    assert "no company name" in rejected["unusable"] and rejected["rejected"][0]["value"] == "no-at-sign"
    topology = Topology.from_settings(settings)
    assert await support.queue_depth(settings, topology.work_queue("notify")) == 0
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


async def test_failed_and_cancelled_jobs_notify(
    settings: Settings,
    db: Database,
    receiver: WebhookReceiver,
    scripted_site: support.ScriptedSite,
    demo_site: SiteServer,
) -> None:
    scripted_site.page("/", "never", statuses=[500] * 50)
    cfg = hooked(settings, receiver).model_copy(update={"resolve": {"broken.test": "127.0.0.1"}})
    failing = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("broken.test")], max_pages=1)
    cancelled = site_job(demo_site, "acme-plumbing.test")
    await support.publish(cfg, db, [failing, cancelled])
    result = await asyncio.to_thread(
        support.run_cli,
        cfg,
        "jobs",
        "cancel",
        str(cancelled.job_id),
        LEADWORKER_WEBHOOK_URL=receiver.url,
        LEADWORKER_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    assert result.returncode == 0, result.stderr

    await support.run_until_idle(cfg, ALL, idle=1.5)

    assert receiver.events_of(failing.job_id) == ["job.failed"]
    failed = next(w for w in receiver.delivered(failing.job_id))
    assert failed.body["job"]["status"] == "failed" and failed.body["job"]["error_kind"] == "attempts_exhausted"
    assert receiver.events_of(cancelled.job_id) == ["job.cancelled"]
    assert all(w.signature_valid for w in receiver.received)
    shown = await asyncio.to_thread(support.run_cli, cfg, "jobs", "show", str(failing.job_id), "--json")
    hooks = json.loads(shown.stdout)["webhooks"]
    assert [(h["event"], h["status"], h["attempts"]) for h in hooks] == [("job.failed", "delivered", 1)]


@pytest.mark.parametrize(
    "spelling", ["127.0.0.1", "１２７.０.０.１", "127。0。0。1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"]
)
async def test_a_jobs_own_webhook_url_must_pass_the_network_guard(
    settings: Settings, db: Database, receiver: WebhookReceiver, spelling: str
) -> None:
    cfg = settings.model_copy(update={"allow_private_networks": False, "webhook_secret": WEBHOOK_SECRET})
    hook = receiver.url.replace("127.0.0.1", spelling)
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        webhook_url=hook,
        leads=[LeadRecord(company_name="Sneaky Ltd", emails=["ceo@sneaky.test"])],
    )
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ALL, idle=0.5)

    assert receiver.received == []  # 127.0.0.1 is not a public address: never contacted, however it is spelled
    rows = await db.fetch("SELECT event, status, last_error FROM webhook_deliveries ORDER BY event")
    assert [(r["event"], r["status"]) for r in rows] == [("job.completed", "dead"), ("job.enriched", "dead")]
    assert all(
        any(why in r["last_error"] for why in ("not a public address", "numeric spelling", "read by HTTP"))
        for r in rows
    ), [r["last_error"] for r in rows]
