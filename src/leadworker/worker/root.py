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
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiormq
import structlog
from aio_pika.abc import AbstractConnection

from leadworker.broker.consumer import StageConsumer, StageHandler
from leadworker.broker.nodes import BrokerNodes
from leadworker.broker.topology import Topology, TopologyMismatch, queue_depths
from leadworker.config import Settings, mask_url
from leadworker.errors import ServiceUnavailable
from leadworker.ops.connections import open_publisher
from leadworker.ops.metrics import Metrics
from leadworker.ops.readiness import Readiness
from leadworker.stages import schedule
from leadworker.stages.deps import StageDeps
from leadworker.stages.scrape import worker_id
from leadworker.stages.table import MAINTENANCE, QUEUE_STAGES, SCHEDULE, STAGE_NAMES, stage_named
from leadworker.store import jobs as jobs_store
from leadworker.store.pool import Database
from leadworker.worker import watchers
from leadworker.worker.exit_codes import EXIT_FAILURE, EXIT_OK

log = structlog.get_logger("leadworker.worker")

AVAILABLE_STAGES = STAGE_NAMES
"""Stages this version can run; ``--stage all`` means these (see :mod:`leadworker.stages.table`)."""

PIPELINE_ORDER = {stage.name: n for n, stage in enumerate(QUEUE_STAGES)}
"""Each queue stage's place in the pipeline (scrape first): consumers start downstream first."""

BROKER_CONNECT_TIMEOUT = 15.0
"""Seconds a broker connection may take to open (TCP, AMQP handshake, a node that is starting)."""
BROKER_CLOSE_TIMEOUT = 10.0
"""Seconds a closing connection may take before it is abandoned (its deliveries go back to the queue)."""
RECONNECT_FIRST = 0.5
RECONNECT_MAX = 30.0
"""Reconnection waits double from RECONNECT_FIRST to RECONNECT_MAX (jittered ×0.5-1.5): a broker restart
takes seconds, an outage minutes, and hundreds of workers must not reconnect in step."""
RECONNECT_RESET_AFTER = 30.0
"""A connection that lived this long starts the backoff over: it was an outage, not a crash loop."""
DATABASE_OUTAGE_GRACE = 0.5
"""Seconds after an outage is noticed that a delivery still in flight may take to fail by itself; then it is
cancelled and its message given back. Directly, its next statement fails at once; through PgBouncer it may
instead wait in the pooler's queue for a server (up to its ``query_wait_timeout``), holding its message and
keeping the broker's consumer alive."""
DATABASE_RETRY_FIRST = 0.5
DATABASE_RETRY_MAX = 10.0
"""Waits between attempts to open the database pool at start, doubling."""


def _build(stage: str, deps: StageDeps) -> StageHandler:
    handler: StageHandler = stage_named(stage).load_factory()(deps)
    return handler


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
        self.queue_stages = [stage for stage in self.stages if stage_named(stage).queue is not None]
        self.exit_when_idle = exit_when_idle
        self.metrics = metrics or Metrics()
        self.worker = worker or worker_id()
        self.topology = Topology.from_settings(settings)
        self.nodes = BrokerNodes(settings.amqp_urls)
        """The broker's nodes in this process's order; a lost connection fails over to the next."""
        self.readiness = Readiness()
        self.exit_code = EXIT_OK
        self.stop_event = asyncio.Event()
        self.stop_reason = ""
        self._forced = asyncio.Event()
        self.connection: AbstractConnection | None = None
        self.consumers: list[StageConsumer] = []
        self._db: Database | None = None
        self.db_back = asyncio.Event()
        """Set while the database answers (cleared by an outage, set again by the probe)."""
        self.db_back.set()
        self._outage_tasks: set[asyncio.Task[None]] = set()
        self.started_at = time.monotonic()
        self.stalls = 0
        """Recoveries in a row without a delivery (see :func:`leadworker.worker.watchers.watch_liveness`)."""
        self.on_ready: Callable[[], None] | None = None
        """Called each time the worker starts consuming (systemd READY=1)."""
        self.on_stopping: Callable[[], None] | None = None

    # --- control ---------------------------------------------------------------------------------------

    def request_stop(self, reason: str = "signal", *, exit_code: int | None = None) -> None:
        """Begin a graceful stop. A second SIGINT (Ctrl-C twice) skips the rest of the grace period;
        a repeated SIGTERM does not (service managers signal every process of a group)."""
        if exit_code is not None and self.exit_code == EXIT_OK:
            self.exit_code = exit_code
        if self.stop_event.is_set():
            if reason == "SIGINT" and not self._forced.is_set():
                log.warning("second interrupt: cancelling in-flight deliveries now")
                self._forced.set()
            return
        self.stop_reason = reason
        self.readiness.stopping = True
        self.stop_event.set()
        if self.on_stopping is not None:
            self.on_stopping()

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self.consumers)

    @property
    def database(self) -> Database | None:
        """The database pool once connected (the metrics server reads its usage at each scrape)."""
        return self._db

    # --- main loop ---------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped; return the process exit code."""
        log.info(
            "worker starting",
            stages=self.stages,
            amqp=self.settings.masked_amqp_url,
            database=mask_url(self.settings.database_url),
            prefix=self.topology.prefix or None,
        )
        db = await self._connect_database()
        if db is None:
            return self.exit_code
        self._db = db
        handlers = self._build_handlers(db)
        background = [
            asyncio.create_task(watchers.watch_database(self, db), name="db-probe"),
            asyncio.create_task(watchers.watch_memory(self), name="memory-watch"),
            asyncio.create_task(
                watchers.register_process(self, db, f"{self.worker}:{int(time.time())}", self.stages), name="registry"
            ),
        ]
        if self.exit_when_idle is not None:
            background.append(asyncio.create_task(watchers.watch_idle(self), name="idle-watch"))
        delay = RECONNECT_FIRST
        try:
            while not self.stop_event.is_set():
                began = time.monotonic()
                try:
                    await self._connection_lifetime(handlers)
                except TopologyMismatch as exc:
                    log.error("cannot declare the topology", error=str(exc))
                    self.exit_code = EXIT_FAILURE
                    break
                except (_ConnectionLost, aiormq.exceptions.AMQPError, ConnectionError, OSError, TimeoutError) as exc:
                    self.readiness.broker_connected = False
                    self.readiness.consuming = False
                    self.metrics.broker_connected.set(0)
                    if self.stop_event.is_set():
                        break
                    self.nodes.lost()
                    if time.monotonic() - began > RECONNECT_RESET_AFTER:
                        delay = RECONNECT_FIRST
                    wait = delay * (0.5 + random.random())
                    log.warning("broker connection lost; reconnecting", error=repr(exc), retry_in=round(wait, 2))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop_event.wait(), wait)
                    delay = min(delay * 2, RECONNECT_MAX)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for handler in handlers:  # stages holding clients of their own (fetcher, browser, webhooks...)
                with contextlib.suppress(Exception):
                    await handler.close()
            await db.close()
            self.metrics.broker_connected.set(0)
        log.info("worker stopped", reason=self.stop_reason or None, exit_code=self.exit_code)
        return self.exit_code

    def _build_handlers(self, db: Database) -> list[StageHandler]:
        deps = StageDeps(
            settings=self.settings, db=db, topology=self.topology, metrics=self.metrics, worker=self.worker
        )
        return [_build(stage, deps) for stage in self.queue_stages]

    async def _connect_database(self) -> Database | None:
        delay = DATABASE_RETRY_FIRST
        while not self.stop_event.is_set():
            try:
                db = await Database.connect(
                    self.settings.database_url,
                    min_size=min(self.settings.db_pool_min, self.settings.db_pool_max),
                    max_size=self.settings.db_pool_max,
                    command_timeout=self.settings.db_command_timeout,
                    warm_up=jobs_store.WARM_UP if "scrape" in self.queue_stages else (),
                    transaction_pooled=self.settings.transaction_pooled,
                )
            except ServiceUnavailable as exc:
                log.warning("database unreachable; retrying", error=str(exc), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), delay)
                delay = min(delay * 2, DATABASE_RETRY_MAX)
                continue
            self.readiness.database_available = True
            self.metrics.database_available.set(1)
            return db
        return None

    async def _connection_lifetime(self, handlers: list[StageHandler]) -> None:
        connection = await self.nodes.connect(
            timeout=BROKER_CONNECT_TIMEOUT,
            heartbeat=self.settings.amqp_heartbeat,
            client_properties={"connection_name": f"leadworker {self.worker}"},
            mask=mask_url,
        )
        log.info("broker connected", node=mask_url(self.nodes.current or ""))
        self.connection = connection
        lost = asyncio.Event()
        connection.close_callbacks.add(lambda *_: lost.set())
        consumers: list[StageConsumer] = []
        try:
            publisher = await open_publisher(connection, self.topology)
            for handler in handlers:
                consumer = StageConsumer(
                    handler=handler,
                    topology=self.topology,
                    prefetch=self.settings.prefetch_for(handler.stage),
                    max_job_seconds=self.settings.max_job_seconds,
                    metrics=self.metrics,
                    on_service_unavailable=self.database_unavailable,
                )
                consumers.append(consumer)
            self.consumers = consumers
            # Downstream stages first, so that a process running several is ready for what its upstream
            # stages produce (the scrape stage defers its fan-out while nothing consumes leads.normalize).
            for consumer in sorted(consumers, key=lambda c: -PIPELINE_ORDER.get(c.stage, 0)):
                await consumer.start(connection, publisher)
                if not self.readiness.database_available:
                    await consumer.pause()
            self.readiness.broker_connected = True
            self.metrics.broker_connected.set(1)
            self.update_consuming()
            log.info("worker ready", stages=self.stages)
            if self.on_ready is not None:
                self.on_ready()

            stalled = asyncio.Event()
            helpers = [asyncio.create_task(watchers.watch_liveness(self, connection, consumers, stalled))]
            if MAINTENANCE in self.stages:
                helpers.append(asyncio.create_task(watchers.maintain(self, connection, publisher)))
            if SCHEDULE in self.stages and self._db is not None:
                helpers.append(
                    asyncio.create_task(
                        schedule.run(
                            self._db, publisher.publish_many, self.topology, self.settings, self.metrics, self.worker
                        )
                    )
                )
            helpers += [
                asyncio.create_task(watchers.every_interval(self, handler.stage, handler.periodic, publisher))
                for handler in handlers
            ]
            waiters = [
                asyncio.create_task(self.stop_event.wait()),
                asyncio.create_task(lost.wait()),
                asyncio.create_task(stalled.wait()),
            ]
            waiters += [asyncio.create_task(c.lost.wait()) for c in consumers]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waiters + helpers:
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
            if not self.stop_event.is_set():
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
                    await asyncio.wait_for(connection.close(), BROKER_CLOSE_TIMEOUT)

    async def _drain(self, consumers: list[StageConsumer]) -> None:
        for consumer in consumers:
            await consumer.pause()
        grace = 0.0 if self._forced.is_set() else self.settings.shutdown_grace
        log.info("stopping", reason=self.stop_reason, in_flight=self.in_flight, grace=grace)
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

    def update_consuming(self) -> None:
        self.readiness.consuming = all(c.consuming for c in self.consumers)

    async def queue_depths(self, queues: list[str]) -> dict[str, tuple[int, int]]:
        """Ready and consumer counts of ``queues`` on the current connection."""
        if self.connection is None or self.connection.is_closed:
            raise ConnectionError("no broker connection")
        return await queue_depths(self.connection, queues)

    def database_unavailable(self, error: BaseException) -> None:
        if not self.readiness.database_available:
            return
        log.error("database unavailable; pausing consumption", error=str(error))
        self.readiness.database_available = False
        self.metrics.database_available.set(0)
        self.db_back.clear()
        give_back_at = time.monotonic() + DATABASE_OUTAGE_GRACE
        for consumer in self.consumers:
            task = asyncio.get_running_loop().create_task(self._pause_for_outage(consumer, give_back_at))
            self._outage_tasks.add(task)
            task.add_done_callback(self._outage_tasks.discard)
        self.update_consuming()

    async def _pause_for_outage(self, consumer: StageConsumer, give_back_at: float) -> None:
        await consumer.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.db_back.wait(), max(give_back_at - time.monotonic(), 0))
            return
        await consumer.drain(0, reason="database unavailable; in-flight deliveries given back", requeued=True)
