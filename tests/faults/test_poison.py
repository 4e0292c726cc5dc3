"""Poison input: every kind ends in the dead queue with a reason, the job row (if known) failed, the worker
going on; a message that kills its worker every time is stopped too."""

from __future__ import annotations

import json
import uuid
from typing import Any

from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.broker.dlq import describe
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.store.pool import Database


async def test_poison_messages_among_good_ones(fault_settings: Settings, db: Database, world: LoadWorld) -> None:
    topology = Topology.from_settings(fault_settings)
    queue = topology.work_queue("scrape")
    good = world.jobs()[:50]
    await support.publish(fault_settings, db, good[:25])
    unknown_source_id, wrong_shape_id, oversize_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    poison: dict[str, tuple[bytes, str | None]] = {
        "invalid-json": (b'{"job_id": ', "not JSON"),
        "wrong-shape": (
            json.dumps({"job_id": str(wrong_shape_id), "targets": "http://a.test/", "max_pages": "many"}).encode(),
            "targets: Input should be a valid list",
        ),
        "json-array": (b"[1, 2, 3]", "expected an object"),
        "oversize": (
            json.dumps({"job_id": str(oversize_id), "pad": "x" * (2 * 1024 * 1024)}).encode(),
            "over the limit of 1048576",
        ),
        "not-utf8": (b'{"job_id": "\xff\xfe"}', "not UTF-8"),
        "unknown-source": (
            json.dumps(
                {"job_id": str(unknown_source_id), "source_types": ["telepathy"], "targets": ["http://a.test/"]}
            ).encode(),
            "unknown source type 'telepathy'",
        ),
        "missing-job-id": (json.dumps({"targets": ["http://a.test/"]}).encode(), "job_id: Field required"),
        "non-uuid-job-id": (
            json.dumps({"job_id": "42", "targets": ["http://a.test/"]}).encode(),
            "job_id: Input should be a valid UUID",
        ),
    }
    message_ids = {
        "wrong-shape": str(wrong_shape_id),
        "oversize": str(oversize_id),
        "unknown-source": str(unknown_source_id),
    }
    for name, (body, _) in poison.items():
        await support.publish_raw(fault_settings, queue, body, message_id=message_ids.get(name, name))
    await support.publish(fault_settings, db, good[25:])

    await support.run_until_idle(fault_settings)

    dead_ids = {message_ids.get(name, name) for name in poison}
    await check_end_state(fault_settings, db, [j.job_id for j in good], expected_dead=dead_ids)
    dead = {
        m.message_id: describe(m, topology.dead_queue(queue))
        for m in await support.queue_messages(fault_settings, topology.dead_queue(queue))
    }
    for name, (_, reason) in poison.items():
        letter = dead[message_ids.get(name, name)]
        assert reason in letter.reason, (name, letter.reason)
        assert letter.original_queue == queue and letter.attempts == 1 and letter.dead_at
    kinds = {name: dead[message_ids.get(name, name)].kind for name in poison}
    assert kinds["oversize"] == "message_too_large" and kinds["unknown-source"] == "unknown_source"
    assert kinds["invalid-json"] == "invalid_message"
    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT id, status, error_kind, error FROM scrape_jobs WHERE id = ANY($1::uuid[])",
            [wrong_shape_id, oversize_id, unknown_source_id],
        )
    }
    assert {r["status"] for r in rows.values()} == {"failed"} and len(rows) == 3
    assert rows[unknown_source_id]["error_kind"] == "unknown_source"
    assert rows[oversize_id]["error_kind"] == "message_too_large"


async def _kill_while_running(db: Database, job_id: uuid.UUID, spawn: Any, settings: Settings, attempt: int) -> None:
    worker = await spawn(settings, "--stage", "scrape")

    async def running() -> bool:
        row = await db.fetchrow("SELECT status, attempts FROM scrape_jobs WHERE id = $1", job_id)
        return row is not None and row["status"] == "running" and row["attempts"] == attempt

    await support.wait_for(running, timeout=60, what=f"attempt {attempt} running")
    worker.kill()
    await worker.wait()


async def test_a_job_that_kills_its_worker_every_time_is_stopped(
    fault_settings: Settings, db: Database, spawn: Any
) -> None:
    """Each time the job starts, its worker dies (kill -9 here; a segfault or the OOM killer in life). After
    max_attempts starts the next claim dead-letters it instead of running it again."""
    hang = support.ThreadedServer(LoadWorld(1, delay=60))
    world: LoadWorld = hang.start()
    try:
        cfg = fault_settings.model_copy(update={"resolve": world.resolve(), "max_attempts": 3})
        (job,) = world.jobs()
        await support.publish(cfg, db, [job])
        for attempt in (1, 2, 3):
            await _kill_while_running(db, job.job_id, spawn, cfg, attempt)
        await support.run_until_idle(cfg)
        row = await db.fetchrow("SELECT status, error_kind, error, attempts FROM scrape_jobs WHERE id = $1", job.job_id)
        assert row is not None and row["status"] == "failed" and row["error_kind"] == "attempts_exhausted"
        assert "worker died" in row["error"]
        await check_end_state(cfg, db, [job.job_id], expected_dead={str(job.job_id)}, allow_failed=True)
    finally:
        hang.stop()


async def test_quorum_delivery_limit_is_the_last_guard(fault_settings: Settings, db: Database, spawn: Any) -> None:
    """With the broker's delivery limit below max_attempts, the broker parks the message itself and says why;
    maintenance finds the job stuck (running, silent, no message) and gives it a fresh message."""
    hang = support.ThreadedServer(LoadWorld(1, delay=60))
    world: LoadWorld = hang.start()
    try:
        cfg = fault_settings.model_copy(
            update={"resolve": world.resolve(), "max_attempts": 3, "delivery_limit": 1, "stale_job_seconds": 1.0}
        )
        (job,) = world.jobs()
        await support.publish(cfg, db, [job])
        for attempt in (1, 2):
            await _kill_while_running(db, job.job_id, spawn, cfg, attempt)
        topology = Topology.from_settings(cfg)
        dead_queue = topology.dead_queue(topology.work_queue("scrape"))
        await support.wait_for(lambda: _depth_is(cfg, dead_queue, 1), timeout=30, what="broker dead-letters it")
        (letter,) = [describe(m, dead_queue) for m in await support.queue_messages(cfg, dead_queue)]
        assert letter.kind == "delivery_limit" and "delivery limit" in letter.reason
        # The job row still says running (its last worker died): maintenance fails it, it has no message left.
        await db.execute("UPDATE scrape_jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1", job.job_id)
        result = support.run_cli(cfg, "maintenance", "requeue-stuck", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["requeued"] == [str(job.job_id)]  # attempt 3 is still allowed
        await support.wait_for(lambda: _status_is(db, job.job_id, "retrying"), timeout=10, what="retrying")
        # Attempt 3 dies too; its message goes back, and the next claim (attempt 4) is refused by our guard.
        await _kill_while_running(db, job.job_id, spawn, cfg, 3)
        await support.run_until_idle(cfg)
        row = await db.fetchrow("SELECT status, error_kind FROM scrape_jobs WHERE id = $1", job.job_id)
        assert row is not None and (row["status"], row["error_kind"]) == ("failed", "attempts_exhausted")
        assert await support.queue_depth(cfg, dead_queue) == 2
        assert await support.count_status(db, [job.job_id], "failed") == 1
    finally:
        hang.stop()


async def _depth_is(settings: Settings, queue: str, n: int) -> bool:
    return await support.queue_depth(settings, queue) == n


async def _status_is(db: Database, job_id: uuid.UUID, status: str) -> bool:
    return await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", job_id) == status


async def test_poison_by_structure_is_parked_at_once(
    fault_settings: Settings, db: Database, world: LoadWorld, spawn: Any
) -> None:
    """Bodies that are JSON-shaped but break the decoder (a RecursionError, a ValueError) or the database (NUL,
    a lone surrogate) are invalid messages: parked on their first delivery, in seconds; the worker goes on."""
    topology = Topology.from_settings(fault_settings)
    queue, dead_queue = topology.work_queue("scrape"), topology.dead_queue(topology.work_queue("scrape"))
    cfg = fault_settings.model_copy(update={"max_attempts": 2})
    nul_id = uuid.uuid4()
    poison: dict[str, tuple[bytes, str]] = {
        "nested-array": (b"[" * 100_000, "nested deeper than"),
        "nested-in-object": (
            b'{"job_id": "' + str(uuid.uuid4()).encode() + b'", "x": ' + b"[" * 100_000,
            "nested deeper than",
        ),
        "huge-integer": (b'{"max_pages": ' + b"9" * 5000 + b"}", "integer string conversion"),
        "not-a-number": (b'{"job_id": "' + str(uuid.uuid4()).encode() + b'", "max_pages": NaN}', "NaN"),
        "nul-text": (
            json.dumps({"job_id": str(nul_id), "user_id": "a\x00b", "targets": ["http://a.test/"]}).encode(),
            "user_id: text contains a NUL",
        ),
        "lone-surrogate": (
            b'{"job_id": "'
            + str(uuid.uuid4()).encode()
            + b'", "source_types": ["inline"], "leads": [{"company_name": "\\ud800"}]}',
            "company_name",
        ),
    }
    worker = await spawn(cfg, "--stage", "scrape")
    for name, (body, _) in poison.items():
        await support.publish_raw(cfg, queue, body, message_id=str(nul_id) if name == "nul-text" else name)

    await support.wait_for(
        lambda: _depth_is(cfg, dead_queue, len(poison)), timeout=60, what="every poison message parked"
    )
    dead = {m.message_id: describe(m, dead_queue) for m in await support.queue_messages(cfg, dead_queue)}
    for name, (_, reason) in poison.items():
        letter = dead[str(nul_id) if name == "nul-text" else name]
        assert letter.kind == "invalid_message" and letter.attempts == 1, (name, letter)
        assert reason in letter.reason, (name, letter.reason)
    row = await db.fetchrow("SELECT status, error_kind FROM scrape_jobs WHERE id = $1", nul_id)
    assert row is not None and (row["status"], row["error_kind"]) == ("failed", "invalid_message")
    # The worker is alive and still works.
    assert worker.process.returncode is None
    good = world.jobs()[:3]
    await support.publish(cfg, db, good)
    await support.wait_for(lambda: support.jobs_reached(db, [j.job_id for j in good]), timeout=60, what="good jobs")
    assert worker.process.returncode is None
    assert await support.queue_depth(cfg, queue) == 0


async def test_a_failing_dead_letter_hook_still_parks_the_message(fault_settings: Settings, db: Database) -> None:
    """The dead-letter hook records the failure on the job row; when that write fails (here a trigger refuses
    it, as a constraint would) the message is parked and acked all the same, not left unsettled."""
    await db.execute("""
        CREATE FUNCTION refuse_failed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'failing this job is refused'; END $$;
        CREATE TRIGGER refuse_failed BEFORE INSERT OR UPDATE ON scrape_jobs
            FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION refuse_failed();
    """)
    topology = Topology.from_settings(fault_settings)
    queue, dead_queue = topology.work_queue("scrape"), topology.dead_queue(topology.work_queue("scrape"))
    job_id = uuid.uuid4()
    await support.publish_raw(
        fault_settings,
        queue,
        json.dumps({"job_id": str(job_id), "max_pages": "many", "targets": ["http://a.test/"]}).encode(),
        message_id=str(job_id),
    )
    async with support.running_worker(fault_settings) as worker:
        await support.wait_for(lambda: _depth_is(fault_settings, dead_queue, 1), timeout=30, what="parked")
    # Acked: had the delivery stayed unsettled, the worker's stop would have returned it to the queue.
    assert await support.queue_depth(fault_settings, queue) == 0
    failures = worker.metrics.registry.get_sample_value("leadworker_hook_failures_total", {"queue": queue})
    (letter,) = [describe(m, dead_queue) for m in await support.queue_messages(fault_settings, dead_queue)]
    assert letter.kind == "invalid_message" and "max_pages" in letter.reason
    assert failures == 1
    assert await db.fetchval("SELECT count(*) FROM scrape_jobs WHERE id = $1", job_id) == 0
