"""The CLI's publisher losing its broker node halfway through a load: it goes on through the next node of
``LEADWORKER_AMQP_URL`` with the jobs not yet confirmed, instead of stopping with the rest unsent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aio_pika
import pytest

import support
from leadworker.broker.nodes import BrokerNodes
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.ops import connections
from leadworker.store import jobs as jobstore
from leadworker.store.pool import Database


async def test_the_publisher_fails_over_when_its_node_goes_away(
    settings: Settings, db: Database, private_rabbit: support.PrivateRabbit, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _jobs("Failover Ltd", 3000)
    second_chunk, lost = _pause_after_the_second_chunk(monkeypatch)

    async def lose_the_node() -> None:
        await asyncio.wait_for(second_chunk.wait(), 60)
        await asyncio.to_thread(private_rabbit.close_connections, "node going away")
        await asyncio.sleep(0.5)  # the close reaches the publisher
        lost.set()

    async with _two_nodes(settings, private_rabbit) as (cfg, queue, on_private, on_shared):
        loser = asyncio.create_task(lose_the_node())
        await connections.publish_jobs_failing_over(cfg, db, jobs)
        await loser
        assert await _rows(db) == len(jobs)
        first, second = await _message_ids(on_private, queue), await _message_ids(on_shared, queue)
        assert first and second, "some messages went through each node"
        assert first | second == {str(job.job_id) for job in jobs}, "every job's message is in a queue"


async def test_failing_over_leaves_out_jobs_a_worker_already_has(
    settings: Settings, db: Database, private_rabbit: support.PrivateRabbit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker can claim a job as soon as its message is delivered, before the publisher has its confirm. Such
    # a job's message, cut off with the node, must not be published again: a second message of a running
    # job is a takeover, and the work done twice.
    jobs = _jobs("Claimed Ltd", 3000)
    claimed: set[uuid.UUID] = set()

    async def claim() -> None:  # the workers: each row as soon as it is there
        while True:
            rows = await db.fetch("UPDATE scrape_jobs SET status = 'running' WHERE status = 'queued' RETURNING id")
            claimed.update(r["id"] for r in rows)
            await asyncio.sleep(0.002)

    second_chunk, lost = _pause_after_the_second_chunk(monkeypatch)

    async def claim_while_losing_the_node() -> None:
        await asyncio.wait_for(second_chunk.wait(), 60)
        claiming = asyncio.create_task(claim())
        await asyncio.to_thread(private_rabbit.close_connections, "node going away")
        await asyncio.sleep(0.5)  # the close reaches the publisher
        claiming.cancel()  # before the third chunk's rows are made: they stay queued, for the next node
        lost.set()

    async with _two_nodes(settings, private_rabbit) as (cfg, queue, _, on_shared):
        loser = asyncio.create_task(claim_while_losing_the_node())
        await connections.publish_jobs_failing_over(cfg, db, jobs)
        await loser
        second = await _message_ids(on_shared, queue)  # the queue is there: the second node was tried
        assert claimed and second, "the second chunk was claimed, the third went through the next node"
        assert not second & {str(i) for i in claimed}, "no second message for a job a worker has"


async def test_an_amqp_error_while_opening_the_publisher_fails_over(
    settings: Settings, db: Database, private_rabbit: support.PrivateRabbit
) -> None:
    # The first node takes the connection but refuses the topology's declarations (as a node going away
    # closes the channel): that is an AMQP error from opening the publisher, and the next node is tried.
    private_rabbit.ctl("add_user", "nodeclare", "nodeclare")
    try:
        private_rabbit.ctl("set_permissions", "-p", "/", "nodeclare", "^$", ".*", ".*")
        urls = [private_rabbit.url("nodeclare", "nodeclare"), settings.amqp_url]
        cfg = settings.model_copy(update={"amqp_url": ",".join(urls)})
        connections._NODES[cfg.amqp_url] = BrokerNodes(urls, shuffle=False)
        lead = LeadRecord(company_name="Refused Ltd", emails=["a@refused.test"])
        jobs = [ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[lead]) for _ in range(3)]
        queue = Topology.from_settings(cfg).work_queue("scrape")
        await connections.publish_jobs_failing_over(cfg, db, jobs)
        assert await _message_ids(settings, queue) == {str(job.job_id) for job in jobs}
    finally:
        connections._NODES.pop(",".join([private_rabbit.url("nodeclare", "nodeclare"), settings.amqp_url]), None)
        private_rabbit.ctl("delete_user", "nodeclare")
        await support.delete_queues(settings)


@asynccontextmanager
async def _two_nodes(
    settings: Settings, private_rabbit: support.PrivateRabbit
) -> AsyncIterator[tuple[Settings, str, Settings, Settings]]:
    """Settings naming two "nodes": the private one first (not shuffled, so that it is the one lost) and the
    shared broker. They are separate brokers, not a cluster: each job's message is in one of them, and counted
    there. Yields those settings, the work queue, and settings for each node alone; their queues go at the end."""
    urls = [private_rabbit.url(), settings.amqp_url]
    cfg = settings.model_copy(update={"amqp_url": ",".join(urls)})
    connections._NODES[cfg.amqp_url] = BrokerNodes(urls, shuffle=False)
    on_private, on_shared = (settings.model_copy(update={"amqp_url": url}) for url in urls)
    try:
        yield cfg, Topology.from_settings(cfg).work_queue("scrape"), on_private, on_shared
    finally:
        connections._NODES.pop(cfg.amqp_url, None)
        await support.delete_queues(on_private)
        await support.delete_queues(on_shared)


def _jobs(company: str, count: int) -> list[ScrapeJob]:
    lead = LeadRecord(company_name=company, emails=[f"a@{company.split()[0].lower()}.test"])
    return [ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[lead]) for _ in range(count)]


def _pause_after_the_second_chunk(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the publisher wait, once the second chunk's rows are made and before it is published, until the
    second event is set; the first is set when it waits. A test loses the node there: mid-publish however fast
    the machine (a close raced against the publish could reach it after the last chunk)."""
    second_chunk, lost = asyncio.Event(), asyncio.Event()
    create_jobs, chunks = jobstore.create_jobs, 0

    async def create_then_wait(db: Database, chunk: Sequence[ScrapeJob]) -> None:
        nonlocal chunks
        await create_jobs(db, chunk)
        chunks += 1
        if chunks == 2:
            second_chunk.set()
            await lost.wait()

    monkeypatch.setattr(jobstore, "create_jobs", create_then_wait)
    return second_chunk, lost


async def _rows(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM scrape_jobs"))


async def _message_ids(cfg: Settings, queue: str) -> set[str]:
    """The message ids in ``queue`` (taken out of it)."""
    connection = await aio_pika.connect(cfg.amqp_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count or 0
        found, seen = set(), 0
        if count:
            async with declared.iterator(no_ack=True) as messages:
                async for message in messages:
                    found.add(str(message.message_id))
                    seen += 1
                    if seen == count:
                        break
        return found
    finally:
        await connection.close()
