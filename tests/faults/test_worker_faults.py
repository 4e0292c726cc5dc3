"""Workers dying and stopping under load: kill -9, SIGTERM within and past the grace, the portable signal path."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

from faultkit import count_status
from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database
from leadworker.worker import Worker, install_stop_handlers


def expected(world: LoadWorld, jobs: list[ScrapeJob]) -> dict[uuid.UUID, set[str]]:
    by_host = {c.host: c.email for c in world.companies}
    return {job.job_id: {by_host[job.targets[0].split("//")[1].split(":")[0]]} for job in jobs}


async def test_kill9_mid_batch_then_a_new_worker(fault_settings: Settings, db: Database, world: LoadWorld,
                                                 spawn: Any) -> None:
    jobs = world.jobs(copies=3)
    ids = [j.job_id for j in jobs]
    await support.publish(fault_settings, db, jobs)

    first = await spawn(fault_settings, "--stage", "scrape")
    await support.wait_for(lambda: _at_least(db, ids, 60), timeout=120, what="60 jobs completed")
    first.kill()
    assert await first.wait() == -signal.SIGKILL
    running = await count_status(db, ids, "running")

    second = await spawn(fault_settings, "--stage", "scrape", "--exit-when-idle", "2")
    assert await second.wait(180) == 0

    end = await check_end_state(fault_settings, db, ids, expected_leads=expected(world, jobs))
    assert end.statuses == {"completed": len(jobs)}
    assert running > 0 and end.takeovers >= running, (running, end.takeovers)
    assert not [line for line in second.logs() if line.get("level") == "error"]


async def _at_least(db: Database, ids: list[uuid.UUID], n: int) -> bool:
    return await count_status(db, ids, "completed") >= n


async def test_sigterm_lets_long_jobs_finish_within_the_grace(fault_settings: Settings, db: Database,
                                                              spawn: Any) -> None:
    slow = support.ThreadedServer(LoadWorld(8, delay=1.0))
    world: LoadWorld = slow.start()
    try:
        cfg = fault_settings.model_copy(update={"resolve": world.resolve(), "shutdown_grace": 30.0})
        jobs = world.jobs()
        await support.publish(cfg, db, jobs)
        worker = await spawn(cfg, "--stage", "scrape")
        await support.wait_for(lambda: _running(db, jobs, 8), timeout=60, what="8 jobs running")
        worker.terminate()
        assert await worker.wait(60) == 0
        end = await check_end_state(cfg, db, [j.job_id for j in jobs], expected_leads=expected(world, jobs))
        assert end.statuses == {"completed": 8} and end.takeovers == 0
        assert worker.events("stopping")[0]["in_flight"] == 8
    finally:
        slow.stop()


async def _running(db: Database, jobs: list[ScrapeJob], n: int) -> bool:
    return await count_status(db, [j.job_id for j in jobs], "running") >= n


async def test_sigterm_past_the_grace_returns_messages(fault_settings: Settings, db: Database,
                                                       spawn: Any) -> None:
    slow = support.ThreadedServer(LoadWorld(4, delay=30.0))
    world: LoadWorld = slow.start()
    try:
        cfg = fault_settings.model_copy(update={"resolve": world.resolve(), "shutdown_grace": 1.0})
        jobs = world.jobs()
        await support.publish(cfg, db, jobs)
        worker = await spawn(cfg, "--stage", "scrape")
        await support.wait_for(lambda: _running(db, jobs, 4), timeout=60, what="4 jobs running")
        worker.terminate()
        assert await worker.wait(30) == 0
        queue = Topology.from_settings(cfg).work_queue("scrape")
        assert await support.queue_depth(cfg, queue) == 4  # all returned, none lost
        assert worker.events("cancelled after shutdown grace")[0]["cancelled"] == 4

        world.delay = 0.0  # the sites answer quickly now: the next worker takes the jobs over
        await support.run_until_idle(cfg)
        end = await check_end_state(cfg, db, [j.job_id for j in jobs], expected_leads=expected(world, jobs))
        assert end.statuses == {"completed": 4} and end.takeovers == 4
    finally:
        slow.stop()


async def test_portable_stop_path_without_add_signal_handler(fault_settings: Settings, db: Database,
                                                             world: LoadWorld) -> None:
    """Windows has no ``loop.add_signal_handler``: the stop handlers fall back to ``signal.signal``."""
    jobs = world.jobs()[:20]
    await support.publish(fault_settings, db, jobs)
    worker = Worker(fault_settings, ["scrape"])
    loop = asyncio.get_running_loop()

    class PortableLoop:
        """The running loop, as seen on Windows: no signal handlers."""

        def add_signal_handler(self, *args: object) -> None:
            raise NotImplementedError

        def remove_signal_handler(self, *args: object) -> bool:
            raise NotImplementedError

        def call_soon_threadsafe(self, *args: Any) -> Any:
            return loop.call_soon_threadsafe(*args)

    restore = install_stop_handlers(PortableLoop(), worker.request_stop)  # type: ignore[arg-type]
    try:
        task = asyncio.create_task(worker.run())
        await support.wait_for(lambda: _at_least(db, [j.job_id for j in jobs], 5), timeout=60, what="5 done")
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(task, 60) == 0
    finally:
        restore()
    assert worker.stop_reason == "SIGTERM"
    await support.run_until_idle(fault_settings)
    await check_end_state(fault_settings, db, [j.job_id for j in jobs])
