"""The worker's watchers: tasks beside the connection loop that notice what the loop cannot.

- :func:`watch_liveness`: a consumer that silently stopped receiving (forces a reconnect; after
  :data:`MAX_STALLS` in a row, exits for the supervisor to restart the process);
- :func:`watch_database`: probes PostgreSQL on a connection of its own, pauses and resumes consumption;
- :func:`watch_memory`: drains the worker for a restart above ``LEADWORKER_MEMORY_LIMIT_MB``;
- :func:`watch_idle`: ``--exit-when-idle``;
- :func:`maintain` and :func:`every_interval`: the maintenance stage (with :func:`retrain`, the learned
  model's retraining) and the stages' periodic work;
- :func:`register_process`: the process's row in ``worker_processes`` (``leadworker workers``, the API).

They read and steer the worker through :class:`WatchedWorker`, the part of
:class:`~leadworker.worker.root.Worker` they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
from aio_pika.abc import AbstractConnection

from leadworker import __version__
from leadworker.broker.consumer import StageConsumer
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.broker.topology import queue_depths
from leadworker.errors import ServiceUnavailable
from leadworker.learning.retrain import retrain_if_due
from leadworker.ops.metrics import Metrics
from leadworker.ops.runtime import resident_memory_bytes
from leadworker.ops.service import ServedWorker
from leadworker.stages.rescore import request_rescore
from leadworker.store import workers as registry
from leadworker.store.maintenance import cleanup_old, requeue_stuck_jobs
from leadworker.store.pool import Database, DatabaseProbe
from leadworker.worker.exit_codes import EXIT_MEMORY, EXIT_STALLED

log = structlog.get_logger("leadworker.worker")

LIVENESS_INTERVAL = 5.0
"""Seconds between checks that every consumer still consumes."""
BROKER_CHECK_EVERY = 6
"""Every n-th liveness check also asks the broker whether it sees our consumers."""
MAX_STALLS = 3
"""Consecutive recoveries without a delivery before the worker exits for its supervisor to restart it."""
PROBE_EVERY_WHILE_UP = 2.0
"""Seconds between database probes while it answers: an idle worker notices an outage within seconds."""
PROBE_EVERY_WHILE_DOWN = 1.0
"""Seconds between probes during an outage: consumption resumes within a second of the database's return."""
PROBE_TIMEOUT = 5.0
"""A probe that takes longer is a failed probe (a database that slow cannot serve the stages either)."""
PROBE_FAILURES = 2
"""Failed probes in a row that make an outage: one lost packet is not one."""
MEMORY_CHECK_EVERY = 1.0
"""Seconds between resident-memory readings (one /proc read, cheap)."""
IDLE_CHECK_EVERY = 0.25
"""Seconds between idle checks for ``--exit-when-idle`` (at most a quarter of the idle time)."""
MAINTENANCE_JITTER = 5.0
"""The first maintenance round waits up to this long, so that workers started together do not contend."""
CLEANUP_EVERY = 3600.0
"""Seconds between deletions of old jobs (retention is counted in days: hourly is plenty)."""


class WatchedWorker(ServedWorker, Protocol):
    """What the watchers read and steer of the worker: what the service machinery reads, and more."""

    exit_when_idle: float | None
    stop_event: asyncio.Event
    stalls: int
    consumers: list[StageConsumer]
    db_back: asyncio.Event
    started_at: float

    def request_stop(self, reason: str = "signal", *, exit_code: int | None = None) -> None: ...

    def database_unavailable(self, error: BaseException) -> None: ...

    def update_consuming(self) -> None: ...

    async def queue_depths(self, queues: list[str]) -> dict[str, tuple[int, int]]: ...


# --- liveness: a consumer that silently stopped ------------------------------------------------------


async def watch_liveness(
    worker: WatchedWorker, connection: AbstractConnection, consumers: list[StageConsumer], stalled: asyncio.Event
) -> None:
    """Detect a consumer that no longer receives (channel closed, consumer cancelled by the broker, or
    the broker sees no consumer while the queue has messages) and force a reconnect. After
    :data:`MAX_STALLS` recoveries in a row without a delivery, exit so that the supervisor restarts us."""
    connected_at = time.monotonic()
    checks = 0
    while True:
        await asyncio.sleep(LIVENESS_INTERVAL)
        checks += 1
        if any(c.last_activity > connected_at for c in consumers):
            worker.stalls = 0
        if worker.stop_event.is_set() or not worker.readiness.database_available:
            continue
        broken = [c.queue_name for c in consumers if not c.is_alive()]
        if not broken and checks % BROKER_CHECK_EVERY == 0 and consumers:
            depths = await queue_depths(connection, [c.queue_name for c in consumers])
            broken = [
                c.queue_name
                for c in consumers
                if c.consuming
                and c.in_flight == 0
                and depths.get(c.queue_name, (0, 1))[1] == 0
                and depths.get(c.queue_name, (0, 0))[0] > 0
            ]
        if broken:
            worker.stalls += 1
            log.error("consumer stalled; reconnecting", queues=broken, stalls=worker.stalls)
            if worker.stalls >= MAX_STALLS:
                worker.request_stop("consumer stalled", exit_code=EXIT_STALLED)
            stalled.set()
            return


# --- maintenance ---------------------------------------------------------------------------------


async def maintain(worker: WatchedWorker, connection: AbstractConnection, publisher: ConfirmedPublisher) -> None:
    """Rescue stuck jobs and retrain the learned model when due every ``maintenance_interval``; delete old jobs
    once an hour."""
    assert worker.database is not None
    db = worker.database
    settings = worker.settings
    scrape_queues = [q for q in worker.topology.queues_of("scrape") if not q.endswith(".dead")]
    last_cleanup = 0.0
    await asyncio.sleep(min(MAINTENANCE_JITTER, settings.maintenance_interval) * random.random())
    while True:
        try:
            depths = await queue_depths(connection, scrape_queues)
            result = await requeue_stuck_jobs(
                db,
                publisher.publish_many,
                work_queue=worker.topology.work_queue("scrape"),
                stale_seconds=settings.stale_job_seconds,
                policy=settings.retry_policy,
                include_queued=not any(ready for ready, _ in depths.values()),
            )
            if result.requeued or result.failed:
                log.warning("stuck jobs rescued", requeued=len(result.requeued), failed=len(result.failed))
            if settings.retention_days and time.monotonic() - last_cleanup > CLEANUP_EVERY:
                cleaned = await cleanup_old(db, settings.retention_days * 86400)
                if not cleaned.skipped_locked:
                    last_cleanup = time.monotonic()
                    if cleaned.jobs or cleaned.raw_leads:
                        log.info("old jobs deleted", jobs=cleaned.jobs, raw_leads=cleaned.raw_leads)
            await retrain(worker, db, publisher)
        except ServiceUnavailable:
            pass  # the database watcher reports it; try again next round
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("maintenance failed", error=repr(exc))
        await asyncio.sleep(settings.maintenance_interval)


async def retrain(worker: WatchedWorker, db: Database, publisher: ConfirmedPublisher) -> None:
    """Retrain the active model when enough new outcomes arrived; re-score every lead if the new one won."""
    retrained = await retrain_if_due(db, worker.settings)
    if retrained is not None and retrained.activated:
        done = await request_rescore(db, publisher.publish_many, worker.topology, f"model{retrained.model_id}")
        log.info("re-scoring with the retrained model", model=retrained.model_id, leads=done.leads)


async def every_interval(
    worker: WatchedWorker,
    stage: str,
    periodic: Callable[[ConfirmedPublisher], Awaitable[object]],
    publisher: ConfirmedPublisher,
) -> None:
    """Run a stage's periodic work now and every ``maintenance_interval`` while the connection lasts."""
    while True:
        try:
            await periodic(publisher)
        except ServiceUnavailable:
            pass  # the database watcher reports it; try again next round
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("periodic stage work failed", stage=stage, error=repr(exc))
        await asyncio.sleep(worker.settings.maintenance_interval)


# --- memory watchdog -------------------------------------------------------------------------------


async def watch_memory(worker: WatchedWorker) -> None:
    limit = worker.settings.memory_limit_mb * 1024 * 1024
    while not worker.stop_event.is_set():
        await asyncio.sleep(MEMORY_CHECK_EVERY)
        rss = resident_memory_bytes()
        if rss is None:
            return
        if limit and rss > limit:
            log.error(
                "memory above the limit; draining for a restart",
                rss_mb=round(rss / 1048576, 1),
                limit_mb=worker.settings.memory_limit_mb,
            )
            worker.request_stop("memory limit", exit_code=EXIT_MEMORY)
            return


# --- database outage -----------------------------------------------------------------------------


async def watch_database(worker: WatchedWorker, db: Database) -> None:
    """Probe the database on a connection of its own (a busy pool is not an outage): every 2 s while it
    answers, so that an idle worker notices an outage too (two failed probes in a row), and every
    second while it does not, to resume as soon as it is back."""
    probe = DatabaseProbe(worker.settings.database_url, transaction_pooled=worker.settings.transaction_pooled)
    failures = 0
    try:
        while True:
            await asyncio.sleep(PROBE_EVERY_WHILE_UP if worker.readiness.database_available else PROBE_EVERY_WHILE_DOWN)
            for state, value in db.pool_stats().items():
                worker.metrics.db_pool_connections.labels(state).set(value)
            ok = await probe.ping(timeout=PROBE_TIMEOUT)
            if worker.readiness.database_available:
                failures = 0 if ok else failures + 1
                if failures >= PROBE_FAILURES:
                    worker.database_unavailable(ServiceUnavailable("the database does not answer its probe"))
                continue
            if ok:
                failures = 0
                log.info("database reachable again; resuming consumption")
                worker.readiness.database_available = True
                worker.metrics.database_available.set(1)
                worker.db_back.set()
                if not worker.stop_event.is_set():
                    for consumer in worker.consumers:
                        with contextlib.suppress(Exception):
                            await consumer.resume()
                worker.update_consuming()
    finally:
        await probe.close()


# --- --exit-when-idle ------------------------------------------------------------------------------


async def watch_idle(worker: WatchedWorker) -> None:
    assert worker.exit_when_idle is not None
    idle_for = worker.exit_when_idle
    queues = [q for stage in worker.queue_stages for q in worker.topology.queues_of(stage) if not q.endswith(".dead")]
    while not worker.stop_event.is_set():
        await asyncio.sleep(min(IDLE_CHECK_EVERY, idle_for / 4 or IDLE_CHECK_EVERY))
        consumers = worker.consumers
        if not worker.readiness.broker_connected or worker.in_flight:
            continue
        quiet = time.monotonic() - max([worker.started_at, *(c.last_activity for c in consumers)])
        if quiet < idle_for:
            continue
        try:
            depths = await worker.queue_depths(queues)
        except Exception as exc:
            log.debug("idle check failed", error=repr(exc))
            continue
        if any(ready for ready, _ in depths.values()) or worker.in_flight:
            continue
        log.info("idle; stopping", idle_seconds=idle_for)
        worker.request_stop("idle")
        return


# --- the process registry -------------------------------------------------------------------------------


def handled_deliveries(metrics: Metrics) -> int:
    """Deliveries this process settled (acked, retried, dead-lettered...), from its own counters."""
    return int(
        sum(
            sample.value
            for family in metrics.deliveries.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        )
    )


async def register_process(worker: WatchedWorker, db: Database, key: str, stages: list[str]) -> None:
    """Register this process, refresh its row every :data:`~leadworker.store.workers.REFRESH_SECONDS` (in
    flight, handled) and mark it stopped when cancelled. A database that does not answer costs a log line,
    never the worker."""
    registered = False
    try:
        while True:
            try:
                if not registered:
                    await registry.register(
                        db, key, host=socket.gethostname(), pid=os.getpid(), version=__version__, stages=stages
                    )
                    registered = True
                else:
                    await registry.refresh(
                        db, key, in_flight=worker.in_flight, handled=handled_deliveries(worker.metrics)
                    )
            except Exception as exc:  # the database probe handles outages; the registry only waits
                log.debug("worker registry not updated", error=repr(exc))
            await asyncio.sleep(registry.REFRESH_SECONDS)
    finally:
        if registered and worker.db_back.is_set():  # during an outage the row simply goes silent
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    registry.mark_stopped(db, key, handled=handled_deliveries(worker.metrics)), PROBE_TIMEOUT
                )
