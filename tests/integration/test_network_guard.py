"""The network guard, end to end: with private networks not allowed (the production default), a job whose
target is loopback, private or link-local fails for good with ``forbidden_target`` and nothing is fetched."""

from __future__ import annotations

import uuid

import pytest

import support
from leadworker.broker.publisher import ERROR_KIND_HEADER
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store import jobs as jobstore
from leadworker.store.pool import Database


@pytest.mark.browser
async def test_private_targets_are_refused_unless_allowed(settings: Settings, db: Database,
                                                          scripted_site: support.ScriptedSite) -> None:
    scripted_site.page("/", "<html><body>Intranet · it@intranet.test · +44 20 7946 0111</body></html>")
    guarded = settings.model_copy(update={"allow_private_networks": False,
                                          "resolve": {"intranet.test": "127.0.0.1"}})
    targets = {
        "override to loopback": scripted_site.url("intranet.test"),
        "cloud metadata": "http://169.254.169.254/latest/meta-data/",
        "private range": "http://10.0.0.5/",
        "loopback literal": f"http://127.0.0.1:{scripted_site.port}/",
    }
    refused = {name: ScrapeJob(job_id=uuid.uuid4(), targets=[url], max_pages=2) for name, url in targets.items()}
    rendered = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("intranet.test")], render="browser")
    await support.publish(guarded, db, [*refused.values(), rendered])

    await support.run_until_idle(guarded, idle=1.0)

    for name, job in [*refused.items(), ("rendered", rendered)]:
        row = await jobstore.get_job(db, job.job_id)
        assert row is not None
        assert (row["status"], row["error_kind"]) == ("failed", "forbidden_target"), (name, dict(row))
        assert "not a public address" in str(row["error"]) or "public" in str(row["error"]), (name, row["error"])
        assert row["attempts"] == 1, name  # permanent: not retried
    assert scripted_site.hits == {}  # nothing private was contacted, by the fetcher or the browser
    topology = Topology.from_settings(guarded)
    dead = await support.queue_messages(guarded, topology.dead_queue(topology.work_queue("scrape")))
    assert {m.headers[ERROR_KIND_HEADER] for m in dead} == {"forbidden_target"}
    assert len(dead) == len(refused) + 1

    # The control: the same target with private networks allowed is crawled.
    allowed = settings.model_copy(update={"resolve": {"intranet.test": "127.0.0.1"}})
    assert allowed.allow_private_networks
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("intranet.test")], max_pages=1)
    await support.publish(allowed, db, [job])
    await support.run_until_idle(allowed, idle=1.0)
    row = await jobstore.get_job(db, job.job_id)
    assert row is not None and row["status"] == "completed" and row["found"] == 1
    assert scripted_site.hits.get("/") == 1
