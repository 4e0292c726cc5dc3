"""``leadworker run --processes N``: start N worker processes, restart one that dies, stop them all gracefully.

For hosts without systemd (NSSM on Windows, a container, a plain VM). Each child is a normal
``leadworker run`` process (no fork: the same code path on Windows). A child that exits is restarted:

- exit 0 — it was asked to stop (or went idle with ``--exit-when-idle``): restarted only if the supervisor is
  not stopping and not running an idle batch;
- exit 3 (memory watchdog) or 4 (stalled consumer): a planned restart, at once;
- anything else (a crash, ``kill -9``, the OOM killer): restarted with exponential backoff (1 s doubling to
  60 s, reset after a minute of healthy running), so a crash loop does not spin.

SIGTERM/SIGINT (or the console stop on Windows) is forwarded to every child; the supervisor waits for all of
them to drain (``shutdown_grace`` plus a margin), kills what is left, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("leadworker.supervisor")

READY_CHECK_EVERY = 1.0
"""Seconds between reads of the children's state files until all are ready (systemd's READY=1 waits on it)."""

EXIT_PLANNED = (3, 4)
"""Child exit codes that ask for an immediate restart (memory watchdog, stalled consumer)."""
MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0
HEALTHY_AFTER = 60.0


@dataclass
class Child:
    slot: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    backoff: float = MIN_BACKOFF
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Runs ``command`` in ``count`` child processes until stopped."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        env: Mapping[str, str] | None = None,
        shutdown_grace: float = 30.0,
        batch: bool = False,
        on_child_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.command = list(command)
        self.count = count
        self.env = dict(env if env is not None else os.environ)
        self.shutdown_grace = shutdown_grace
        self.batch = batch
        """``--exit-when-idle``: a child that exits 0 is done; the supervisor ends when all are."""
        self.children = [Child(slot=i) for i in range(count)]
        self.on_child_exit = on_child_exit
        """Called with the pid of every child reaped (the multiprocess metrics forget its live gauges)."""
        self._stop = asyncio.Event()

    def request_stop(self, reason: str = "signal") -> None:
        if not self._stop.is_set():
            log.info("supervisor stopping", reason=reason, children=self.count)
            self._stop.set()

    async def _spawn(self, child: Child) -> None:
        env = dict(self.env)
        env["LEADWORKER_PROCESS_SLOT"] = str(child.slot)
        kwargs: dict[str, object] = {}
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import subprocess

            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        child.process = await asyncio.create_subprocess_exec(*self.command, env=env, **kwargs)  # type: ignore[arg-type]
        child.started = time.monotonic()
        log.info("worker process started", slot=child.slot, pid=child.process.pid, restarts=child.restarts)

    async def _keep(self, child: Child) -> None:
        """Run one slot: start its process and restart it as long as the supervisor runs."""
        while not self._stop.is_set():
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            child.exits.append(code)
            if self.on_child_exit is not None:
                self.on_child_exit(child.process.pid)
            ran = time.monotonic() - child.started
            if self._stop.is_set():
                return
            if code == 0 and self.batch:
                log.info("worker process finished", slot=child.slot, pid=child.process.pid)
                return
            if code in EXIT_PLANNED or (code == 0 and ran > 1.0):
                delay = 0.0 if code in EXIT_PLANNED else MIN_BACKOFF
                child.backoff = MIN_BACKOFF
            else:
                if ran > HEALTHY_AFTER:
                    child.backoff = MIN_BACKOFF
                delay = child.backoff
                child.backoff = min(child.backoff * 2, MAX_BACKOFF)
            child.restarts += 1
            log.warning(
                "worker process exited; restarting",
                slot=child.slot,
                pid=child.process.pid,
                exit_code=code,
                ran_seconds=round(ran, 1),
                restart_in=delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def run(self) -> int:
        """Supervise until stopped (or, in batch mode, until every child finished). Returns 0."""
        slots = [asyncio.create_task(self._keep(child)) for child in self.children]
        stopper: asyncio.Future[object] = asyncio.ensure_future(self._stop.wait())
        all_done: asyncio.Future[object] = asyncio.ensure_future(asyncio.gather(*slots))
        await asyncio.wait([stopper, all_done], return_when=asyncio.FIRST_COMPLETED)
        if self._stop.is_set():
            await self._stop_children()
        stopper.cancel()
        for task in slots:
            task.cancel()
        await asyncio.gather(*slots, return_exceptions=True)
        log.info("supervisor stopped", restarts=sum(c.restarts for c in self.children))
        return 0

    async def _stop_children(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.returncode is None]
        for process in running:
            terminate(process)
        if not running:
            return
        waits = [asyncio.create_task(p.wait()) for p in running]
        _, pending = await asyncio.wait(waits, timeout=self.shutdown_grace + 10)
        for process in running:
            if process.returncode is None:
                log.error("worker process did not stop in time; killing it", pid=process.pid)
                process.kill()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self.on_child_exit is not None:
            for process in running:
                self.on_child_exit(process.pid)


def terminate(process: asyncio.subprocess.Process) -> None:
    """Ask a child to stop gracefully (SIGTERM; CTRL_BREAK_EVENT on Windows, where SIGTERM kills)."""
    with contextlib.suppress(ProcessLookupError):
        if sys.platform == "win32":  # pragma: no cover - Windows only
            os.kill(process.pid, signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            process.send_signal(signal.SIGTERM)


async def run_supervised(
    command: Sequence[str],
    count: int,
    *,
    env: Mapping[str, str],
    shutdown_grace: float,
    batch: bool,
    metrics_host: str,
    metrics_port: int,
    install_signals: Callable[[Callable[[str], None]], Callable[[], None]],
) -> int:
    """Supervise ``count`` children as a service: one metrics port for all of them (prometheus_client's
    multiprocess mode), ``/readyz`` when every child is ready, and systemd's READY/WATCHDOG/STOPPING from the
    supervisor (children never notify)."""
    from leadworker.ops import multiproc
    from leadworker.ops.health import aggregate_server
    from leadworker.ops.systemd import SystemdNotifier

    notifier = SystemdNotifier.from_environment()  # also removes NOTIFY_SOCKET from what children inherit
    given = os.environ.get(multiproc.ENV)
    directory = multiproc.prepare_multiprocess_dir(given or tempfile.mkdtemp(prefix="leadworker-metrics-"))
    child_env = {**env, multiproc.ENV: str(directory), "LEADWORKER_METRICS_PORT": "0"}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        child_env.pop(name, None)
    supervisor = Supervisor(
        command,
        count,
        env=child_env,
        shutdown_grace=shutdown_grace,
        batch=batch,
        on_child_exit=lambda pid: multiproc.child_exited(pid, directory),
    )
    server = None
    if metrics_port:
        server = aggregate_server(directory, host=metrics_host, port=metrics_port, expected=lambda: count)
        await server.start()

    def stop(reason: str) -> None:
        if notifier is not None:
            notifier.stopping()
        supervisor.request_stop(reason)

    async def announce_ready() -> None:
        while True:
            ready, _ = multiproc.aggregate_readiness(multiproc.read_worker_states(directory), expected=count)
            if ready and notifier is not None:
                notifier.ready(f"{count} worker processes consuming")
                return
            await asyncio.sleep(READY_CHECK_EVERY)

    helpers = [asyncio.create_task(announce_ready())]
    if notifier is not None:
        helpers.append(asyncio.create_task(notifier.run_watchdog()))
    restore = install_signals(stop)
    try:
        return await supervisor.run()
    finally:
        restore()
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if server is not None:
            await server.stop()
        if given is None:
            shutil.rmtree(directory, ignore_errors=True)
