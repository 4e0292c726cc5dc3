"""The network guard, end to end: with private networks not allowed (the production default), a job whose
target is loopback, private or link-local fails for good with ``forbidden_target`` and nothing is fetched."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

import support
from leadworker.broker.publisher import ERROR_KIND_HEADER
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.scrape.guard import ForbiddenTarget, NetworkGuard
from leadworker.store import jobs as jobstore
from leadworker.store.pool import Database


@pytest.mark.browser
async def test_private_targets_are_refused_unless_allowed(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite
) -> None:
    scripted_site.page("/", "<html><body>Intranet · it@intranet.test · +44 20 7946 0111</body></html>")
    guarded = settings.model_copy(update={"allow_private_networks": False, "resolve": {"intranet.test": "127.0.0.1"}})
    targets = {
        "override to loopback": scripted_site.url("intranet.test"),
        "cloud metadata": "http://169.254.169.254/latest/meta-data/",
        "private range": "http://10.0.0.5/",
        "loopback literal": f"http://127.0.0.1:{scripted_site.port}/",
        # Spellings the HTTP client turns into 127.0.0.1 without asking a resolver (IDNA) or that resolvers read
        # as it (numeric forms): the guard used to check the string and let the client connect to the address.
        "fullwidth digits": f"http://１２７.０.０.１:{scripted_site.port}/",
        "ideographic full stops": f"http://127。0。0。1:{scripted_site.port}/",
        "fullwidth full stops": f"http://127．0．0．1:{scripted_site.port}/",
        "one integer": f"http://2130706433:{scripted_site.port}/",
        "short form": f"http://127.1:{scripted_site.port}/",
        "octal": f"http://0177.0.0.1:{scripted_site.port}/",
        "hexadecimal": f"http://0x7f.0.0.1:{scripted_site.port}/",
        "6to4": f"http://[2002:7f00:1::]:{scripted_site.port}/",
    }
    refused = {name: ScrapeJob(job_id=uuid.uuid4(), targets=[url], max_pages=2) for name, url in targets.items()}
    rendered = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("intranet.test")], render="browser")
    await support.publish(guarded, db, [*refused.values(), rendered])

    await support.run_until_idle(guarded, idle=1.0)

    for name, job in [*refused.items(), ("rendered", rendered)]:
        row = await jobstore.get_job(db, job.job_id)
        assert row is not None
        assert (row["status"], row["error_kind"]) == ("failed", "forbidden_target"), (name, dict(row))
        assert any(why in str(row["error"]) for why in ("not a public address", "numeric spelling", "read by HTTP")), (
            name,
            row["error"],
        )
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


async def test_the_connector_refuses_an_address_whatever_asked_for_it(scripted_site: support.ScriptedSite) -> None:
    """The last line: even a request that skipped ``check_url`` cannot connect to a forbidden address."""
    scripted_site.page("/", "secret")
    guard = NetworkGuard(allow_private=False)
    async with aiohttp.ClientSession(connector=guard.connector()) as session:
        for url in (
            f"http://127.0.0.1:{scripted_site.port}/",
            f"http://１２７.０.０.１:{scripted_site.port}/",
            f"http://[::ffff:127.0.0.1]:{scripted_site.port}/",
            f"http://localhost:{scripted_site.port}/",
        ):
            with pytest.raises(ForbiddenTarget):
                await session.get(url)
    assert scripted_site.hits == {}
    # The control: the same connector with private networks allowed does connect.
    async with (
        aiohttp.ClientSession(connector=NetworkGuard(allow_private=True).connector()) as session,
        session.get(f"http://127.0.0.1:{scripted_site.port}/") as response,
    ):
        assert await response.text() == "secret"
    assert scripted_site.hits == {"/": 1}
