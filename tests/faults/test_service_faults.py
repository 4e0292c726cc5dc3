"""The broker and the database going away under load, for real: private servers stopped and started."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import pytest
from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database
from support import PrivatePostgres, PrivateRabbit, Spawn, jobs_reached


def expected(world: LoadWorld, jobs: list[ScrapeJob]) -> dict[uuid.UUID, set[str]]:
    by_host = {c.host: c.email for c in world.companies}
    return {job.job_id: {by_host[job.targets[0].split("//")[1].split(":")[0]]} for job in jobs}


async def test_broker_restart_under_load(
    fault_settings: Settings, db: Database, world: LoadWorld, private_rabbit: PrivateRabbit, spawn: Spawn
) -> None:
    cfg = fault_settings.model_copy(update={"amqp_url": private_rabbit.url(), "amqp_heartbeat": 5})
    jobs = world.jobs(copies=3)
    ids = [j.job_id for j in jobs]
    await support.publish(cfg, db, jobs)
    worker = await spawn(cfg, "--stage", "scrape")
    try:
        await support.wait_for(lambda: jobs_reached(db, ids, at_least=60), timeout=120, what="60 jobs completed")
        private_rabbit.stop_app()
        await asyncio.sleep(3)
        assert worker.returncode is None, "the worker must survive the broker going away"
        private_rabbit.start_app()
        await support.wait_for(lambda: jobs_reached(db, ids), timeout=180, what="all jobs completed")
        assert worker.returncode is None
        reconnects = worker.events("broker connection lost; reconnecting")
        assert reconnects, "the worker should have noticed the broker restart"
        assert len(worker.events("worker ready")) >= 2
    finally:
        worker.terminate()
    assert await worker.wait(60) == 0
    end = await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
    assert end.statuses == {"completed": len(ids)}
    text = worker.output()
    assert "unknown delivery tag" not in text and "PRECONDITION_FAILED" not in text  # no late ack
    assert_cancelled_not_acked_late(worker)


def assert_cancelled_not_acked_late(worker: support.WorkerProcess) -> None:
    """The deliveries running when the channel died were cancelled: none ran on to an ack the dead channel
    could not carry."""
    cut = [line["in_flight"] for line in worker.events("channel closed; in-flight deliveries will be redelivered")]
    assert cut and max(cut) > 0, "the fault should have caught deliveries in flight"
    assert worker.events("ack lost; the broker will redeliver") == []


async def test_connections_closed_by_the_broker(
    fault_settings: Settings, db: Database, world: LoadWorld, private_rabbit: PrivateRabbit, spawn: Spawn
) -> None:
    """The broker drops every connection (a network blip): deliveries in flight are redelivered, not lost,
    not acked late on the new channel, and every job still completes exactly once."""
    cfg = fault_settings.model_copy(update={"amqp_url": private_rabbit.url()})
    jobs = world.jobs(copies=2)
    ids = [j.job_id for j in jobs]
    await support.publish(cfg, db, jobs)
    worker = await spawn(cfg, "--stage", "scrape")
    try:
        for round_, target in enumerate((40, 100), start=1):
            await support.wait_for(
                lambda t=target: jobs_reached(db, ids, at_least=t), timeout=120, what=f"{target} done"
            )
            await support.wait_for(
                lambda r=round_: len(worker.events("worker ready")) >= r, timeout=30, what="connected"
            )
            await asyncio.to_thread(private_rabbit.close_connections, "leadworker fault test")
        await support.wait_for(lambda: jobs_reached(db, ids), timeout=180, what="all jobs completed")
    finally:
        worker.terminate()
    assert await worker.wait(60) == 0
    await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
    assert len(worker.events("broker connection lost; reconnecting")) >= 2
    assert_cancelled_not_acked_late(worker)


@pytest.mark.pgbouncer
async def test_database_outage_under_load(
    world: LoadWorld, private_postgres: PrivatePostgres, private_db_url: str
) -> None:
    """PostgreSQL goes away under load (its port then only accepts and drops connections, as a proxy before a
    dead server does): deliveries in flight go back to the queue, not to a retry tier; the broker sees no
    consumer; readiness is false; a probe knocks about once a second; all resumes when the server is back."""
    cfg = support.test_settings(private_db_url, resolve=world.resolve(), enrich=False)
    queue = Topology.from_settings(cfg).work_queue("scrape")
    db = await Database.connect(
        private_db_url, min_size=1, max_size=3, transaction_pooled=support.is_pooled(private_db_url)
    )
    try:
        jobs = world.jobs(copies=3)
        ids = [j.job_id for j in jobs]
        await support.publish(cfg, db, jobs)
        async with support.running_worker(cfg) as worker:
            await support.wait_for(lambda: jobs_reached(db, ids, at_least=60), timeout=120, what="60 completed")
            assert worker.readiness.ready
            await asyncio.to_thread(private_postgres.stop)
            knocks = await AcceptAndDrop.listen(private_postgres.port)
            try:
                await support.wait_for(
                    lambda: not worker.readiness.ready, timeout=30, what="the worker to notice the outage"
                )
                await asyncio.sleep(1.5)  # deliveries in flight settle (given back)
                assert await support.consumer_count(cfg, queue) == 0, "every consumer pauses"
                began = time.monotonic()
                while time.monotonic() - began < 5:
                    assert not worker.readiness.ready, "readiness must say not ready during the outage"
                    await asyncio.sleep(0.25)
                ended = time.monotonic()
                # The probe's knocks (other connection attempts may come too, never in its place): no
                # silence longer than its second (with slack for a loaded machine), and no tight loop.
                knocks_in_window = [t for t in knocks.times if began <= t <= ended]
                marks = [began, *knocks_in_window, ended]
                longest = max(b - a for a, b in itertools.pairwise(marks))
                assert longest < 1.8, f"no connection attempt for {longest:.2f} s: the probe pings each second"
                assert len(knocks_in_window) <= 15, f"{len(knocks_in_window)} connection attempts in 5 s"
            finally:
                await knocks.close()
            await asyncio.to_thread(private_postgres.start)
            back = time.monotonic()
            await support.wait_for(lambda: worker.readiness.ready, timeout=30, what="ready again")
            assert time.monotonic() - back < 3, "consumption resumes within a probe's second of the server"
            await support.wait_for(lambda: jobs_reached(db, ids), timeout=180, what="all completed")
            settled = {
                outcome: worker.metrics.registry.get_sample_value(
                    "leadworker_deliveries_total", {"queue": queue, "outcome": outcome}
                )
                for outcome in ("requeued", "retry", "dead")
            }
        requeued = settled["requeued"] or 0
        assert requeued >= 1, "deliveries in flight during the outage go back to the queue"
        # Given back, not retried: no delivery went through a retry tier (which counts an attempt) or died.
        assert settled["retry"] == settled["dead"] == 0, settled
        end = await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
        assert end.statuses == {"completed": len(ids)} and end.retries == 0
        # Only a job that had started counts that start, as after a crash (taken over, attempt + 1): at most
        # one per delivery given back.
        assert end.takeovers <= requeued, (end.takeovers, requeued)
        assert await db.fetchval("SELECT max(attempts) FROM scrape_jobs WHERE id = ANY($1::uuid[])", ids) <= 2
    finally:
        await db.close()
        await support.delete_queues(cfg)


class AcceptAndDrop:
    """A listener that closes every connection at once and notes when each came."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._server: asyncio.Server | None = None

    @classmethod
    async def listen(cls, port: int) -> AcceptAndDrop:
        listener = cls()
        listener._server = await asyncio.start_server(listener._drop, "127.0.0.1", port)
        return listener

    async def _drop(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.times.append(time.monotonic())
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.mark.pgbouncer
async def test_idle_worker_notices_a_database_outage(
    world: LoadWorld, private_postgres: PrivatePostgres, private_db_url: str
) -> None:
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
