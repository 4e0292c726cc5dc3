"""Webhook signatures bind the destination: a POST captured by one receiver does not verify at another; and a
webhook URL's token is not written where errors are kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import aiohttp
import pytest

import support
from enrich_support import WEBHOOK_SECRET, WebhookReceiver, destination_key, verify_signature
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.store.pool import Database


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    runners = [support.ThreadedServer(WebhookReceiver()) for _ in range(2)]
    started: list[WebhookReceiver] = [runner.start() for runner in runners]
    try:
        yield started[0], started[1]
    finally:
        for runner in runners:
            runner.stop()


async def test_a_signature_replayed_to_another_receiver_is_refused(
    settings: Settings, db: Database, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    first, second = receivers
    cfg = settings.model_copy(update={"webhook_secret": WEBHOOK_SECRET, "enrich": False})
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        webhook_url=first.url,
        leads=[LeadRecord(company_name="Replay GmbH", emails=["info@replay.test"])],
    )
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ("scrape", "notify"), idle=1.0)

    (posted,) = first.delivered(job.job_id)
    timestamp, signature = posted.headers["X-Leadworker-Timestamp"], posted.headers["X-Leadworker-Signature"]
    # The key every receiver used to share does not verify it: that key signs for nobody now.
    assert not verify_signature(WEBHOOK_SECRET, timestamp, signature, posted.raw)
    assert posted.signature_valid  # the receiver it was sent to verifies it with its own key

    # The second receiver holds its own key; the replayed POST, within the timestamp tolerance, is refused.
    replay = {k: v for k, v in posted.headers.items() if k.lower().startswith("x-leadworker-")}
    async with (
        aiohttp.ClientSession() as session,
        session.post(second.url, data=posted.raw, headers={**replay, "Content-Type": "application/json"}) as response,
    ):
        assert response.status == 200
    (replayed,) = second.received
    assert replayed.body == posted.body and not replayed.signature_valid


def test_the_cli_prints_a_destinations_secret(settings: Settings) -> None:
    cfg = settings.model_copy(update={"webhook_secret": WEBHOOK_SECRET})
    url = "https://crm.test/hooks/leadworker?tenant=7"
    result = support.run_cli(cfg, "webhooks", "secret", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == destination_key(WEBHOOK_SECRET, url)
    unset = support.run_cli(settings, "webhooks", "secret", url)
    assert unset.returncode == 2 and "LEADWORKER_WEBHOOK_SECRET is not set" in unset.stderr


async def test_a_refused_webhook_urls_token_is_not_stored_with_the_error(settings: Settings, db: Database) -> None:
    from leadworker.broker.topology import Topology

    cfg = settings.model_copy(update={"allow_private_networks": False, "enrich": False})
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        webhook_url="http://127.1:9/in?token=tok-s3cret",
        leads=[LeadRecord(company_name="Token Ltd", emails=["info@token.test"])],
    )
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ("scrape", "notify"), idle=1.0)

    delivery = await db.fetchrow(
        "SELECT event_id, status, last_error FROM webhook_deliveries WHERE job_id = $1", job.job_id
    )
    assert delivery is not None and delivery["status"] == "dead", delivery
    attempts = await db.fetch("SELECT error FROM webhook_attempts WHERE event_id = $1", delivery["event_id"])
    topology = Topology.from_settings(cfg)
    dead = await support.queue_messages(cfg, topology.dead_queue(topology.work_queue("notify")))
    kept = [delivery["last_error"], *(a["error"] for a in attempts), *(str(m.headers) for m in dead)]
    assert "token=***" in delivery["last_error"]
    assert not any("tok-s3cret" in text for text in kept), kept
