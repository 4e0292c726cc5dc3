"""The composition root: builds the pieces, runs the chosen stages, survives outages, stops gracefully.

:class:`Worker` owns one broker connection at a time. A connection's life: declare the topology, open the
confirming publisher, start a consumer per stage, then wait for one of

- a stop request (SIGTERM/SIGINT, the console stop NSSM sends, ``--exit-when-idle``, the memory watchdog):
  stop consuming, let in-flight deliveries finish within ``shutdown_grace``, cancel the rest (their messages
  go back to the queue), close, exit 0;
- the connection or a consumer dying (broker restart, network, a broker-sent consumer cancel): deliveries
  still running on it are cancelled (the broker redelivers them; nothing is acked late), then reconnect with
  jittered backoff and consume again.

The database is watched separately: when a handler finds it unreachable, every consumer pauses (deliveries go
back to the queue, not through a retry tier; a job that had started counts that start when it is taken over),
readiness turns false, a probe pings it each second, and consumption resumes when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractConnection

from leadworker.broker.consumer import StageConsumer, StageHandler
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.broker.topology import Topology, TopologyMismatch, declare_topology, queue_depths
from leadworker.config import Settings, mask_url
from leadworker.errors import ServiceUnavailable
from leadworker.ops.metrics import Metrics
from leadworker.ops.runtime import keep_heap_frozen, resident_memory_bytes
from leadworker.ops.service import OpsStartError, operations
from leadworker.stages import STAGE_FACTORIES, StageDeps, available_stages
from leadworker.stages.scrape import worker_id
from leadworker.store import jobs as jobs_store
from leadworker.store.maintenance import cleanup_old, requeue_stuck_jobs
from leadworker.store.pool import Database, DatabaseProbe

log = structlog.get_logger("leadworker.worker")

MAINTENANCE = "maintenance"
"""Not a queue: the periodic rescue of stuck jobs and cleanup of old ones (one instance at a time)."""

AVAILABLE_STAGES = (*available_stages(), MAINTENANCE)
"""Stages this version can run; ``--stage all`` means these."""

PIPELINE_ORDER = {stage: n for n, stage in enumerate(available_stages())}
"""Each queue stage's place in the pipeline (scrape first): consumers start downstream first."""

LIVENESS_INTERVAL = 5.0
"""Seconds between checks that every consumer still consumes."""
BROKER_CHECK_EVERY = 6
"""Every n-th liveness check also asks the broker whether it sees our consumers."""
MAX_STALLS = 3
"""Consecutive recoveries without a delivery before the worker exits for its supervisor to restart it."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_MEMORY = 3
"""The memory watchdog drained the worker: the supervisor should start a fresh one."""
EXIT_STALLED = 4
"""A consumer stopped receiving although its queue has messages, and could not be recovered."""


def parse_stages(value: str) -> list[str]:
    """``all`` or a comma-separated list of stage names, validated (raises ValueError)."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise ValueError("no stage given; use all or a comma-separated list such as scrape,normalize")
    if names == ["all"]:
        return list(AVAILABLE_STAGES)
    unknown = [n for n in names if n not in AVAILABLE_STAGES]
    if unknown:
        raise ValueError(
            f"unknown stage {unknown[0]!r}; choose from all, {', '.join(AVAILABLE_STAGES)}"
        )
    return list(dict.fromkeys(names))


@dataclass
class Readiness:
    """What ``/readyz`` reports: broker connected, database answering, every consumer consuming."""

    broker_connected: bool = False
    database_available: bool = False
    consuming: bool = False
    stopping: bool = False

    @property
    def ready(self) -> bool:
        return self.broker_connected and self.database_available and self.consuming and not self.stopping


class _ConnectionLost(Exception):
    pass


class Worker:
    """Runs the given stages until stopped. Build one per process; call :meth:`run` once."""

    def __init__(
        self,
        settings: Settings,
        stages: Sequence[str],
        *,
        exit_when_idle: float | None = None,
        metrics: Metrics | None = None,
        worker: str | None = None,
    ) -> None:
        self.settings = settings
        self.stages = list(stages)
        self.queue_stages = [stage for stage in self.stages if stage != MAINTENANCE]
        self.exit_when_idle = exit_when_idle
        self.metrics = metrics or Metrics()
        self.worker = worker or worker_id()
        self.topology = Topology.from_settings(settings)
        self.readiness = Readiness()
        self.exit_code = EXIT_OK
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._forced = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._consumers: list[StageConsumer] = []
        self._db: Database | None = None
        self._db_back = asyncio.Event()
        self._db_back.set()
        self._started = time.monotonic()
        self._stalls = 0
        self.on_ready: Callable[[], None] | None = None
        """Called each time the worker starts consuming (systemd READY=1)."""
        self.on_stopping: Callable[[], None] | None = None

    # --- control ---------------------------------------------------------------------------------------

    def request_stop(self, reason: str = "signal", *, exit_code: int | None = None) -> None:
        """Begin a graceful stop. A second SIGINT (Ctrl-C twice) skips the rest of the grace period;
        a repeated SIGTERM does not (service managers signal every process of a group)."""
        if exit_code is not None and self.exit_code == EXIT_OK:
            self.exit_code = exit_code
        if self._stop.is_set():
            if reason == "SIGINT" and not self._forced.is_set():
                log.warning("second interrupt: cancelling in-flight deliveries now")
                self._forced.set()
            return
        self._stop_reason = reason
        self.readiness.stopping = True
        self._stop.set()
        if self.on_stopping is not None:
            self.on_stopping()

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self._consumers)

    @property
    def database(self) -> Database | None:
        """The database pool once connected (the metrics server reads its usage at each scrape)."""
        return self._db

    # --- main loop ---------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped; return the process exit code."""
        log.info("worker starting", stages=self.stages, amqp=mask_url(self.settings.amqp_url),
                 database=mask_url(self.settings.database_url), prefix=self.topology.prefix or None)
        db = await self._connect_database()
        if db is None:
            return self.exit_code
        self._db = db
        handlers = self._build_handlers(db)
        background = [
            asyncio.create_task(self._watch_database(db), name="db-probe"),
            asyncio.create_task(self._watch_memory(), name="memory-watch"),
        ]
        if self.exit_when_idle is not None:
            background.append(asyncio.create_task(self._watch_idle(), name="idle-watch"))
        delay = 0.5
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    await self._connection_lifetime(handlers)
                except TopologyMismatch as exc:
                    log.error("cannot declare the topology", error=str(exc))
                    self.exit_code = EXIT_FAILURE
                    break
                except (_ConnectionLost, aiormq.exceptions.AMQPError, ConnectionError, OSError,
                        TimeoutError) as exc:
                    self.readiness.broker_connected = False
                    self.readiness.consuming = False
                    self.metrics.broker_connected.set(0)
                    if self._stop.is_set():
                        break
                    if time.monotonic() - began > 30:
                        delay = 0.5
                    wait = delay * (0.5 + random.random())
                    log.warning("broker connection lost; reconnecting", error=repr(exc), retry_in=round(wait, 2))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), wait)
                    delay = min(delay * 2, 30.0)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for handler in handlers:  # stages holding clients of their own (fetcher, browser, webhooks...)
                close = getattr(handler, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()
            await db.close()
            self.metrics.broker_connected.set(0)
        log.info("worker stopped", reason=self._stop_reason or None, exit_code=self.exit_code)
        return self.exit_code

    def _build_handlers(self, db: Database) -> list[StageHandler]:
        deps = StageDeps(settings=self.settings, db=db, topology=self.topology, metrics=self.metrics,
                         worker=self.worker)
        return [STAGE_FACTORIES[stage](deps) for stage in self.queue_stages]

    async def _connect_database(self) -> Database | None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                db = await Database.connect(
                    self.settings.database_url,
                    min_size=min(self.settings.db_pool_min, self.settings.db_pool_max),
                    max_size=self.settings.db_pool_max,
                    command_timeout=self.settings.db_command_timeout,
                    warm_up=jobs_store.WARM_UP if "scrape" in self.queue_stages else (),
                )
            except ServiceUnavailable as exc:
                log.warning("database unreachable; retrying", error=str(exc), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, 10.0)
                continue
            self.readiness.database_available = True
            self.metrics.database_available.set(1)
            return db
        return None

    async def _connection_lifetime(self, handlers: list[StageHandler]) -> None:
        connection = await aio_pika.connect(
            self.settings.amqp_url,
            timeout=15,
            heartbeat=self.settings.amqp_heartbeat,
            client_properties={"connection_name": f"leadworker {self.worker}"},
        )
        self._connection = connection
        lost = asyncio.Event()
        connection.close_callbacks.add(lambda *_: lost.set())
        consumers: list[StageConsumer] = []
        try:
            channel = await connection.channel()
            await declare_topology(channel, self.topology)
            await channel.close()
            publisher = await ConfirmedPublisher.open(connection, self.topology.exchange)
            for handler in handlers:
                consumer = StageConsumer(
                    handler=handler,
                    topology=self.topology,
                    prefetch=self.settings.prefetch_for(handler.stage),
                    max_attempts=self.settings.max_attempts,
                    max_job_seconds=self.settings.max_job_seconds,
                    metrics=self.metrics,
                    on_service_unavailable=self._database_unavailable,
                )
                consumers.append(consumer)
            self._consumers = consumers
            # Downstream stages first, so that a process running several is ready for what its upstream
            # stages produce (the scrape stage defers its fan-out while nothing consumes leads.normalize).
            for consumer in sorted(consumers, key=lambda c: -PIPELINE_ORDER.get(c.stage, 0)):
                await consumer.start(connection, publisher)
                if not self.readiness.database_available:
                    await consumer.pause()
            self.readiness.broker_connected = True
            self.metrics.broker_connected.set(1)
            self._update_consuming()
            log.info("worker ready", stages=self.stages)
            if self.on_ready is not None:
                self.on_ready()

            stalled = asyncio.Event()
            helpers = [asyncio.create_task(self._watch_liveness(connection, consumers, stalled))]
            if MAINTENANCE in self.stages:
                helpers.append(asyncio.create_task(self._maintain(connection, publisher)))
            for handler in handlers:
                periodic = getattr(handler, "periodic", None)
                if periodic is not None:
                    helpers.append(asyncio.create_task(self._every_interval(handler.stage, periodic, publisher)))
            waiters = [asyncio.create_task(self._stop.wait()), asyncio.create_task(lost.wait()),
                       asyncio.create_task(stalled.wait())]
            waiters += [asyncio.create_task(c.lost.wait()) for c in consumers]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waiters + helpers:
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
            if not self._stop.is_set():
                if lost.is_set():
                    raise _ConnectionLost("connection closed")
                raise _ConnectionLost("a consumer stalled" if stalled.is_set() else "a consumer was lost")
            await self._drain(consumers)
        finally:
            self.readiness.consuming = False
            for consumer in consumers:
                await consumer.close()
            if not connection.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 10)

    async def _drain(self, consumers: list[StageConsumer]) -> None:
        for consumer in consumers:
            await consumer.pause()
        grace = 0.0 if self._forced.is_set() else self.settings.shutdown_grace
        log.info("stopping", reason=self._stop_reason, in_flight=self.in_flight, grace=grace)
        drained: asyncio.Future[list[int]] = asyncio.gather(*(c.drain(grace) for c in consumers))
        forced: asyncio.Future[Any] = asyncio.ensure_future(self._forced.wait())
        try:
            await asyncio.wait([drained, forced], return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():  # a second stop request: cancel what is left now
                for consumer in consumers:
                    await consumer.drain(0)
            await drained
        finally:
            forced.cancel()

    def _update_consuming(self) -> None:
        self.readiness.consuming = all(c.consuming for c in self._consumers)

    # --- liveness: a consumer that silently stopped ------------------------------------------------------

    async def _watch_liveness(
        self, connection: AbstractConnection, consumers: list[StageConsumer], stalled: asyncio.Event
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
                self._stalls = 0
            if self._stop.is_set() or not self.readiness.database_available:
                continue
            broken = [c.queue_name for c in consumers if not c.is_alive()]
            if not broken and checks % BROKER_CHECK_EVERY == 0 and consumers:
                depths = await queue_depths(connection, [c.queue_name for c in consumers])
                broken = [c.queue_name for c in consumers
                          if c.consuming and c.in_flight == 0 and depths.get(c.queue_name, (0, 1))[1] == 0
                          and depths.get(c.queue_name, (0, 0))[0] > 0]
            if broken:
                self._stalls += 1
                log.error("consumer stalled; reconnecting", queues=broken, stalls=self._stalls)
                if self._stalls >= MAX_STALLS:
                    self.request_stop("consumer stalled", exit_code=EXIT_STALLED)
                stalled.set()
                return

    # --- maintenance ---------------------------------------------------------------------------------

    async def _maintain(self, connection: AbstractConnection, publisher: ConfirmedPublisher) -> None:
        """Rescue stuck jobs every ``maintenance_interval`` and delete old ones once an hour."""
        assert self._db is not None
        db = self._db
        settings = self.settings
        scrape_queues = [q for q in self.topology.queues_of("scrape") if not q.endswith(".dead")]
        last_cleanup = 0.0
        await asyncio.sleep(min(5.0, settings.maintenance_interval) * random.random())
        while True:
            try:
                depths = await queue_depths(connection, scrape_queues)
                result = await requeue_stuck_jobs(
                    db, publisher.publish_many,
                    work_queue=self.topology.work_queue("scrape"),
                    stale_seconds=settings.stale_job_seconds,
                    longest_retry_delay=max(settings.retry_backoff),
                    max_attempts=settings.max_attempts,
                    include_queued=not any(ready for ready, _ in depths.values()),
                )
                if result.requeued or result.failed:
                    log.warning("stuck jobs rescued", requeued=len(result.requeued), failed=len(result.failed))
                if settings.retention_days and time.monotonic() - last_cleanup > 3600:
                    cleaned = await cleanup_old(db, settings.retention_days * 86400)
                    if not cleaned.skipped_locked:
                        last_cleanup = time.monotonic()
                        if cleaned.jobs or cleaned.raw_leads:
                            log.info("old jobs deleted", jobs=cleaned.jobs, raw_leads=cleaned.raw_leads)
            except ServiceUnavailable:
                pass  # the database watcher reports it; try again next round
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("maintenance failed", error=repr(exc))
            await asyncio.sleep(settings.maintenance_interval)

    async def _every_interval(
        self, stage: str, periodic: Callable[[ConfirmedPublisher], Awaitable[object]], publisher: ConfirmedPublisher
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
            await asyncio.sleep(self.settings.maintenance_interval)

    # --- memory watchdog -------------------------------------------------------------------------------

    async def _watch_memory(self) -> None:
        limit = self.settings.memory_limit_mb * 1024 * 1024
        while not self._stop.is_set():
            await asyncio.sleep(1.0)
            rss = resident_memory_bytes()
            if rss is None:
                return
            if limit and rss > limit:
                log.error("memory above the limit; draining for a restart",
                          rss_mb=round(rss / 1048576, 1), limit_mb=self.settings.memory_limit_mb)
                self.request_stop("memory limit", exit_code=EXIT_MEMORY)
                return

    # --- database outage -----------------------------------------------------------------------------

    def _database_unavailable(self, error: BaseException) -> None:
        if not self.readiness.database_available:
            return
        log.error("database unavailable; pausing consumption", error=str(error))
        self.readiness.database_available = False
        self.metrics.database_available.set(0)
        self._db_back.clear()
        for consumer in self._consumers:
            asyncio.get_running_loop().create_task(consumer.pause())
        self._update_consuming()

    async def _watch_database(self, db: Database) -> None:
        """Probe the database on a connection of its own (a busy pool is not an outage): every 2 s while it
        answers, so that an idle worker notices an outage too (two failed probes in a row), and every
        second while it does not, to resume as soon as it is back."""
        probe = DatabaseProbe(self.settings.database_url)
        failures = 0
        try:
            while True:
                await asyncio.sleep(2.0 if self.readiness.database_available else 1.0)
                for state, value in db.pool_stats().items():
                    self.metrics.db_pool_connections.labels(state).set(value)
                ok = await probe.ping(timeout=5.0)
                if self.readiness.database_available:
                    failures = 0 if ok else failures + 1
                    if failures >= 2:
                        self._database_unavailable(ServiceUnavailable("the database does not answer its probe"))
                    continue
                if ok:
                    failures = 0
                    log.info("database reachable again; resuming consumption")
                    self.readiness.database_available = True
                    self.metrics.database_available.set(1)
                    self._db_back.set()
                    if not self._stop.is_set():
                        for consumer in self._consumers:
                            with contextlib.suppress(Exception):
                                await consumer.resume()
                    self._update_consuming()
        finally:
            await probe.close()

    # --- --exit-when-idle ------------------------------------------------------------------------------

    async def _watch_idle(self) -> None:
        assert self.exit_when_idle is not None
        idle_for = self.exit_when_idle
        queues = [q for stage in self.queue_stages for q in self.topology.queues_of(stage)
                  if not q.endswith(".dead")]
        while not self._stop.is_set():
            await asyncio.sleep(min(0.25, idle_for / 4 or 0.25))
            consumers = self._consumers
            if not self.readiness.broker_connected or self.in_flight:
                continue
            quiet = time.monotonic() - max([self._started, *(c.last_activity for c in consumers)])
            if quiet < idle_for:
                continue
            try:
                depths = await self._queue_depths(queues)
            except Exception as exc:
                log.debug("idle check failed", error=repr(exc))
                continue
            if any(ready for ready, _ in depths.values()) or self.in_flight:
                continue
            log.info("idle; stopping", idle_seconds=idle_for)
            self.request_stop("idle")
            return

    async def _queue_depths(self, queues: list[str]) -> dict[str, tuple[int, int]]:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("no broker connection")
        return await queue_depths(self._connection, queues)


def install_stop_handlers(loop: asyncio.AbstractEventLoop, stop: Callable[[str], None]) -> Callable[[], None]:
    """Route SIGTERM/SIGINT (and SIGBREAK, the console stop NSSM sends on Windows) to ``stop``.

    Uses ``loop.add_signal_handler`` where the loop supports it, else ``signal.signal`` with a thread-safe
    hand-over (Windows, where asyncio has no signal handlers). Returns a function that removes them.
    """
    names = ["SIGTERM", "SIGINT", "SIGBREAK"]
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    installed: list[Any] = []
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop, sig.name)
            installed.append(sig)
    except (NotImplementedError, RuntimeError):
        for sig in installed:
            loop.remove_signal_handler(sig)
        previous = {}
        for sig in signals:
            def handler(signum: int, _frame: Any) -> None:
                loop.call_soon_threadsafe(stop, signal.Signals(signum).name)
            previous[sig] = signal.signal(sig, handler)

        def restore_portable() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)
        return restore_portable

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return restore


async def run_worker(settings: Settings, stages: Sequence[str], *, exit_when_idle: float | None = None) -> int:
    """Run a worker in the current event loop with signal handling; return its exit code.

    Around the worker run its service machinery (:func:`leadworker.ops.service.operations`): the metrics and
    health server, event-loop lag and memory gauges, systemd notifications, the multiprocess state file; and
    the heap is kept frozen (:func:`leadworker.ops.runtime.keep_heap_frozen`).
    """
    worker = Worker(settings, stages, exit_when_idle=exit_when_idle)
    restore = install_stop_handlers(asyncio.get_running_loop(), worker.request_stop)
    frozen = asyncio.create_task(keep_heap_frozen(), name="heap-freezer")
    try:
        async with operations(worker):
            return await worker.run()
    except OpsStartError as exc:
        log.error("cannot start", error=str(exc))
        return EXIT_FAILURE
    finally:
        frozen.cancel()
        restore()


def main_sync(settings: Settings, stages: Sequence[str], *, exit_when_idle: float | None = None) -> int:
    """Blocking entry point used by ``leadworker run``."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())  # type: ignore[attr-defined]
    return asyncio.run(run_worker(settings, stages, exit_when_idle=exit_when_idle))
