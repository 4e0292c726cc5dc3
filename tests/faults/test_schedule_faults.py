"""Schedules under process faults: three ``leadworker run --stage schedule`` processes, a schedule firing every
3 seconds (cron with a seconds field), one process killed with -9 just after a fire, the others restarted one by
one: exactly one job per fire time, each with one message."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.stages import schedule as stage
from leadworker.store import schedules as store
from leadworker.store.pool import Database

EVERY = 3
"""Seconds between fire times of the test's schedule."""


async def _fired(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM schedule_fires"))


@pytest.mark.pgbouncer
async def test_kill9_and_restarts_still_fire_each_time_once(
    settings: Settings, db: Database, spawn: support.Spawn
) -> None:
    topology = await support.declare(settings)
    template = {"source_types": ["website"], "targets": ["https://acme.test/"]}
    row = await store.add_schedule(
        db,
        name="every-3s",
        cron=f"*/{EVERY} * * * * *",
        time_zone="UTC",
        template=template,
        catch_up="latest",
        overlap="allow",
        jitter_seconds=0,
        next_fire_at=None,
        due_at=None,
    )
    assert row is not None
    nxt, due = stage.next_due(row["id"], f"*/{EVERY} * * * * *", "UTC", 0, datetime.now(UTC))
    await store.set_enabled(db, "every-3s", True, nxt, due)
    env = {"LEADWORKER_SCHEDULE_INTERVAL": "0.2"}
    workers = [await spawn(settings, "--stage", "schedule", **env) for _ in range(3)]
    began = await _fired(db)

    async def more_than(n: int) -> bool:
        return await _fired(db) > n

    await support.wait_for(lambda: more_than(began + 1), timeout=60, what="two fires")
    # kill -9 one process just after a fire (it may be the one that made it)
    count = await _fired(db)
    await support.wait_for(lambda: more_than(count), timeout=30, what="the next fire", interval=0.01)
    workers[0].kill()
    assert await workers[0].wait(10) < 0
    # restart the others one by one (graceful stop, start again), and bring a third back
    for worker in workers[1:]:
        await asyncio.sleep(EVERY + 1)
        assert await worker.stop(30) == 0
        workers.append(await spawn(settings, "--stage", "schedule", **env))
    workers.append(await spawn(settings, "--stage", "schedule", **env))
    count = await _fired(db)
    await support.wait_for(lambda: more_than(count + 2), timeout=60, what="fires after the restarts")
    for worker in workers[3:]:
        assert await worker.stop(30) == 0

    fires = await db.fetch("SELECT fire_time, result, job_id, kind, fired_at FROM schedule_fires ORDER BY fire_time")
    times = [f["fire_time"] for f in fires]
    assert len(times) >= 8
    # every fire time from the first to the last, each once (some process always ran)
    assert times == [times[0] + timedelta(seconds=EVERY * n) for n in range(len(times))]
    assert {f["result"] for f in fires} == {"fired"} and {f["kind"] for f in fires} == {"cron"}
    job_ids = [f["job_id"] for f in fires]
    assert len(set(job_ids)) == len(job_ids)
    jobs = await db.fetch("SELECT id, status FROM scrape_jobs")
    assert {j["id"] for j in jobs} == set(job_ids)  # one job per fire time, none besides
    lateness = [(f["fired_at"] - f["fire_time"]).total_seconds() for f in fires]
    assert max(lateness) < EVERY, lateness  # no catch-up was needed: nothing was skipped or doubled

    # one message per job (a process killed between its commit and its publish leaves a queued job for the
    # stuck-job sweep: publish those the same way, then count)
    messages = await support.queue_messages(settings, topology.work_queue("scrape"), limit=len(job_ids) + 10)
    published = [m.message_id for m in messages]
    assert len(published) == len(set(published)) and set(published) <= {str(j) for j in job_ids}
    missing = {str(j) for j in job_ids} - set(published)
    if missing:
        from leadworker.store.maintenance import requeue_stuck_jobs

        async def publish(out: list[object]) -> None:
            published.extend(json.loads(m.body)["job_id"] for m in out)  # type: ignore[attr-defined]

        await asyncio.sleep(0.1)
        await requeue_stuck_jobs(
            db,
            publish,
            work_queue=topology.work_queue("scrape"),
            stale_seconds=0.05,
            policy=Topology.from_settings(settings).policy,
            include_queued=True,
        )
        assert set(published) == {str(j) for j in job_ids}
    schedule = await store.get_schedule(db, "every-3s")
    assert schedule is not None and schedule["last_fire_at"] == times[-1] and schedule["last_job_id"] == job_ids[-1]
