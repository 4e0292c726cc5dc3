"""The scrape_jobs consumer end to end, against the real RabbitMQ, PostgreSQL and the sample sites."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika

import support
from leadworker.broker.publisher import ATTEMPT_HEADER, ERROR_KIND_HEADER, ORIGINAL_QUEUE_HEADER, REASON_HEADER
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.demo.server import SiteServer
from leadworker.stages.scrape import worker_id
from leadworker.store import jobs as jobstore
from leadworker.store.pool import Database


def website_job(site: SiteServer, host: str, **extra: object) -> ScrapeJob:
    return ScrapeJob.model_validate({"job_id": uuid.uuid4(), "targets": [site.url(host)], "max_pages": 10, **extra})


async def job_row(db: Database, job: ScrapeJob) -> dict[str, object]:
    row = await jobstore.get_job(db, job.job_id)
    assert row is not None, f"no row for {job.job_id}"
    return dict(row)


async def linked_ids(db: Database, job: ScrapeJob) -> set[int]:
    rows = await db.fetch("SELECT raw_lead_id FROM scrape_job_leads WHERE job_id = $1", job.job_id)
    return {r["raw_lead_id"] for r in rows}


async def test_publish_consume_complete_with_counts(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    job = website_job(demo_site, "acme-plumbing.test")
    await support.publish(settings, db, [job])
    assert (await job_row(db, job))["status"] == "queued"

    await support.run_until_idle(settings)

    row = await job_row(db, job)
    assert row["status"] == "completed", row
    assert row["attempts"] == 1
    assert row["found"] == 1 and row["new"] == 1 and row["duplicates"] == 0
    assert row["pages"] == 4  # home, contact, about, services; /private/ is disallowed by robots.txt
    leads = await db.fetch(
        "SELECT r.record FROM raw_leads r JOIN scrape_job_leads l ON l.raw_lead_id = r.id WHERE l.job_id = $1",
        job.job_id,
    )
    record = leads[0]["record"]
    assert record["company_name"] == "Acme Plumbing & Heating"
    assert set(record["emails"]) == {
        "office@acme-plumbing.test",
        "billing@acme-plumbing.test",
        "maria.lopez@acme-plumbing.test",
    }
    assert "do-not-collect@acme-plumbing.test" not in record["emails"]  # robots-disallowed decoy
    assert set(record["phones"]) == {"+15035550142", "+15035550199"}
    assert record["evidence"]["office@acme-plumbing.test"].endswith("/contact")
    events = [(e["from_status"], e["to_status"]) for e in await jobstore.job_events(db, job.job_id)]
    assert events == [(None, "queued"), ("queued", "running"), ("running", "completed")]
    # Nothing consumed leads.normalize: the enrichment waits in the database, not in the broker.
    depths = await support.all_depths(settings)
    assert all(depth == 0 for depth in depths.values()), depths
    deferred = "SELECT fanout_deferred, enriched_at FROM scrape_jobs WHERE id = $1"
    assert dict(await db.fetchrow(deferred, job.job_id)) == {"fanout_deferred": True, "enriched_at": None}
    shown = await asyncio.to_thread(support.run_cli, settings, "jobs", "show", str(job.job_id))
    assert (
        shown.returncode == 0 and "waiting in the database for a worker that runs the normalize stage" in shown.stdout
    ), shown.stdout + shown.stderr

    # A normalize worker starting publishes what was deferred, and the job's leads are enriched.
    await support.run_until_idle(settings, ("normalize", "score"), idle=0.6)
    row = dict(await db.fetchrow(deferred, job.job_id))
    assert row["fanout_deferred"] is False and row["enriched_at"] is not None, row
    assert await db.fetchval("SELECT count(*) FROM lead_scores WHERE job_id = $1", job.job_id) == 1
    depths = await support.all_depths(settings)
    assert all(depth == 0 for depth in depths.values()), depths


async def test_second_job_on_same_site_is_all_duplicates(
    settings: Settings, db: Database, demo_site: SiteServer
) -> None:
    first = website_job(demo_site, "nordlicht-solar.test")
    second = website_job(demo_site, "nordlicht-solar.test")
    inline = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        leads=[
            LeadRecord(company_name="Kiel Bikes", emails=["hello@kielbikes.de"]),
            LeadRecord(company_name="Kiel Bikes", emails=["HELLO@kielbikes.de "]),  # same identity: stored once
        ],
    )
    await support.publish(settings, db, [first])
    await support.run_until_idle(settings)
    await support.publish(settings, db, [second, inline])
    await support.run_until_idle(settings)

    one, two = await job_row(db, first), await job_row(db, second)
    assert (one["status"], one["new"], one["duplicates"]) == ("completed", 1, 0)
    assert (two["status"], two["new"], two["duplicates"]) == ("completed", 0, 1)
    assert await linked_ids(db, first) == await linked_ids(db, second) != set()
    row = await job_row(db, inline)
    assert (row["found"], row["new"]) == (1, 1)
    count = await db.fetchval(
        "SELECT count(*) FROM raw_leads WHERE record->>'company_name' IN ('Nordlicht Solar GmbH', 'Kiel Bikes')"
    )
    assert count == 2


async def test_poison_messages_are_dead_lettered_and_worker_goes_on(
    settings: Settings, db: Database, demo_site: SiteServer
) -> None:
    topology = Topology.from_settings(settings)
    queue = topology.work_queue("scrape")
    bad_field_id = uuid.uuid4()
    await support.publish_raw(settings, queue, b"{not json", message_id="m-1")
    await support.publish_raw(
        settings,
        queue,
        json.dumps({"job_id": str(bad_field_id), "targets": ["ftp://acme.test/"], "max_pages": 0}).encode(),
        message_id=str(bad_field_id),
    )
    good = website_job(demo_site, "brightsmile-dental.test")
    await support.publish(settings, db, [good])

    await support.run_until_idle(settings)

    assert (await job_row(db, good))["status"] == "completed"
    dead = await support.queue_messages(settings, topology.dead_queue(queue))
    reasons = {m.message_id: m.headers for m in dead}
    assert set(reasons) == {"m-1", str(bad_field_id)}
    assert "not JSON" in str(reasons["m-1"][REASON_HEADER])
    invalid_reason = str(reasons[str(bad_field_id)][REASON_HEADER])
    assert "targets.0" in invalid_reason and "http" in invalid_reason
    assert "max_pages" in invalid_reason and "greater than or equal to 1" in invalid_reason
    assert reasons[str(bad_field_id)][ORIGINAL_QUEUE_HEADER] == queue
    failed = await db.fetchrow("SELECT status, error_kind, error FROM scrape_jobs WHERE id = $1", bad_field_id)
    assert failed is not None and failed["status"] == "failed" and failed["error_kind"] == "invalid_message"
    assert "max_pages" in failed["error"]
    assert await support.queue_depth(settings, queue) == 0


async def test_transient_failures_retry_through_the_tiers(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite
) -> None:
    scripted_site.page(
        "/", "<html><body>Flaky Ltd · flaky@flaky.test · +44 20 7946 0000</body></html>", statuses=[503, 503]
    )
    cfg = settings.model_copy(update={"resolve": {"flaky.test": "127.0.0.1"}})
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("flaky.test")], max_pages=1)
    await support.publish(cfg, db, [job])

    await support.run_until_idle(cfg, idle=1.5)

    row = await job_row(db, job)
    assert row["status"] == "completed", row
    assert row["attempts"] == 3 and row["found"] == 1
    assert scripted_site.hits["/"] == 3
    path = [e["to_status"] for e in await jobstore.job_events(db, job.job_id)]
    assert path == ["queued", "running", "retrying", "running", "retrying", "running", "completed"]


async def test_target_that_always_fails_exhausts_attempts(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite
) -> None:
    scripted_site.page("/", "never", statuses=[500] * 50)
    cfg = settings.model_copy(update={"resolve": {"broken.test": "127.0.0.1"}})
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("broken.test")], max_pages=1)
    await support.publish(cfg, db, [job])

    await support.run_until_idle(cfg, idle=1.5)

    row = await job_row(db, job)
    assert row["status"] == "failed" and row["error_kind"] == "attempts_exhausted", row
    assert row["attempts"] == cfg.max_attempts == scripted_site.hits["/"]
    assert "HTTP 500" in str(row["error"])
    topology = Topology.from_settings(cfg)
    dead = await support.queue_messages(cfg, topology.dead_queue(topology.work_queue("scrape")))
    assert [m.message_id for m in dead] == [str(job.job_id)]
    assert dead[0].headers[ATTEMPT_HEADER] == cfg.max_attempts
    assert dead[0].headers[ERROR_KIND_HEADER] == "attempts_exhausted"


async def test_cancel_before_consume_skips_the_job(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    job = website_job(demo_site, "acme-plumbing.test")
    await support.publish(settings, db, [job])
    assert await jobstore.cancel_job(db, job.job_id) == (True, jobstore.JobStatus.CANCELLED)

    await support.run_until_idle(settings)

    row = await job_row(db, job)
    assert row["status"] == "cancelled" and row["attempts"] == 0 and row["pages"] == 0
    assert not await linked_ids(db, job)
    assert await support.queue_depth(settings, Topology.from_settings(settings).work_queue("scrape")) == 0


async def test_redelivered_running_job_is_taken_over(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    """A worker claims the job and dies (its channel closes without an ack); the next worker takes it over."""
    job = website_job(demo_site, "brightsmile-dental.test")
    await support.publish(settings, db, [job])
    topology = Topology.from_settings(settings)

    connection = await aio_pika.connect(settings.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(topology.work_queue("scrape"), passive=True)
    message = await queue.get(no_ack=False)
    assert message is not None
    claim = await jobstore.claim_job(db, job, "dead-host:1")
    assert claim.acquired and claim.attempt == 1
    await connection.close()  # the "crash": the unacked delivery goes back to the queue

    await support.run_until_idle(settings)

    row = await job_row(db, job)
    assert row["status"] == "completed" and row["attempts"] == 2
    assert row["worker"] == worker_id()
    events = [(e["from_status"], e["to_status"], e["worker"]) for e in await jobstore.job_events(db, job.job_id)]
    assert events[1:] == [
        ("queued", "running", "dead-host:1"),
        ("running", "running", worker_id()),
        ("running", "completed", worker_id()),
    ]


async def test_completed_job_redelivered_is_acked_without_redoing(
    settings: Settings, db: Database, demo_site: SiteServer
) -> None:
    job = website_job(demo_site, "acme-plumbing.test")
    await support.publish(settings, db, [job])
    await support.run_until_idle(settings)
    before = await job_row(db, job)
    await support.publish(settings, db, [job])  # the same message again (a producer retry)
    await support.run_until_idle(settings)
    after = await job_row(db, job)
    assert after["status"] == "completed" and after["attempts"] == before["attempts"] == 1
    assert after["completed_at"] == before["completed_at"]


async def test_prefetch_bounds_deliveries_in_flight(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite
) -> None:
    scripted_site.page("/", "<html><body>slow@slow.test</body></html>", delay=0.3)
    cfg = settings.model_copy(update={"resolve": {"slow.test": "127.0.0.1"}, "prefetch": 3})
    jobs = [ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("slow.test")], max_pages=1) for _ in range(9)]
    await support.publish(cfg, db, jobs)
    peak = 0
    async with support.running_worker(cfg) as worker:

        async def sample() -> bool:
            nonlocal peak
            peak = max(peak, worker.in_flight)
            done = await db.fetchval(
                "SELECT count(*) FROM scrape_jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'",
                [j.job_id for j in jobs],
            )
            return bool(done == len(jobs))

        await support.wait_for(sample, timeout=30, interval=0.02, what="all jobs completed")
    assert peak == 3


async def test_sigterm_lets_the_job_in_flight_finish(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite
) -> None:
    scripted_site.page("/", '<html><body><a href="/contact">c</a></body></html>', delay=1.0)
    scripted_site.page("/contact", "<html><body>slowpoke@slowpoke.test</body></html>", delay=1.0)
    cfg = settings.model_copy(update={"resolve": {"slowpoke.test": "127.0.0.1"}})
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("slowpoke.test")], max_pages=2)
    await support.publish(cfg, db, [job])

    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("run", "--stage", "scrape"),
        env=support.cli_env(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await support.wait_for(lambda: scripted_site.hits.get("/", 0) >= 1, timeout=30, what="crawl started")
    process.terminate()  # SIGTERM while the job is in flight
    _, stderr = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0, stderr.decode()
    row = await job_row(db, job)
    assert row["status"] == "completed" and row["found"] == 1, row
    assert await support.queue_depth(cfg, Topology.from_settings(cfg).work_queue("scrape")) == 0
    logs = support.json_lines(stderr.decode())
    assert any(line.get("event") == "stopping" for line in logs)
    assert any(line.get("event") == "job completed" for line in logs)


async def test_completions_batched_together_attribute_new_leads_once(settings: Settings, db: Database) -> None:
    """Many inline jobs completing in the same statements, sharing leads: every lead stored once, "new" for
    exactly one job, linked to every job that found it; a job delivered twice completes once."""
    shared = [LeadRecord(company_name=f"Shared {i}", emails=[f"s{i}@shared.test"]) for i in range(5)]
    jobs = [
        ScrapeJob(
            job_id=uuid.uuid4(),
            source_types=["inline"],
            leads=[
                shared[n % 5],
                shared[(n + 1) % 5],
                LeadRecord(company_name=f"Own {n}", emails=[f"own{n}@own.test"]),
            ],
        )
        for n in range(60)
    ]
    cfg = settings.model_copy(update={"prefetch": 60})
    await support.publish(cfg, db, jobs)
    await support.publish(cfg, db, jobs[:10])  # duplicates of ten messages, possibly in the same batch
    await support.run_until_idle(cfg)
    rows = await db.fetch("SELECT status, found, new, duplicates FROM scrape_jobs")
    assert {r["status"] for r in rows} == {"completed"} and len(rows) == 60
    assert sum(r["new"] for r in rows) == 5 + 60
    assert sum(r["found"] for r in rows) == 180
    assert await db.fetchval("SELECT count(*) FROM raw_leads") == 65
    assert await db.fetchval("SELECT count(*) FROM scrape_job_leads") == 180
    assert await db.fetchval("SELECT count(*) FROM scrape_job_leads WHERE is_new") == 65
    completions = await db.fetchval("SELECT count(*) FROM job_events WHERE to_status = 'completed'")
    assert completions == 60
