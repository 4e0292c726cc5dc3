"""The ``leadworker run`` entry: a worker with its signals, its service machinery and a frozen heap."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import structlog

from leadworker.config import Settings
from leadworker.ops.runtime import keep_heap_frozen
from leadworker.ops.service import OpsStartError, operations
from leadworker.worker.exit_codes import EXIT_FAILURE
from leadworker.worker.root import Worker
from leadworker.worker.signals import install_stop_handlers

log = structlog.get_logger("leadworker.worker")


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
