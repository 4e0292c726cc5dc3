"""A missing browser is loud (issue #11): the worker warns once at start, a job counts the pages it could not
render (row, ``jobs show``, metric, ``job.completed`` webhook), and ``leadworker doctor`` names what is missing.

No Chromium is simulated as an operator would get it: ``LEADWORKER_BROWSER_EXECUTABLE`` names no executable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

import support
from enrich_support import WEBHOOK_SECRET, WebhookReceiver
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.demo.server import SiteServer
from leadworker.store import jobs as jobstore
from leadworker.store.pool import Database

NO_BROWSER = "/nonexistent/chromium-headless-shell"


def script_site_job(site: SiteServer) -> ScrapeJob:
    # BrightSmile's contact page writes its booking address with script: render=auto must render it.
    return ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("brightsmile-dental.test")], max_pages=10, render="auto")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    runner = support.ThreadedServer(WebhookReceiver())
    server: WebhookReceiver = runner.start()
    try:
        yield server
    finally:
        runner.stop()


async def test_a_job_counts_the_pages_it_could_not_render(
    settings: Settings, db: Database, demo_site: SiteServer, receiver: WebhookReceiver
) -> None:
    cfg = settings.model_copy(
        update={
            "browser_executable": NO_BROWSER,
            "webhook_url": receiver.url,
            "webhook_secret": WEBHOOK_SECRET,
            "enrich": False,
        }
    )
    job = script_site_job(demo_site)
    await support.publish(cfg, db, [job])

    worker = await support.run_until_idle(cfg, ("scrape", "notify"), idle=0.8)

    row = await jobstore.get_job(db, job.job_id)
    assert row is not None and row["status"] == "completed", dict(row or {})  # what static gave is kept
    assert row["pages_degraded"] >= 1
    assert (
        worker.metrics.registry.get_sample_value("leadworker_pages_degraded_total", {"kind": "browser_unavailable"})
        == row["pages_degraded"]
    )
    [completed] = [w for w in receiver.delivered(job.job_id) if w.event == "job.completed"]
    assert completed.body["job"]["pages_degraded"] == row["pages_degraded"]


@pytest.mark.browser
async def test_with_a_browser_nothing_is_degraded(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    job = script_site_job(demo_site)
    await support.publish(settings, db, [job])

    await support.run_until_idle(settings)

    row = await jobstore.get_job(db, job.job_id)
    assert row is not None and (row["status"], row["pages_degraded"]) == ("completed", 0)


async def test_the_worker_warns_once_and_jobs_show_says_it(
    settings: Settings, db: Database, demo_site: SiteServer
) -> None:
    jobs = [script_site_job(demo_site) for _ in range(2)]
    await support.publish(settings, db, jobs)

    run = support.run_cli(
        settings, "run", "--stage", "scrape", "--exit-when-idle", "1", LEADWORKER_BROWSER_EXECUTABLE=NO_BROWSER
    )

    assert run.returncode == 0, run.stderr
    warnings = [line for line in support.json_lines(run.stderr) if line.get("event", "").startswith("no browser")]
    assert len(warnings) == 1, run.stderr
    assert warnings[0]["level"] == "warning" and "apt-get install -y chromium-headless-shell" in warnings[0]["install"]
    shown = support.run_cli(settings, "jobs", "show", str(jobs[0].job_id))
    assert shown.returncode == 0, shown.stderr
    degraded = [line.strip() for line in shown.stdout.splitlines() if line.strip().startswith("degraded:")]
    assert len(degraded) == 1 and "needed a browser and were not rendered" in degraded[0], shown.stdout
    doc = json.loads(support.run_cli(settings, "jobs", "show", str(jobs[0].job_id), "--json").stdout)
    assert doc["job"]["pages_degraded"] >= 1 and f"degraded: {doc['job']['pages_degraded']} " in degraded[0] + " "


@pytest.mark.browser
async def test_doctor_is_content_when_everything_is_there(settings: Settings, db: Database) -> None:
    await support.declare(settings)

    result = support.run_cli(settings, "doctor", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == ["broker", "database", "migrations", "topology", "chromium"]
    assert all(c["ok"] and c["fix"] is None for c in doc["checks"])
    text = support.run_cli(settings, "doctor")
    assert text.returncode == 0 and "MISSING" not in text.stdout and "chromium" in text.stdout


async def test_doctor_names_what_is_missing_and_how_to_fix_it(settings: Settings, services: tuple[str, str]) -> None:
    _, admin = services
    empty = f"lw_doctor_{uuid.uuid4().hex[:10]}"
    await support.create_database(admin, empty)  # exists, never migrated
    try:
        cfg = settings.model_copy(update={"database_url": support.database_url_for(admin, empty)})
        result = support.run_cli(cfg, "doctor", "--json", LEADWORKER_BROWSER_EXECUTABLE=NO_BROWSER)
        text = support.run_cli(cfg, "doctor", LEADWORKER_BROWSER_EXECUTABLE=NO_BROWSER)
    finally:
        await support.drop_database(admin, empty)

    assert result.returncode == 1, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["broker"]["ok"] and checks["database"]["ok"]
    assert not checks["migrations"]["ok"] and "001_core" in checks["migrations"]["detail"]
    assert checks["migrations"]["fix"] == "leadworker db migrate"
    assert not checks["topology"]["ok"] and "leadworker topology declare" in checks["topology"]["fix"]
    assert not checks["chromium"]["ok"] and NO_BROWSER in checks["chromium"]["detail"]
    assert "apt-get install -y chromium-headless-shell" in checks["chromium"]["fix"]
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    chromium = next(i for i, line in enumerate(lines) if line.startswith("MISSING  chromium"))
    assert "fix: apt-get install -y chromium-headless-shell" in lines[chromium + 1]


async def test_doctor_names_a_broker_node_that_does_not_answer(settings: Settings, db: Database) -> None:
    # A cluster's URL list with one node down, or one URL mistyped: workers would only find out when they
    # fail over to it, so doctor tries every node, not just the first that answers.
    await support.declare(settings)
    dead = "amqp://guest:secret@127.0.0.1:1/"
    for urls in (f"{settings.amqp_url},{dead}", f"{dead},{settings.amqp_url}"):
        cfg = settings.model_copy(update={"amqp_url": urls})
        result = support.run_cli(cfg, "doctor", "--json", LEADWORKER_BROWSER_EXECUTABLE=NO_BROWSER)
        checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
        broker = checks["broker"]
        assert not broker["ok"] and "1 of 2 nodes" in broker["detail"], broker
        assert "127.0.0.1:1/" in broker["detail"] and "secret" not in result.stdout, broker
        assert "LEADWORKER_AMQP_URL" in broker["fix"], broker
        assert checks["topology"]["ok"], "the topology is still looked at through the node that answers"
    again = settings.amqp_url.rstrip("/") + "/%2F"  # the same broker by another URL: two nodes that answer
    both = settings.model_copy(update={"amqp_url": f"{settings.amqp_url},{again}"})
    answer = support.run_cli(both, "doctor", "--json", LEADWORKER_BROWSER_EXECUTABLE=NO_BROWSER)
    checks = {c["name"]: c for c in json.loads(answer.stdout)["checks"]}
    assert checks["broker"]["ok"] and "2 nodes" in checks["broker"]["detail"], checks["broker"]
