"""``scale``: jobs/s with 1, 2 and 4 worker processes against a three-node RabbitMQ cluster (private nodes on
loopback ports, quorum queues replicated on all three), directly to PostgreSQL and through PgBouncer in
transaction mode, with the database connections each set-up holds; beside it, the raw aio-pika + asyncpg
consumer (``baselines/raw_consumer.py``) with as many processes against the same cluster.

Each run: a fresh database, ``jobs`` inline jobs of 5 leads (half of them seen before) published through
``LEADWORKER_AMQP_URL`` listing the three nodes, then N ``leadworker run --stage scrape`` processes given all
three URLs (each connects to one node in its own shuffled order) until idle. Throughput is measured from the
first claim to the last completion (the database's timestamps); "connections" is the most server connections
``pg_stat_activity`` showed for the run's database while it ran (sampled every 50 ms). Enrichment is off: the
figure is the scrape stage's, the one that takes the jobs off the broker.

Needs root, the Debian rabbitmq-server and pgbouncer packages (as the fault tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from typing import Any

import aio_pika
import asyncpg

from common import ADMIN_DB_URL, RAW_CONSUMER, ROOT, Scratch, leadworker, result, worker_env
from pipeline import lead_sets

sys.path.insert(0, str(ROOT / "tests"))

PROCESSES = (1, 2, 4)
PGBOUNCER_POOL = 8
"""PgBouncer's default_pool_size in the pooled runs: server connections per database, whatever the workers."""


async def _held(name: str, stop: asyncio.Event) -> int:
    """The most server connections to database ``name`` seen until ``stop``."""
    conn = await asyncpg.connect(ADMIN_DB_URL)
    most = 0
    try:
        while not stop.is_set():
            most = max(most, await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    finally:
        await conn.close()
    return int(most)


async def _processes(commands: list[tuple[list[str], dict[str, str]]]) -> list[str]:
    started = [
        await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
        )
        for command, env in commands
    ]
    outputs = []
    for process in started:
        out, _ = await asyncio.wait_for(process.communicate(), 1800)
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"process exited {process.returncode}: {text[-2000:]}")
        outputs.append(text)
    return outputs


async def run_ours(cluster: Any, processes: int, jobs: int, bouncer: Any | None) -> tuple[float, int]:
    from leadworker.broker.producer import publish_jobs
    from leadworker.config import Settings
    from leadworker.contracts import ScrapeJob
    from leadworker.ops.connections import publishing
    from leadworker.store.pool import Database

    scratch = Scratch()
    await scratch.create(migrated=True)
    try:
        settings = Settings(
            _env_file=None,
            amqp_url=cluster.url(),
            database_url=scratch.db_url,  # type: ignore[call-arg]
            queue_prefix=scratch.prefix,
            quorum_size=3,
            enrich=False,
        )
        batch = [
            ScrapeJob.model_validate({"job_id": uuid.uuid4(), "source_types": ["inline"], "leads": leads})
            for leads in lead_sets(jobs)
        ]
        db = await Database.connect(scratch.db_url)
        try:
            async with publishing(settings) as (_, topology, publisher):
                await publish_jobs(db, publisher, topology, batch)
        finally:
            await db.close()
        extra = {"LEADWORKER_AMQP_URL": cluster.url(), "LEADWORKER_ENRICH": "false", "LEADWORKER_QUORUM_SIZE": "3"}
        if bouncer is not None:
            extra |= {
                "LEADWORKER_DATABASE_URL": bouncer.url(scratch.name),
                "LEADWORKER_DATABASE_DIRECT_URL": scratch.db_url,
                "LEADWORKER_DB_POOL_MODE": "transaction",
            }
        command = leadworker("run", "--stage", "scrape", "--prefetch", "50", "--exit-when-idle", "1.5")
        env = worker_env(scratch, LEADWORKER_DB_POOL_MAX="10", **extra)
        stop = asyncio.Event()
        sampler = asyncio.create_task(_held(scratch.name, stop))
        try:
            await _processes([(command, env)] * processes)
        finally:
            stop.set()
            held = await sampler
        conn = await asyncpg.connect(scratch.db_url)
        try:
            row = await conn.fetchrow(
                """SELECT count(*) FILTER (WHERE status = 'completed') AS done,
                          extract(epoch FROM max(completed_at) - min(started_at)) AS seconds FROM scrape_jobs"""
            )
        finally:
            await conn.close()
        assert row is not None and row["done"] == jobs, f"only {row and row['done']} of {jobs} completed"
        return jobs / float(row["seconds"]), held - 1  # less the sampler's own connection
    finally:
        await _cleanup(scratch, cluster)


async def run_baseline(cluster: Any, processes: int, jobs: int) -> tuple[float, int]:
    scratch = Scratch()
    await scratch.create(migrated=False)
    try:
        env = worker_env(scratch)
        setup = await asyncio.create_subprocess_exec(
            sys.executable, str(RAW_CONSUMER), "setup", scratch.db_url, env=env
        )
        assert await setup.wait() == 0
        ids = [uuid.uuid4() for _ in range(jobs)]
        conn = await asyncpg.connect(scratch.db_url)
        try:
            await conn.copy_records_to_table("raw_jobs", records=[(i, "queued") for i in ids], columns=["id", "status"])
        finally:
            await conn.close()
        queue = f"{scratch.prefix}raw"
        urls = cluster.url().split(",")
        connection = await aio_pika.connect(urls[0])
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(
                queue, durable=True, arguments={"x-queue-type": "quorum", "x-quorum-initial-group-size": 3}
            )
            bodies = [
                json.dumps({"job_id": str(i), "leads": leads}).encode()
                for i, leads in zip(ids, lead_sets(jobs), strict=True)
            ]
            for start in range(0, jobs, 1000):
                await asyncio.gather(
                    *(
                        channel.default_exchange.publish(
                            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=queue
                        )
                        for body in bodies[start : start + 1000]
                    )
                )
        finally:
            await connection.close()
        share = jobs // processes
        commands = [
            (
                [sys.executable, str(RAW_CONSUMER), "consume", urls[n % len(urls)], scratch.db_url, queue, str(share)],
                env,
            )
            for n in range(processes)
        ]
        stop = asyncio.Event()
        sampler = asyncio.create_task(_held(scratch.name, stop))
        started = [
            await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.DEVNULL, cwd=ROOT)
            for command, env in commands
        ]
        try:
            # Measured in the database, as ours is: the raw consumer's own exit can hang on closing its
            # connection to a cluster node, which is not what is measured here.
            seconds = await _raw_seconds(scratch.db_url, share * processes)
        finally:
            stop.set()
            held = await sampler
            for process in started:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return share * processes / seconds, held - 1
    finally:
        await _cleanup(scratch, cluster, raw=True)


async def _raw_seconds(db_url: str, count: int, timeout: float = 900) -> float:
    """Once ``count`` raw jobs are completed: seconds from the first completion to the last (per job, the
    same span as ours' first claim to last completion, less one job's few milliseconds)."""
    conn = await asyncpg.connect(db_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            row = await conn.fetchrow(
                """SELECT count(*) AS done, extract(epoch FROM max(updated_at) - min(updated_at)) AS seconds
                     FROM raw_jobs WHERE status = 'completed'"""
            )
            assert row is not None
            if row["done"] >= count:
                return float(row["seconds"]) * count / max(count - 1, 1)
            if time.monotonic() > deadline:
                raise RuntimeError(f"raw consumers completed {row['done']} of {count}")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _cleanup(scratch: Scratch, cluster: Any, *, raw: bool = False) -> None:
    from leadworker.broker.retry_policy import RetryPolicy
    from leadworker.broker.topology import Topology

    conn = await asyncpg.connect(ADMIN_DB_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{scratch.name}" WITH (FORCE)')
    finally:
        await conn.close()
    topology = Topology(
        prefix=scratch.prefix, queue_type="quorum", policy=RetryPolicy(5, (5.0, 30.0, 120.0, 600.0), 20)
    )
    names = [f"{scratch.prefix}raw"] if raw else [name for name, _ in topology.declarations()]
    connection = await aio_pika.connect(cluster.url().split(",")[0])
    try:
        channel = await connection.channel()
        for name in names:
            if channel.is_closed:
                channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
    finally:
        await connection.close()


async def run(quick: bool, reps: int = 1) -> dict[str, Any]:
    from support import PrivatePgBouncer, PrivateRabbitCluster

    jobs = 800 if quick else 4_000
    rows: list[dict[str, Any]] = []
    with PrivateRabbitCluster(3) as cluster, PrivatePgBouncer(5432, pool_size=PGBOUNCER_POOL) as bouncer:
        figures: dict[str, list[tuple[float, int]]] = {}
        for processes in PROCESSES:
            for rep in range(reps):
                sides = [
                    ("direct", lambda p=processes: run_ours(cluster, p, jobs, None)),
                    ("pgbouncer", lambda p=processes: run_ours(cluster, p, jobs, bouncer)),
                    ("raw", lambda p=processes: run_baseline(cluster, p, jobs)),
                ]
                for name, side in sides if rep % 2 == 0 else sides[::-1]:
                    figures.setdefault(f"{name}:{processes}", []).append(await side())
        for processes in PROCESSES:
            direct = figures[f"direct:{processes}"]
            pooled = figures[f"pgbouncer:{processes}"]
            raw = figures[f"raw:{processes}"]
            rows.append(
                {
                    "name": f"{processes} proc",
                    "unit": "jobs/s",
                    **_pair([f for f, _ in direct], [f for f, _ in raw]),
                    "pgbouncer_jobs_s": round(sorted(f for f, _ in pooled)[len(pooled) // 2], 1),
                    "connections": {
                        "direct": max(c for _, c in direct),
                        "pgbouncer": max(c for _, c in pooled),
                        "raw": max(c for _, c in raw),
                    },
                    "notes": (
                        f"through PgBouncer {sorted(f for f, _ in pooled)[len(pooled) // 2]:.0f} jobs/s; "
                        f"connections held: direct {max(c for _, c in direct)}, "
                        f"PgBouncer {max(c for _, c in pooled)}, raw {max(c for _, c in raw)}"
                    ),
                }
            )
    one, four = figures["direct:1"], figures["direct:4"]
    return result(
        "scale",
        "jobs/s",
        [f for f, _ in four],
        [f for f, _ in figures["raw:4"]],
        baseline_name="raw aio-pika + asyncpg consumer, as many processes, same cluster",
        notes=(
            f"4 processes vs 1: {_median([f for f, _ in four]) / _median([f for f, _ in one]):.2f}x; "
            f"{jobs} inline jobs x 5 leads per run; 3-node cluster of private nodes on this host"
        ),
        extra={"rows": rows, "jobs": jobs, "pgbouncer_pool_size": PGBOUNCER_POOL},
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _pair(ours: list[float], baseline: list[float]) -> dict[str, Any]:
    ours_m, base_m = _median(ours), _median(baseline)
    return {"ours": round(ours_m, 1), "baseline": round(base_m, 1), "ratio": round(ours_m / base_m, 3)}
