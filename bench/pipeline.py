"""``pipeline``: inline jobs of 5 leads (half of them seen before) through ``leadworker run --stage scrape``,
against the raw aio-pika + asyncpg consumer doing UPDATE running, INSERT leads, UPDATE completed, ack.

Ours does the full job: validation, the state machine (claim, fenced completion, audit events), lead hashing,
links, counts, and the confirmed fan-out of new leads to ``leads.normalize``. Throughput is measured from the
first claim to the last completion (the database's own timestamps), so process start-up is not counted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import aio_pika

from common import (
    AMQP_URL,
    RAW_CONSUMER,
    Scratch,
    alternate,
    leadworker,
    prepare_raw_consumer,
    publish_scrape_jobs,
    result,
    run_process,
    worker_env,
)

LEADS_PER_JOB = 5


def lead_sets(count: int) -> list[list[dict[str, Any]]]:
    """``count`` jobs of 5 leads over a pool of ``2.5 * count`` distinct leads: each appears twice."""
    distinct = max(count * LEADS_PER_JOB // 2, LEADS_PER_JOB)
    return [
        [
            {
                "company_name": f"Bench Co {i}",
                "emails": [f"owner{i}@bench{i}.example.org"],
                "phones": [f"+1 206 555 {i % 10000:04d}"],
            }
            for i in ((n * LEADS_PER_JOB + k) % distinct for k in range(LEADS_PER_JOB))
        ]
        for n in range(count)
    ]


async def run_ours(count: int) -> float:
    from leadworker.contracts import ScrapeJob
    from leadworker.store.pool import Database

    scratch = Scratch()
    await scratch.create(migrated=True)
    try:
        jobs = [
            ScrapeJob.model_validate({"job_id": uuid.uuid4(), "source_types": ["inline"], "leads": leads})
            for leads in lead_sets(count)
        ]
        topology = await publish_scrape_jobs(scratch, jobs)
        db = await Database.connect(scratch.db_url)
        # Stand in for the enrichment workers (a consumer on leads.normalize that takes one message and never
        # acks it): with a consumer there, the fan-out is published and confirmed, as in a full deployment,
        # instead of being deferred in the database.
        stand_in = await aio_pika.connect(AMQP_URL)
        try:
            stand_in_channel = await stand_in.channel()
            await stand_in_channel.set_qos(prefetch_count=1)
            normalize_queue = await stand_in_channel.get_queue(topology.work_queue("normalize"), ensure=False)

            async def hold(_message: aio_pika.abc.AbstractIncomingMessage) -> None:
                """Never acked: the message stays with this consumer until it closes."""

            await normalize_queue.consume(hold)
            code, output = await run_process(
                leadworker("run", "--stage", "scrape", "--prefetch", "50", "--exit-when-idle", "1"),
                worker_env(scratch, LEADWORKER_DB_POOL_MAX="10"),
            )
            fanned_out = await stand_in_channel.declare_queue(topology.work_queue("normalize"), passive=True)
            waiting = fanned_out.declaration_result.message_count
        finally:
            await stand_in.close()
        if code != 0:
            raise RuntimeError(f"worker exited {code}: {output[-2000:]}")
        assert waiting, "the fan-out to leads.normalize was not published"
        row = await db.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'completed') AS done,
                      extract(epoch FROM max(completed_at) - min(started_at)) AS seconds FROM scrape_jobs"""
        )
        await db.close()
        assert row is not None and row["done"] == count, f"only {row and row['done']} of {count} completed"
        return count / float(row["seconds"])
    finally:
        await scratch.cleanup()


async def run_baseline(count: int) -> float:
    scratch = Scratch()
    await scratch.create(migrated=False)
    try:
        ids = [uuid.uuid4() for _ in range(count)]
        queue_name = await prepare_raw_consumer(scratch, ids)
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel(publisher_confirms=True)
            bodies = [
                json.dumps({"job_id": str(i), "leads": leads}).encode()
                for i, leads in zip(ids, lead_sets(count), strict=True)
            ]
            for start in range(0, count, 1000):
                await asyncio.gather(
                    *(
                        channel.default_exchange.publish(
                            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                            routing_key=queue_name,
                        )
                        for body in bodies[start : start + 1000]
                    )
                )
        finally:
            await connection.close()
        code, output = await run_process(
            [sys.executable, str(RAW_CONSUMER), "consume", AMQP_URL, scratch.db_url, queue_name, str(count)],
            worker_env(scratch),
        )
        assert code == 0, output
        seconds = json.loads(output.strip().splitlines()[-1])["seconds"]
        return count / float(seconds)
    finally:
        await scratch.cleanup()


async def run(quick: bool, reps: int = 3) -> dict[str, Any]:
    count = 2_000 if quick else 10_000
    ours, baseline = await alternate(lambda: run_ours(count), lambda: run_baseline(count), reps)
    return result(
        "pipeline",
        "jobs/s",
        ours,
        baseline,
        baseline_name="raw aio-pika + asyncpg (UPDATE, INSERT ON CONFLICT, UPDATE, ack; prefetch 50, pool 10)",
        notes=f"{count} inline jobs x {LEADS_PER_JOB} leads, half duplicates; target ratio >= 1.0",
        extra={"target": {"ratio": 1.0}, "jobs": count},
    )
