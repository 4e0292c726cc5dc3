"""Metrics and readiness of several worker processes served from one port (``leadworker run --processes N``).

The building blocks a supervisor uses; each worker process ("child") keeps doing what it does alone:

1. Before starting children, the supervisor calls :func:`prepare_multiprocess_dir`. It empties the directory of
   files left by an earlier run and sets ``PROMETHEUS_MULTIPROC_DIR``, which children inherit. prometheus_client
   then keeps every child's samples in ``*.db`` files there (one set per pid) instead of in memory.
2. Every child writes its readiness to ``worker_<pid>.json`` in the same directory about once a second
   (:class:`WorkerStateFile`; :mod:`leadworker.ops.service` does this whenever ``PROMETHEUS_MULTIPROC_DIR`` is
   set) and removes it when it exits cleanly.
3. When the supervisor reaps a child, it calls :func:`child_exited` with the pid: the child's live gauges
   (in-flight, connected, memory...) and its state file go away; its counters and histograms stay, so totals
   never go backwards.
4. The supervisor serves :func:`aggregate_registry` and :func:`aggregate_readiness` over HTTP with
   :func:`leadworker.ops.health.aggregate_server`, on ``LEADWORKER_METRICS_PORT``; the children run with the
   port set to 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

ENV = "PROMETHEUS_MULTIPROC_DIR"
STATE_PREFIX = "worker_"
STALE_AFTER = 10.0
"""Seconds after which a child's state file counts as stale (its event loop is stuck, or it died unreaped)."""


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> Path:
    """Create or empty ``path`` for this run and export it as ``PROMETHEUS_MULTIPROC_DIR``.

    Only files this module and prometheus_client write there (``*.db``, ``worker_*.json``) are removed. Call
    it in the supervisor before any child starts; children started afterwards (fork or spawn) write their
    samples there.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in ("*.db", f"{STATE_PREFIX}*.json", f".{STATE_PREFIX}*.tmp"):
        for leftover in directory.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    os.environ[ENV] = str(directory)
    # prometheus_client picks its value class (in memory or mmap file) when it is first imported; if that
    # happened before the directory was known, pick again so metrics created from now on use the files.
    # (Never replace a file-backed class: two of them in one process would write the same file.)
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return directory


def multiprocess_dir() -> Path | None:
    """The directory of this process's multiprocess metrics, if it runs in that mode."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def child_exited(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Forget the live gauges and the state file of child ``pid`` (call it when the child has been reaped)."""
    directory = Path(path) if path is not None else multiprocess_dir()
    if directory is None:
        return
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    with contextlib.suppress(FileNotFoundError):
        (directory / f"{STATE_PREFIX}{pid}.json").unlink()


def aggregate_registry(path: str | os.PathLike[str] | None = None) -> CollectorRegistry:
    """A registry that reads every child's samples from the directory on each scrape (summed per family)."""
    directory = Path(path) if path is not None else multiprocess_dir()
    if directory is None:
        raise ValueError(f"{ENV} is not set; call prepare_multiprocess_dir first")
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry


@dataclass
class WorkerState:
    """What a child reports about itself (the content of ``worker_<pid>.json``)."""

    pid: int
    worker: str
    ready: bool
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    updated: float = 0.0
    """``time.time()`` of the last write."""


class WorkerStateFile:
    """Writes this process's :class:`WorkerState` atomically (a temporary file renamed over the old one)."""

    def __init__(self, directory: str | os.PathLike[str], pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.path = Path(directory) / f"{STATE_PREFIX}{self.pid}.json"
        self._tmp = Path(directory) / f".{STATE_PREFIX}{self.pid}.tmp"

    def write(self, worker: str, ready: bool, checks: dict[str, bool], problems: list[str]) -> None:
        state = WorkerState(
            pid=self.pid, worker=worker, ready=ready, checks=checks, problems=problems, updated=time.time()
        )
        self._tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
        os.replace(self._tmp, self.path)

    def remove(self) -> None:
        for path in (self.path, self._tmp):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def read_worker_states(path: str | os.PathLike[str] | None = None) -> list[WorkerState]:
    """Every child's last reported state (unreadable or half-written files are skipped)."""
    directory = Path(path) if path is not None else multiprocess_dir()
    if directory is None:
        return []
    states = []
    for file in sorted(directory.glob(f"{STATE_PREFIX}*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            states.append(WorkerState(**data))
        except (OSError, ValueError, TypeError):
            continue
    return states


def aggregate_readiness(
    states: list[WorkerState],
    *,
    expected: int | None = None,
    stale_after: float = STALE_AFTER,
    now: float | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Ready when every child reported ready within ``stale_after`` seconds, and at least ``expected`` did
    (at least one when ``expected`` is None). Returns ``(ready, JSON-able report)``."""
    now = time.time() if now is None else now
    problems: list[str] = []
    workers = []
    for state in states:
        age = max(now - state.updated, 0.0)
        stale = age > stale_after
        ok = state.ready and not stale
        if stale:
            problems.append(f"worker {state.pid}: no report for {age:.0f} s")
        elif not state.ready:
            problems.append(f"worker {state.pid}: " + (", ".join(state.problems) or "not ready"))
        workers.append(
            {
                "pid": state.pid,
                "worker": state.worker,
                "ready": ok,
                "checks": state.checks,
                "problems": state.problems,
                "age_seconds": round(age, 3),
            }
        )
    ready_count = sum(1 for w in workers if w["ready"])
    wanted = 1 if expected is None else expected
    if len(states) < wanted:
        problems.append(f"{len(states)} of {wanted} worker processes reporting")
    ready = not problems and ready_count >= wanted
    return ready, {"ready": ready, "workers": workers, "expected": expected, "problems": problems}
