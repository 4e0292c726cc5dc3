"""``latency``: publish → job running, at a steady 200 jobs/s, p50 and p99, against the raw consumer.

Ours: the time from just before the producer's publish to the ``started_at`` the claim statement wrote (the
job is running). Baseline: the time from just before the publish to the raw consumer's callback. Same
machine, same clock.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

import aio_pika

from common import AMQP_URL, RAW_CONSUMER, Scratch, leadworker, median, prepare_raw_consumer, run_process, worker_env

RATE = 200.0


async def wait_consuming(channel: aio_pika.abc.AbstractChannel, queue: str, timeout: float = 60.0) -> None:
    """Wait until a consumer is registered on ``queue`` (the side under test is up), then a little more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        declared = await channel.declare_queue(queue, passive=True)
        if (declared.declaration_result.consumer_count or 0) > 0:
            await asyncio.sleep(0.5)
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"nobody consumes {queue}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def paced(count: int, send: Any) -> None:
    """Call ``send(i)`` ``count`` times at RATE per second (absolute schedule, no drift)."""
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(i)


async def run_ours(count: int) -> list[float]:
    from leadworker.broker.producer import job_message
    from leadworker.broker.publisher import ConfirmedPublisher
    from leadworker.broker.topology import Topology, declare_topology
    from leadworker.config import Settings
    from leadworker.contracts import ScrapeJob
    from leadworker.store import jobs as jobstore
    from leadworker.store.pool import Database

    scratch = Scratch()
    await scratch.create(migrated=True)
    worker = None
    try:
        settings = Settings(
            _env_file=None,
            amqp_url=AMQP_URL,
            database_url=scratch.db_url,  # type: ignore[call-arg]
            queue_prefix=scratch.prefix,
        )
        topology = Topology.from_settings(settings)
        jobs = [
            ScrapeJob.model_validate(
                {
                    "job_id": uuid.uuid4(),
                    "source_types": ["inline"],
                    "leads": [{"company_name": f"Latency {i}", "emails": [f"l{i}@lat.example.org"]}],
                }
            )
            for i in range(count)
        ]
        db = await Database.connect(scratch.db_url)
        await jobstore.create_jobs(db, jobs)
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        await declare_topology(channel, topology)
        publisher = await ConfirmedPublisher.open(connection, topology.exchange)
        worker = await asyncio.create_subprocess_exec(
            *leadworker("run", "--stage", "scrape", "--prefetch", "50"),
            env=worker_env(scratch),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_consuming(channel, topology.work_queue("scrape"))
        sent: dict[uuid.UUID, float] = {}
        pending: set[asyncio.Future[None]] = set()

        async def send(i: int) -> None:
            sent[jobs[i].job_id] = time.time()
            pending.add(asyncio.ensure_future(publisher.publish(job_message(jobs[i], topology))))

        await paced(count, send)
        await asyncio.gather(*pending)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = await db.fetchval("SELECT count(*) FROM scrape_jobs WHERE status = 'completed'")
            if done == count:
                break
            await asyncio.sleep(0.2)
        rows = await db.fetch("SELECT id, extract(epoch FROM started_at) AS started FROM scrape_jobs")
        await connection.close()
        await db.close()
        pairs = sorted(
            (sent[r["id"]], (float(r["started"]) - sent[r["id"]]) * 1000) for r in rows if r["started"] is not None
        )
        return [latency_ms for _, latency_ms in pairs]
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        await scratch.cleanup()


async def run_baseline(count: int) -> list[float]:
    scratch = Scratch()
    await scratch.create(migrated=False)
    try:
        ids = [uuid.uuid4() for _ in range(count)]
        queue_name = await prepare_raw_consumer(scratch, ids)
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel(publisher_confirms=True)
        consumer = asyncio.create_task(
            run_process(
                [sys.executable, str(RAW_CONSUMER), "latency", AMQP_URL, scratch.db_url, queue_name, str(count)],
                worker_env(scratch),
            )
        )
        await wait_consuming(await connection.channel(), queue_name)

        pending: set[asyncio.Future[Any]] = set()

        async def send(i: int) -> None:
            body = json.dumps(
                {
                    "job_id": str(ids[i]),
                    "sent_at": time.time(),
                    "leads": [{"company_name": f"Latency {i}", "emails": [f"l{i}@lat.example.org"]}],
                }
            )
            pending.add(
                asyncio.ensure_future(
                    channel.default_exchange.publish(
                        aio_pika.Message(body.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue_name,
                    )
                )
            )

        await paced(count, send)
        await asyncio.gather(*pending)
        code, output = await consumer
        await connection.close()
        assert code == 0, output
        return list(json.loads(output.strip().splitlines()[-1])["latencies_ms"])
    finally:
        await scratch.cleanup()


async def run(quick: bool, reps: int = 3) -> dict[str, Any]:
    count = int(RATE * (5 if quick else 15))
    ours_p50: list[float] = []
    ours_p99: list[float] = []
    base_p50: list[float] = []
    base_p99: list[float] = []
    for rep in range(reps):
        order = (run_ours, run_baseline) if rep % 2 == 0 else (run_baseline, run_ours)
        for runner in order:
            values = await runner(count)
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            if runner is run_ours:
                ours_p50.append(p50)
                ours_p99.append(p99)
            else:
                base_p50.append(p50)
                base_p99.append(p99)
    p99_ratio = median(ours_p99) / median(base_p99)
    return {
        "scenario": "latency",
        "unit": "ms p99",
        "ours": round(median(ours_p99), 3),
        "baseline": round(median(base_p99), 3),
        "baseline_name": "raw aio-pika + asyncpg consumer (prefetch 50)",
        "ratio": round(p99_ratio, 3),
        "ratio_meaning": "ours p99 / baseline p99 (lower is better; target <= 1.5)",
        "p50": {"ours": round(median(ours_p50), 3), "baseline": round(median(base_p50), 3)},
        "runs": {
            "ours_p99": ours_p99,
            "baseline_p99": base_p99,
            "ours_p50": ours_p50,
            "baseline_p50": base_p50,
            "spread_ours_p99": round(statistics.pstdev(ours_p99), 3) if len(ours_p99) > 1 else 0.0,
        },
        "notes": f"{count} jobs at {RATE:g}/s; publish -> job running (ours) / -> handler (baseline)",
        "target": {"p99_ratio_max": 1.5},
        "rows": [
            {
                "name": "p50",
                "unit": "ms",
                "ours": round(median(ours_p50), 3),
                "baseline": round(median(base_p50), 3),
                "ratio": round(median(ours_p50) / median(base_p50), 3),
                "notes": "lower is better",
            }
        ],
    }
