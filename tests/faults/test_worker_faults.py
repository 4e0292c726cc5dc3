"""Workers dying and stopping under load: kill -9; SIGTERM within and past the grace, repeated; Ctrl-C twice;
the portable signal path that NSSM's console stop takes on Windows."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database
from support import Spawn, WorkerProcess, count_status, jobs_reached

WINDOWS_LIKE_RUN = Path(__file__).with_name("windows_like_run.py")


def expected(world: LoadWorld, jobs: list[ScrapeJob]) -> dict[uuid.UUID, set[str]]:
    by_host = {c.host: c.email for c in world.companies}
    return {job.job_id: {by_host[job.targets[0].split("//")[1].split(":")[0]]} for job in jobs}


async def test_kill9_mid_batch_then_a_new_worker(
    fault_settings: Settings, db: Database, world: LoadWorld, spawn: Spawn
) -> None:
    jobs = world.jobs(copies=3)
    ids = [j.job_id for j in jobs]
    await support.publish(fault_settings, db, jobs)

    first = await spawn(fault_settings, "--stage", "scrape")
    await support.wait_for(lambda: jobs_reached(db, ids, at_least=60), timeout=120, what="60 jobs completed")
    first.kill()
    assert await first.wait() == -signal.SIGKILL
    running = await count_status(db, ids, "running")

    second = await spawn(fault_settings, "--stage", "scrape", "--exit-when-idle", "2")
    assert await second.wait(180) == 0

    end = await check_end_state(fault_settings, db, ids, expected_leads=expected(world, jobs))
    assert end.statuses == {"completed": len(jobs)}
    assert running > 0 and end.takeovers >= running, (running, end.takeovers)
    assert not [line for line in second.logs() if line.get("level") == "error"]


async def test_sigterm_lets_long_jobs_finish_within_the_grace(
    fault_settings: Settings, db: Database, spawn: Spawn
) -> None:
    slow = support.ThreadedServer(LoadWorld(8, delay=1.0))
    world: LoadWorld = slow.start()
    try:
        cfg = fault_settings.model_copy(update={"resolve": world.resolve(), "shutdown_grace": 30.0})
        jobs = world.jobs()
        await support.publish(cfg, db, jobs)
        worker = await spawn(cfg, "--stage", "scrape")
        await support.wait_for(
            lambda: jobs_reached(db, [j.job_id for j in jobs], "running"), timeout=60, what="8 jobs running"
        )
        worker.terminate()
        await support.wait_for(lambda: bool(worker.events("stopping")), timeout=10, what="stopping")
        worker.terminate()  # service managers signal every process of a group, maybe twice: not a hurry
        assert await worker.wait(60) == 0
        end = await check_end_state(cfg, db, [j.job_id for j in jobs], expected_leads=expected(world, jobs))
        assert end.statuses == {"completed": 8} and end.takeovers == 0
        assert worker.events("stopping")[0]["in_flight"] == 8
    finally:
        slow.stop()


async def test_sigterm_past_the_grace_returns_messages(fault_settings: Settings, db: Database, spawn: Spawn) -> None:
    slow = support.ThreadedServer(LoadWorld(4, delay=30.0))
    world: LoadWorld = slow.start()
    try:
        cfg = fault_settings.model_copy(update={"resolve": world.resolve(), "shutdown_grace": 1.0})
        jobs = world.jobs()
        await support.publish(cfg, db, jobs)
        worker = await spawn(cfg, "--stage", "scrape")
        await support.wait_for(
            lambda: jobs_reached(db, [j.job_id for j in jobs], "running"), timeout=60, what="4 jobs running"
        )
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


async def test_a_second_ctrl_c_cancels_in_flight_deliveries_at_once(
    fault_settings: Settings, db: Database, spawn: Spawn
) -> None:
    """Ctrl-C starts the graceful stop; a second Ctrl-C does not wait out the grace: what still runs is
    cancelled now and its messages go back to the queue."""
    slow = support.ThreadedServer(LoadWorld(4, delay=30.0))
    world: LoadWorld = slow.start()
    try:
        cfg = fault_settings.model_copy(
            update={"resolve": world.resolve(), "shutdown_grace": 120.0, "page_timeout": 60.0}
        )  # the pages take 30 s
        jobs = world.jobs()
        await support.publish(cfg, db, jobs)
        worker = await spawn(cfg, "--stage", "scrape")
        await support.wait_for(
            lambda: jobs_reached(db, [j.job_id for j in jobs], "running"), timeout=60, what="4 jobs running"
        )
        worker.interrupt()
        await support.wait_for(lambda: bool(worker.events("stopping")), timeout=10, what="stopping")
        (stopping,) = worker.events("stopping")
        assert stopping["reason"] == "SIGINT" and stopping["grace"] == 120.0 and stopping["in_flight"] == 4
        await asyncio.sleep(1.0)
        assert worker.returncode is None, "one Ctrl-C waits for the deliveries in flight"
        second = time.monotonic()
        worker.interrupt()
        assert await worker.wait(20) == 0
        assert time.monotonic() - second < 15, "the second Ctrl-C must not wait out the 120 s grace"
        assert worker.events("second interrupt: cancelling in-flight deliveries now")
        assert worker.events("cancelled after shutdown grace")[0]["cancelled"] == 4
        queue = Topology.from_settings(cfg).work_queue("scrape")
        assert await support.queue_depth(cfg, queue) == 4  # all returned, none lost
        assert await count_status(db, [j.job_id for j in jobs], "completed") == 0
    finally:
        slow.stop()


async def test_windows_console_stop_path(fault_settings: Settings, db: Database, tmp_path: Path) -> None:
    """Windows' event loops have no signal handlers, so NSSM's console Ctrl+C reaches the worker through the
    portable path (``signal.signal``). A real ``leadworker run`` on such a loop gets a real SIGINT (what Python
    makes of a console Ctrl+C): it stops consuming, lets the deliveries in flight finish and exits 0."""
    slow = support.ThreadedServer(LoadWorld(6, delay=1.0))
    world: LoadWorld = slow.start()
    worker: WorkerProcess | None = None
    try:
        cfg = fault_settings.model_copy(update={"resolve": world.resolve(), "shutdown_grace": 30.0})
        jobs = world.jobs()
        ids = [j.job_id for j in jobs]
        await support.publish(cfg, db, jobs)
        worker = await WorkerProcess.start(cfg, tmp_path, "--stage", "scrape", program=WINDOWS_LIKE_RUN)
        await support.wait_for(lambda: jobs_reached(db, ids, "running"), timeout=60, what="6 jobs running")
        worker.interrupt()
        assert await worker.wait(60) == 0, worker.output()[-3000:]
        (stopping,) = worker.events("stopping")
        assert stopping["reason"] == "SIGINT" and stopping["in_flight"] == 6
        assert worker.events("cancelled after shutdown grace") == []
        end = await check_end_state(cfg, db, ids, expected_leads=expected(world, jobs))
        assert end.statuses == {"completed": 6} and end.takeovers == 0
    finally:
        if worker is not None and worker.returncode is None:
            worker.kill()
            await worker.wait(30)
        slow.stop()
