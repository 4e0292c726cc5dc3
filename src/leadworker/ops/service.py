"""Everything a worker process needs to run as a service, around :meth:`leadworker.worker.Worker.run`.

:func:`operations` is entered by :func:`leadworker.worker.run_worker` (the ``leadworker run`` entry) and, for
the lifetime of the worker:

- binds ``worker`` (``host:pid``) into the logging context, so every line carries it;
- creates the metric series a dashboard expects to see at zero (deliveries per queue and outcome, ...);
- measures event-loop lag and resident memory (:class:`~leadworker.ops.runtime.LoopMonitor`);
- serves ``/metrics``, ``/healthz`` and ``/readyz`` on ``LEADWORKER_METRICS_PORT`` unless it is 0;
- when started by systemd (``NOTIFY_SOCKET``): READY=1 each time the worker starts consuming, WATCHDOG=1 from
  the event loop every half ``WatchdogSec``, STOPPING=1 when it begins to drain, a STATUS line that says what
  is not ready;
- when ``PROMETHEUS_MULTIPROC_DIR`` is set (a worker process of ``--processes N``): writes this process's
  readiness to its state file there about once a second (see :mod:`leadworker.ops.multiproc`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

import prometheus_client
import structlog

from leadworker.broker.outcome import Outcome
from leadworker.ops import multiproc
from leadworker.ops.metrics import Metrics
from leadworker.ops.readiness import Readiness
from leadworker.ops.runtime import LoopMonitor
from leadworker.ops.systemd import SystemdNotifier

if TYPE_CHECKING:
    from leadworker.broker.topology import Topology
    from leadworker.config import Settings
    from leadworker.ops.health import OpsServer, Report
    from leadworker.store.pool import Database

log = structlog.get_logger("leadworker.ops")


class ServedWorker(Protocol):
    """What the service machinery reads of a worker (:class:`leadworker.worker.root.Worker` is one)."""

    settings: Settings
    metrics: Metrics
    topology: Topology
    readiness: Readiness
    queue_stages: list[str]
    worker: str
    """``host:pid``."""
    on_ready: Callable[[], None] | None
    on_stopping: Callable[[], None] | None

    @property
    def in_flight(self) -> int: ...

    @property
    def database(self) -> Database | None: ...


STATE_EVERY = 1.0
"""Seconds between two writes of the multiprocess state file."""


class OpsStartError(RuntimeError):
    """The metrics server could not start (port in use, bad host); the message says which and why."""


def prime_metrics(metrics: Metrics, topology: Topology, stages: list[str]) -> None:
    """Create the labelled series a worker of ``stages`` will report, at zero.

    A series that appears only with its first event breaks ``rate()``/``increase()`` (the first increment is
    lost) and makes "no data" look like "no problem" on a dashboard.
    """
    for stage in stages:
        queue = topology.work_queue(stage)
        for outcome in Outcome:
            metrics.deliveries.labels(queue, outcome.value)
        metrics.handler_duration.labels(stage)
        metrics.in_flight.labels(stage)
    if "scrape" in stages:
        for status in ("completed", "failed"):
            metrics.jobs_finished.labels(status)
        for result in ("found", "new", "duplicate"):
            metrics.leads.labels(result)
    if "notify" in stages:
        for result in ("delivered", "failed"):
            metrics.webhooks.labels(result)
    for state in ("in_use", "idle", "max"):
        metrics.db_pool_connections.labels(state)


def readiness_report(readiness: Readiness) -> Report:
    """``/readyz`` of one worker: ready, the individual checks, and a phrase for each one that fails."""
    checks = {
        "broker_connected": readiness.broker_connected,
        "database_available": readiness.database_available,
        "consuming": readiness.consuming,
        "not_stopping": not readiness.stopping,
    }
    problems = []
    if not readiness.broker_connected:
        problems.append("broker not connected")
    if not readiness.database_available:
        problems.append("database unavailable")
    if not readiness.consuming:
        problems.append("not consuming")
    if readiness.stopping:
        problems.append("stopping")
    ready = readiness.ready
    if not ready and not problems:
        problems.append("not ready")
    state = {k: v for k, v in dataclasses.asdict(readiness).items() if isinstance(v, bool | int | float | str)}
    return ready, {"ready": ready, "checks": checks, "problems": problems, "state": state}


class Operations:
    """The running pieces of :func:`operations` (exposed for tests and for the supervisor's children)."""

    def __init__(self, worker: ServedWorker, notifier: SystemdNotifier | None) -> None:
        self.worker = worker
        self.notifier = notifier
        self.monitor = LoopMonitor(worker.metrics)
        self.server: OpsServer | None = None
        self.started = time.monotonic()
        directory = multiproc.multiprocess_dir()
        self.state_file = multiproc.WorkerStateFile(directory) if directory is not None else None
        self._state_written = 0.0
        self._last_ready: bool | None = None
        self.monitor.on_tick.append(self._on_tick)

    def readiness(self) -> Report:
        return readiness_report(self.worker.readiness)

    def refresh_gauges(self) -> None:
        """Database pool usage as of now (the worker also records it every second)."""
        db = self.worker.database
        if db is None:
            return
        try:
            stats = db.pool_stats()
        except Exception:  # a pool being closed: keep the last values
            return
        for state, value in stats.items():
            self.worker.metrics.db_pool_connections.labels(state).set(value)

    def health(self) -> Report:
        age = time.monotonic() - self.monitor.last_tick
        alive = age < max(10.0, self.monitor.interval * 20)
        return alive, {
            "alive": alive,
            "pid": os.getpid(),
            "worker": self.worker.worker,
            "event_loop_lag_seconds": round(self.monitor.lag, 4),
            "last_tick_age_seconds": round(age, 3),
            "uptime_seconds": round(time.monotonic() - self.started, 3),
            "in_flight": self.worker.in_flight,
        }

    def _on_tick(self) -> None:
        ready, report = self.readiness()
        changed = ready != self._last_ready
        self._last_ready = ready
        now = time.monotonic()
        if self.state_file is not None and (changed or now - self._state_written >= STATE_EVERY):
            self._state_written = now
            try:
                self.state_file.write(self.worker.worker, ready, report["checks"], report["problems"])
            except OSError as exc:
                log.warning("cannot write the worker state file", path=str(self.state_file.path), error=str(exc))
        if self.notifier is not None and changed:
            self.notifier.status(self.status_line(ready, report))

    def status_line(self, ready: bool, report: dict[str, Any]) -> str:
        """The one line ``systemctl status`` shows."""
        if self.worker.readiness.stopping:
            return f"stopping: draining {self.worker.in_flight} in-flight deliveries"
        if ready:
            queues = ", ".join(self.worker.topology.work_queue(s) for s in self.worker.queue_stages)
            return f"consuming {queues}"
        return "not ready: " + ", ".join(report["problems"])


@contextlib.asynccontextmanager
async def operations(worker: ServedWorker, *, notifier: SystemdNotifier | None = None) -> AsyncIterator[Operations]:
    """Run the service machinery of ``worker`` (see the module docstring) while the block runs.

    ``notifier`` defaults to :meth:`SystemdNotifier.from_environment`. Raises :class:`OpsStartError` if the
    metrics port cannot be bound.
    """
    if notifier is None:
        notifier = SystemdNotifier.from_environment()
    ops = Operations(worker, notifier)
    settings = worker.settings
    with structlog.contextvars.bound_contextvars(worker=worker.worker):
        # *_created series double the count of series for no use here
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        prime_metrics(worker.metrics, worker.topology, worker.queue_stages)
        ops.monitor.tick(0.0)
        tasks = [asyncio.create_task(ops.monitor.run(), name="loop-monitor")]
        try:
            if settings.metrics_port:
                from leadworker.ops.health import worker_server  # aiohttp.web: only when serving

                server = worker_server(
                    worker.metrics.registry,
                    ops.readiness,
                    ops.health,
                    host=settings.metrics_host,
                    port=settings.metrics_port,
                    refresh=ops.refresh_gauges,
                )
                try:
                    await server.start()
                except OSError as exc:
                    raise OpsStartError(
                        f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
                        f"{exc.strerror or exc}; choose another LEADWORKER_METRICS_PORT (0 turns it off)"
                    ) from None
                ops.server = server
                log.info("serving metrics and health", host=settings.metrics_host, port=server.port)
            if notifier is not None:
                _hook_systemd(worker, ops, notifier)
                tasks.append(asyncio.create_task(notifier.run_watchdog(), name="systemd-watchdog"))
            yield ops
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if ops.server is not None:
                await ops.server.stop()
            if ops.state_file is not None:
                ops.state_file.remove()


def _hook_systemd(worker: ServedWorker, ops: Operations, notifier: SystemdNotifier) -> None:
    previous_ready, previous_stopping = worker.on_ready, worker.on_stopping

    def on_ready() -> None:
        if previous_ready is not None:
            previous_ready()
        ready, report = ops.readiness()
        notifier.ready(ops.status_line(ready, report) if ready else "consuming (database check pending)")

    def on_stopping() -> None:
        if previous_stopping is not None:
            previous_stopping()
        notifier.stopping()

    worker.on_ready = on_ready
    worker.on_stopping = on_stopping
    notifier.status("starting")
