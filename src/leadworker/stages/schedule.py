"""The ``schedule`` stage: fires due schedules, each fire time exactly once across any number of instances.

Every ``LEADWORKER_SCHEDULE_INTERVAL`` seconds a worker running the stage, in one transaction,

1. takes the enabled schedules whose due time has come (``FOR UPDATE SKIP LOCKED``: instances share the work,
   none waits for another),
2. works out the fire times between the schedule's next fire time and now and keeps those its catch-up policy
   fires (``latest``: the latest only; ``skip``: the latest if it is at most ``LEADWORKER_SCHEDULE_GRACE`` old,
   else none; ``all``: every one, at most ``LEADWORKER_SCHEDULE_CATCHUP_LIMIT``, the latest),
3. for each, inserts ``(schedule, fire time)`` under its unique key and creates the job row (``queued``, the
   schedule's template with a new job id) — or, with overlap ``skip`` while the schedule's previous job is still
   queued or running, records the time as skipped,
4. moves the schedule to its next fire time (plus its jitter),

then commits, and only then publishes the new jobs' messages with confirms. A fire time can therefore make one
job at most, whoever races for it and whatever crashes; a process killed between the commit and the publish
leaves a ``queued`` job without a message, which the maintenance stage's stuck-job sweep publishes
(:mod:`leadworker.store.maintenance`).

The clock is a parameter (:data:`Clock`), so that tests travel in time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from leadworker.broker.producer import job_message
from leadworker.broker.publisher import OutgoingMessage
from leadworker.broker.topology import Topology
from leadworker.common.cron import count_between, due_times, jitter_of, next_after, time_zone
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.errors import ServiceUnavailable, one_line
from leadworker.ops.metrics import Metrics
from leadworker.store import schedules as store
from leadworker.store.pool import Database, is_connection_failure

log = structlog.get_logger("leadworker.schedule")

Clock = Callable[[], datetime]
"""The time now, timezone-aware."""
Publish = Callable[[list[OutgoingMessage]], Awaitable[None]]
"""Publishes messages with confirms (``ConfirmedPublisher.publish_many``)."""

DUE_PER_ROUND = 100
"""Schedules one transaction fires at most; more are left for the next round (or another instance)."""
MISSED_COUNTED = 10_000
"""Missed fire times counted at most per schedule and round (a week's outage of a per-second schedule is not
walked)."""
CATCH_UP_POLICIES = ("latest", "skip", "all")
OVERLAP_POLICIES = ("skip", "allow")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Limits:
    """How the stage treats missed times (from the settings)."""

    grace: float
    catchup_limit: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(grace=settings.schedule_grace, catchup_limit=settings.schedule_catchup_limit)


@dataclass(frozen=True)
class Fire:
    """One fire time handled: ``job`` is the job it made, None when skipped for overlap."""

    schedule: str
    fire_time: datetime
    job: ScrapeJob | None
    lateness: float


@dataclass
class Round:
    """What one round did."""

    fires: list[Fire]
    missed: dict[str, int]


def job_from_template(template: dict[str, Any], job_id: uuid.UUID | None = None) -> ScrapeJob:
    """The schedule's job: its template with a (new) job id."""
    return ScrapeJob.model_validate({**template, "job_id": job_id or uuid.uuid4()})


def next_due(
    schedule_id: int, expr: str, zone_name: str, jitter: int, after: datetime
) -> tuple[datetime | None, datetime | None]:
    """``(next fire time, when it is due)`` after ``after``: the due time adds the fire time's jitter."""
    nxt = next_after(expr, time_zone(zone_name), after)
    if nxt is None:
        return None, None
    return nxt, nxt + jitter_of(str(schedule_id), nxt, jitter)


def chosen_times(catch_up: str, times: Sequence[datetime], now: datetime, limits: Limits) -> list[datetime]:
    """The fire times the catch-up policy fires, of the due ``times`` (oldest first)."""
    if not times:
        return []
    if catch_up == "all":
        return list(times)
    if catch_up == "skip" and (now - times[-1]).total_seconds() > limits.grace:
        return []
    return [times[-1]]


async def _fire_schedule(
    conn: asyncpg.Connection, row: asyncpg.Record, now: datetime, limits: Limits, worker: str
) -> tuple[list[Fire], int]:
    """Fire one locked, due schedule; return its fires and how many due times its policy left out."""
    zone = time_zone(row["time_zone"])
    times, more = due_times(row["cron"], zone, row["next_fire_at"], now, limits.catchup_limit)
    chosen = chosen_times(row["catch_up"], times, now, limits)
    missed = len(times) - len(chosen)
    if more:  # older times than the latest `catchup_limit`: counted, not fired
        missed += count_between(row["cron"], zone, row["next_fire_at"], times[0], MISSED_COUNTED)
    fires: list[Fire] = []
    previous: uuid.UUID | None = row["last_job_id"]
    for fire_time in chosen:
        job = None
        if row["overlap"] == "allow" or not await store.job_is_active(conn, previous):
            job = job_from_template(row["template"])
        if await store.record_fire(
            conn,
            schedule_id=row["id"],
            fire_time=fire_time,
            kind="cron",
            job=job,
            previous_job_id=previous,
            worker=worker,
        ):
            fires.append(Fire(row["name"], fire_time, job, (now - fire_time).total_seconds()))
            if job is not None:
                previous = job.job_id
    nxt, due = next_due(row["id"], row["cron"], row["time_zone"], row["jitter_seconds"], max([now, *times]))
    await store.advance(
        conn,
        row["id"],
        next_fire_at=nxt,
        due_at=due,
        last_fire_at=chosen[-1] if chosen else None,
        last_job_id=previous if previous != row["last_job_id"] else None,
    )
    return fires, missed


async def fire_due(
    db: Database, publish: Publish, topology: Topology, *, now: datetime, limits: Limits, worker: str
) -> Round:
    """One round: fire every due schedule (one transaction), then publish the jobs made (with confirms)."""
    result = Round([], {})
    async with db.transaction() as conn:
        for row in await store.lock_due(conn, now, DUE_PER_ROUND):
            try:
                async with conn.transaction():  # a savepoint: one schedule that cannot fire does not stop the rest
                    fires, missed = await _fire_schedule(conn, row, now, limits, worker)
            except (asyncpg.PostgresError, ValueError) as exc:  # a template or expression no longer valid
                if is_connection_failure(exc):
                    raise
                log.error("schedule cannot fire", schedule=row["name"], error=one_line(exc))
                continue
            result.fires += fires
            if missed:
                result.missed[row["name"]] = missed
    messages = [job_message(f.job, topology) for f in result.fires if f.job is not None]
    if messages:
        await publish(messages)
    for fire in result.fires:
        log.info(
            "schedule fired" if fire.job else "schedule skipped: its previous job is still running",
            schedule=fire.schedule,
            fire_time=fire.fire_time.isoformat(),
            job_id=str(fire.job.job_id) if fire.job else None,
            lateness=round(fire.lateness, 3),
        )
    for name, count in result.missed.items():
        log.warning("schedule missed fire times (catch-up policy)", schedule=name, missed=count)
    return result


async def run_now(
    db: Database, publish: Publish, topology: Topology, name: str, *, now: datetime, worker: str
) -> Fire | None:
    """Fire the schedule ``name`` now, whatever its cron expression, pause and overlap policy say (a manual
    fire, recorded with ``kind='manual'``); its next fire time does not change. None if there is no such
    schedule."""
    async with db.transaction() as conn:
        row = await store.lock_schedule(conn, name)
        if row is None:
            return None
        job = job_from_template(row["template"])
        await store.record_fire(
            conn,
            schedule_id=row["id"],
            fire_time=now,
            kind="manual",
            job=job,
            previous_job_id=row["last_job_id"],
            worker=worker,
        )
        await store.set_last_job(conn, row["id"], job.job_id)
    await publish([job_message(job, topology)])
    return Fire(name, now, job, 0.0)


def count(metrics: Metrics, result: Round) -> None:
    for fire in result.fires:
        metrics.schedule_fires.labels(fire.schedule, "fired" if fire.job else "overlap").inc()
        metrics.schedule_lateness.labels(fire.schedule).observe(max(0.0, fire.lateness))
    for name, missed in result.missed.items():
        metrics.schedule_fires.labels(name, "missed").inc(missed)


async def report_overdue(db: Database, metrics: Metrics, now: datetime, shown: set[str]) -> None:
    """Set ``leadworker_schedule_overdue_seconds`` of every enabled schedule (and drop the series of those gone
    or paused): what the overdue alert reads."""
    rows = await store.overdue(db, now)
    names = {r["name"] for r in rows}
    for row in rows:
        metrics.schedule_overdue.labels(row["name"]).set(row["seconds"])
    for gone in shown - names:
        metrics.schedule_overdue.remove(gone)
    shown.clear()
    shown.update(names)


async def run(
    db: Database,
    publish: Publish,
    topology: Topology,
    settings: Settings,
    metrics: Metrics,
    worker: str,
    *,
    clock: Clock = utc_now,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """The stage's loop, while the worker's broker connection lasts (cancelled with it)."""
    limits = Limits.from_settings(settings)
    shown: set[str] = set()
    while True:
        try:
            now = clock()
            count(metrics, await fire_due(db, publish, topology, now=now, limits=limits, worker=worker))
            await report_overdue(db, metrics, now, shown)
        except ServiceUnavailable:
            pass  # the database watcher reports it; try again next round
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("firing schedules failed", error=repr(exc))
        await sleep(settings.schedule_interval)
