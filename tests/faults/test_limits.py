"""Limits that keep one job from hurting the rest, and the production failure modes users report most."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aio_pika
import pytest
from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.broker.retry_policy import RetryPolicy
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store import jobs as jobstore
from leadworker.store.maintenance import MAINTENANCE_LOCK_ID, requeue_stuck_jobs
from leadworker.store.pool import Database
from leadworker.worker import watchers as worker_watchers
from support import PrivateRabbit, Spawn, jobs_reached


async def test_max_job_duration_times_out_retries_then_fails(fault_settings: Settings, db: Database) -> None:
    slow = support.ThreadedServer(LoadWorld(1, delay=5))
    world: LoadWorld = slow.start()
    try:
        cfg = fault_settings.model_copy(
            update={"resolve": world.resolve(), "max_job_seconds": 0.5, "page_timeout": 30.0}
        )
        (job,) = world.jobs()
        await support.publish(cfg, db, [job])
        await support.run_until_idle(cfg, idle=1.5)
        row = await jobstore.get_job(db, job.job_id)
        assert row is not None and row["status"] == "failed" and row["error_kind"] == "attempts_exhausted"
        assert "(timeout)" in row["error"] and row["attempts"] == cfg.max_attempts
        path = [e["to_status"] for e in await jobstore.job_events(db, job.job_id)]
        assert path.count("retrying") == cfg.max_attempts - 1
    finally:
        slow.stop()


async def test_memory_watchdog_drains_and_exits_3(
    fault_settings: Settings, db: Database, world: LoadWorld, spawn: Spawn
) -> None:
    jobs = world.jobs()[:40]
    await support.publish(fault_settings, db, jobs)
    worker = await spawn(fault_settings, "--stage", "scrape", LEADWORKER_MEMORY_LIMIT_MB="20")
    assert await worker.wait(60) == 3
    (event,) = worker.events("memory above the limit; draining for a restart")
    assert event["rss_mb"] > 20
    assert worker.events("stopping")[0]["reason"] == "memory limit"
    # Nothing was lost: a worker without the limit finishes the batch.
    await support.run_until_idle(fault_settings)
    await check_end_state(fault_settings, db, [j.job_id for j in jobs])


async def test_processes_supervisor_restarts_and_drains(
    fault_settings: Settings, db: Database, world: LoadWorld, spawn: Spawn
) -> None:
    import os
    import signal

    jobs = world.jobs(copies=3)
    ids = [j.job_id for j in jobs]
    await support.publish(fault_settings, db, jobs)
    port = support.free_port()
    supervisor = await spawn(fault_settings, "--stage", "scrape", "--processes", "3", LEADWORKER_METRICS_PORT=str(port))

    async def children() -> list[int]:
        proc = await asyncio.create_subprocess_exec("pgrep", "-P", str(supervisor.pid), stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return [int(pid) for pid in out.split()]

    await support.wait_for(lambda: _n_children(children, 3), timeout=30, what="3 worker processes")
    await support.wait_for(lambda: jobs_reached(db, ids, at_least=50), timeout=120, what="50 jobs completed")
    victim = (await children())[0]
    os.kill(victim, signal.SIGKILL)
    await support.wait_for(lambda: _replaced(children, victim), timeout=30, what="the dead child replaced")
    await support.wait_for(lambda: jobs_reached(db, ids), timeout=180, what="all jobs completed")
    # One port serves the sum of every child's metrics, the dead child's counts included.
    queue = Topology.from_settings(fault_settings).work_queue("scrape")

    async def all_acked() -> bool:
        families = await asyncio.to_thread(support.scrape_metrics, f"http://127.0.0.1:{port}/metrics")
        acked = support.sample_value(families, "leadworker_deliveries_total", queue=queue, outcome="ack")
        return acked is not None and acked >= len(ids)

    await support.wait_for(all_acked, timeout=30, what="aggregated metrics")

    async def all_ready() -> bool:
        status, body = await asyncio.to_thread(support.http_get, f"http://127.0.0.1:{port}/readyz")
        return status == 200 and len(json.loads(body)["workers"]) == 3

    await support.wait_for(all_ready, timeout=30, what="/readyz with the 3 worker processes (one restarted)")
    supervisor.terminate()
    assert await supervisor.wait(60) == 0
    assert await children() == []
    restarted = supervisor.events("worker process exited; restarting")
    assert [e["exit_code"] for e in restarted] == [-signal.SIGKILL]
    assert restarted[0]["restart_in"] >= 1.0  # a crash waits (backoff); no spinning
    await check_end_state(fault_settings, db, ids)


async def _n_children(children: Any, n: int) -> bool:
    return len(await children()) == n


async def _replaced(children: Any, victim: int) -> bool:
    pids = await children()
    return len(pids) == 3 and victim not in pids


async def test_heartbeats_survive_parsing_huge_pages(
    fault_settings: Settings, db: Database, private_rabbit: PrivateRabbit, spawn: Spawn
) -> None:
    """Pages that cost seconds of CPU to read are read without stalling the event loop long enough to miss a
    heartbeat: 4 pages of 1 MB of phone-like numbers cost ~3 s each here, three times the broker's 1 s
    heartbeat; were they read on the event loop, the broker would drop the connection."""
    heavy = support.ThreadedServer(LoadWorld(4, huge_page_bytes=1_000_000))
    world: LoadWorld = heavy.start()
    try:
        cfg = fault_settings.model_copy(
            update={
                "resolve": world.resolve(),
                "amqp_url": private_rabbit.url(),
                "amqp_heartbeat": 1,
                "max_body_bytes": 2_000_000,
            }
        )
        jobs = world.jobs()
        await support.publish(cfg, db, jobs)
        worker = await spawn(cfg, "--stage", "scrape", "--exit-when-idle", "2")
        assert await worker.wait(180) == 0
        assert worker.events("broker connection lost; reconnecting") == []
        assert len(worker.events("worker ready")) == 1
        await check_end_state(cfg, db, [j.job_id for j in jobs])
    finally:
        heavy.stop()


async def test_consumer_cancelled_by_the_broker_recovers(
    fault_settings: Settings, db: Database, world: LoadWorld
) -> None:
    """Deleting the work queue makes the broker cancel our consumer; the worker must notice, re-declare and
    consume again instead of sitting silently idle."""
    topology = Topology.from_settings(fault_settings)
    queue = topology.work_queue("scrape")
    async with support.running_worker(fault_settings) as worker:
        readies: list[float] = []
        worker.on_ready = lambda: readies.append(asyncio.get_running_loop().time())
        connection = await aio_pika.connect(fault_settings.amqp_url)
        try:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        finally:
            await connection.close()
        await support.wait_for(lambda: not worker.readiness.ready, timeout=10, what="consumer loss noticed")
        await support.wait_for(lambda: worker.readiness.ready, timeout=30, what="consuming again")
        assert len(readies) == 1, "one reconnect: the queue declared again and consumed"
        assert await support.consumer_count(fault_settings, queue) == 1  # the broker sees it too
        jobs = world.jobs()[:10]
        ids = [j.job_id for j in jobs]
        await support.publish(fault_settings, db, jobs)
        await support.wait_for(lambda: jobs_reached(db, ids), timeout=60, what="jobs completed after recovery")
    assert await support.count_status(db, ids, "completed") == 10
    assert worker.exit_code == 0


async def test_a_consumer_the_broker_forgot_is_noticed_and_renewed(
    fault_settings: Settings,
    db: Database,
    world: LoadWorld,
    private_rabbit: PrivateRabbit,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker stops seeing our consumer while the client still believes it consumes (nothing tells the
    client): messages pile up. The liveness check asks the broker, sees no consumer on a queue that has
    messages, reconnects, and the jobs are done."""
    monkeypatch.setattr(worker_watchers, "LIVENESS_INTERVAL", 0.5)  # the checks of minutes, in seconds
    monkeypatch.setattr(worker_watchers, "BROKER_CHECK_EVERY", 2)
    cfg = fault_settings.model_copy(update={"amqp_url": private_rabbit.url(), "queue_type": "classic"})
    queue = Topology.from_settings(cfg).work_queue("scrape")
    try:
        async with support.running_worker(cfg) as worker:
            readies: list[float] = []
            worker.on_ready = lambda: readies.append(time.monotonic())
            assert await asyncio.to_thread(private_rabbit.forget_consumers, queue) == 1
            assert await support.consumer_count(cfg, queue) == 0 and worker.readiness.ready  # silent
            jobs = world.jobs()[:10]
            ids = [j.job_id for j in jobs]
            await support.publish(cfg, db, jobs)
            await support.wait_for(lambda: jobs_reached(db, ids), timeout=30, what="jobs done after renewal")
            assert len(readies) == 1, "renewed by one reconnect"
            assert await support.consumer_count(cfg, queue) == 1
        assert worker.exit_code == 0
    finally:
        await support.delete_queues(cfg)


@pytest.mark.pgbouncer
async def test_stuck_jobs_are_rescued_once(fault_settings: Settings, db: Database, world: LoadWorld) -> None:
    """A job left running by a worker the OOM killer took (its message gone) gets a fresh message from the
    periodic sweep; one that used all attempts is failed; two sweeps at once do the work once."""
    alive, exhausted, queued_lost = world.jobs()[:3]
    await jobstore.create_jobs(db, [alive, exhausted, queued_lost])  # rows only: the messages are "lost"
    for job, attempts in ((alive, 1), (exhausted, fault_settings.max_attempts)):
        await db.execute(
            """UPDATE scrape_jobs SET status = 'running', attempts = $2, worker = 'oom-killed:1',
                      started_at = now() - interval '10 minutes', heartbeat_at = now() - interval '10 minutes'
                WHERE id = $1""",
            job.job_id,
            attempts,
        )
    await db.execute(
        "UPDATE scrape_jobs SET updated_at = now() - interval '10 minutes' WHERE id = $1", queued_lost.job_id
    )
    topology = await support.declare(fault_settings)
    published: list[Any] = []

    async def record(messages: list[Any]) -> None:
        published.extend(messages)

    async def sweep() -> Any:
        return await requeue_stuck_jobs(
            db,
            record,
            work_queue=topology.work_queue("scrape"),
            stale_seconds=60,
            policy=RetryPolicy(fault_settings.max_attempts, (1.0,), fault_settings.delivery_limit),
            include_queued=True,
        )

    # Another instance holds the maintenance lock: this sweep skips, touching nothing.
    async with db.transaction() as other:
        assert await other.fetchval("SELECT pg_try_advisory_xact_lock($1)", MAINTENANCE_LOCK_ID)
        blocked = await sweep()
        assert blocked.skipped_locked and not blocked.requeued and not blocked.failed and published == []
    assert await support.count_status(db, [alive.job_id, exhausted.job_id], "running") == 2

    # Two sweeps at once: between them, each stuck job is handled exactly once.
    first, second = await asyncio.gather(sweep(), sweep())
    assert sorted(first.requeued + second.requeued) == sorted([alive.job_id, queued_lost.job_id])
    assert first.failed + second.failed == [exhausted.job_id]
    assert sorted(m.message_id for m in published) == sorted([str(alive.job_id), str(queued_lost.job_id)])
    assert json.loads(published[0].body)["targets"]

    # The real path: the maintenance stage of a running worker finds and publishes them.
    stuck = world.jobs()[3:5]
    await jobstore.create_jobs(db, stuck)
    for job in stuck:
        await db.execute(
            """UPDATE scrape_jobs SET status = 'running', attempts = 1,
                                   heartbeat_at = now() - interval '10 minutes' WHERE id = $1""",
            job.job_id,
        )
    cfg = fault_settings.model_copy(update={"stale_job_seconds": 60.0, "maintenance_interval": 0.5})
    async with support.running_worker(cfg, ("scrape", "maintenance")):
        await support.wait_for(
            lambda: jobs_reached(db, [j.job_id for j in stuck]), timeout=60, what="stuck jobs completed"
        )
    for job in stuck:
        path = [(e["from_status"], e["to_status"]) for e in await jobstore.job_events(db, job.job_id)]
        assert path[-3:] == [("running", "retrying"), ("retrying", "running"), ("running", "completed")]


async def test_load_many_jobs_through_three_processes(
    fault_settings: Settings, db: Database, spawn: Spawn, load_jobs: int
) -> None:
    """``load_jobs`` inline jobs of 5 leads each (half of them seen before) through ``--processes 3``: all
    completed, each exactly once, every distinct lead stored once and linked to every job that found it."""
    from leadworker.contracts import LeadRecord

    distinct = max(load_jobs * 5 // 2, 5)
    pool = [LeadRecord(company_name=f"Load {i}", emails=[f"owner{i}@load{i}.example.org"]) for i in range(distinct)]
    jobs = [
        ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[pool[(n * 5 + k) % distinct] for k in range(5)])
        for n in range(load_jobs)
    ]
    ids = [j.job_id for j in jobs]
    await support.publish(fault_settings, db, jobs)
    supervisor = await spawn(
        fault_settings, "--stage", "scrape", "--processes", "3", "--exit-when-idle", "2", LEADWORKER_PREFETCH="50"
    )
    assert await supervisor.wait(600) == 0
    await check_end_state(fault_settings, db, ids)
    assert await db.fetchval("SELECT count(*) FROM raw_leads") == distinct
    assert await db.fetchval("SELECT count(*) FROM scrape_job_leads") == 5 * load_jobs
    totals = await db.fetchrow("SELECT sum(found) AS found, sum(new) AS new, sum(duplicates) AS dup FROM scrape_jobs")
    assert totals is not None and (totals["found"], totals["new"], totals["dup"]) == (
        5 * load_jobs,
        distinct,
        5 * load_jobs - distinct,
    )
    workers = {e["worker"] for e in await db.fetch("SELECT DISTINCT worker FROM job_events WHERE worker IS NOT NULL")}
    assert len(workers) == 3, workers
