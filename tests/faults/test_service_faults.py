"""The broker and the database going away under load, for real: private servers stopped and started."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from faultkit import count_status
from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database
from support import PrivatePostgres, PrivateRabbit


def expected(world: LoadWorld, jobs: list[ScrapeJob]) -> dict[uuid.UUID, set[str]]:
    by_host = {c.host: c.email for c in world.companies}
    return {job.job_id: {by_host[job.targets[0].split("//")[1].split(":")[0]]} for job in jobs}


async def completed(db: Database, ids: list[uuid.UUID], n: int) -> bool:
    try:
        return await count_status(db, ids, "completed") >= n
    except Exception:
        return False


async def test_broker_restart_under_load(fault_settings: Settings, db: Database, world: LoadWorld,
                                         private_rabbit: PrivateRabbit, spawn: Any) -> None:
    cfg = fault_settings.model_copy(update={"amqp_url": private_rabbit.url(), "amqp_heartbeat": 5})
    jobs = world.jobs(copies=3)
    ids = [j.job_id for j in jobs]
    await support.publish(cfg, db, jobs)
    worker = await spawn(cfg, "--stage", "scrape")
    try:
        await support.wait_for(lambda: completed(db, ids, 60), timeout=120, what="60 jobs completed")
        private_rabbit.stop_app()
        await asyncio.sleep(3)
        assert worker.process.returncode is None, "the worker must survive the broker going away"
        private_rabbit.start_app()
        await support.wait_for(lambda: completed(db, ids, len(ids)), timeout=180, what="all jobs completed")
        assert worker.process.returncode is None
        reconnects = worker.events("broker connection lost; reconnecting")
        assert reconnects, "the worker should have noticed the broker restart"
        assert len(worker.events("worker ready")) >= 2
    finally:
        worker.terminate()
    assert await worker.wait(60) == 0
    end = await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
    assert end.statuses == {"completed": len(ids)}
    text = worker.log_path.read_text()
    assert "unknown delivery tag" not in text and "PRECONDITION_FAILED" not in text  # no late ack


async def test_connections_closed_by_the_broker(fault_settings: Settings, db: Database, world: LoadWorld,
                                                private_rabbit: PrivateRabbit, spawn: Any) -> None:
    """The broker drops every connection (a network blip): deliveries in flight are redelivered, not lost,
    not acked late on the new channel, and every job still completes exactly once."""
    cfg = fault_settings.model_copy(update={"amqp_url": private_rabbit.url()})
    jobs = world.jobs(copies=2)
    ids = [j.job_id for j in jobs]
    await support.publish(cfg, db, jobs)
    worker = await spawn(cfg, "--stage", "scrape")
    try:
        for round_, target in enumerate((40, 100), start=1):
            await support.wait_for(lambda t=target: completed(db, ids, t), timeout=120, what=f"{target} done")
            await support.wait_for(lambda r=round_: len(worker.events("worker ready")) >= r, timeout=30,
                                   what="connected")
            await asyncio.to_thread(private_rabbit.close_connections, "leadworker fault test")
        await support.wait_for(lambda: completed(db, ids, len(ids)), timeout=180, what="all jobs completed")
    finally:
        worker.terminate()
    assert await worker.wait(60) == 0
    await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
    assert len(worker.events("broker connection lost; reconnecting")) >= 2


async def test_database_outage_under_load(world: LoadWorld, private_postgres: PrivatePostgres,
                                          private_db_url: str) -> None:
    cfg = support.test_settings(private_db_url, resolve=world.resolve(), enrich=False)
    db = await Database.connect(private_db_url, min_size=1, max_size=3)
    try:
        jobs = world.jobs(copies=3)
        ids = [j.job_id for j in jobs]
        await support.publish(cfg, db, jobs)
        async with support.running_worker(cfg) as worker:
            await support.wait_for(lambda: completed(db, ids, 60), timeout=120, what="60 jobs completed")
            assert worker.readiness.ready
            await asyncio.to_thread(private_postgres.stop)
            down_since = time.monotonic()
            await support.wait_for(lambda: not worker.readiness.database_available, timeout=30,
                                   what="the worker to notice the outage")
            not_ready_seen = 0
            while time.monotonic() - down_since < 10:
                not_ready_seen += not worker.readiness.ready
                await asyncio.sleep(0.5)
            assert not_ready_seen >= 10, "readiness must say not ready during the outage"
            await asyncio.to_thread(private_postgres.start)
            await support.wait_for(lambda: worker.readiness.ready, timeout=30, what="ready again")
            await support.wait_for(lambda: completed(db, ids, len(ids)), timeout=180, what="all completed")
            requeued = worker.metrics.deliveries.labels(worker.topology.work_queue("scrape"), "requeued")._value
            assert requeued.get() >= 1, "deliveries in flight during the outage go back to the queue"
        end = await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
        assert end.statuses == {"completed": len(ids)}
    finally:
        await db.close()
        await support.delete_queues(cfg)


async def test_idle_worker_notices_a_database_outage(world: LoadWorld, private_postgres: PrivatePostgres,
                                                     private_db_url: str) -> None:
    """With nothing to do, readiness must still follow the database (its probe runs on its own connection)."""
    cfg = support.test_settings(private_db_url, resolve=world.resolve(), enrich=False)
    try:
        async with support.running_worker(cfg) as worker:
            await asyncio.to_thread(private_postgres.stop)
            await support.wait_for(lambda: not worker.readiness.ready, timeout=15, what="not ready while down")
            assert not worker.readiness.database_available
            await asyncio.to_thread(private_postgres.start)
            await support.wait_for(lambda: worker.readiness.ready, timeout=15, what="ready again")
    finally:
        await support.delete_queues(cfg)
