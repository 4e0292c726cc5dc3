"""Process health as numbers: event-loop lag and resident memory; and the garbage collector's view of the heap.

:class:`LoopMonitor` is a timer that measures its own lateness: it asks to wake up every ``interval``
seconds and records how much later than asked it actually ran. A handler that blocks the loop (a huge page
parsed in the loop, a synchronous call) shows up as lag; lag of seconds means broker heartbeats and
``/healthz`` answers are late too. :func:`resident_memory_bytes` reads the RSS without psutil.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import sys
import time
from collections.abc import Callable

import structlog

from leadworker.ops.metrics import Metrics

log = structlog.get_logger("leadworker.ops")

try:
    _PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # Windows has no sysconf
    _PAGE_SIZE = 4096


def resident_memory_bytes() -> int | None:
    """Resident set size of this process in bytes, or ``None`` where it cannot be read.

    Linux: the second field of ``/proc/self/statm`` (pages). Windows: ``GetProcessMemoryInfo``'s
    WorkingSetSize. Elsewhere: ``None``.
    """
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return _windows_working_set()
    try:
        with open("/proc/self/statm", "rb") as statm:
            fields = statm.read().split()
        return int(fields[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    class _ProcessMemoryCounters(ctypes.Structure):
        _fields_ = [
            ("cb", wintypes.DWORD),
            ("PageFaultCount", wintypes.DWORD),
            ("PeakWorkingSetSize", ctypes.c_size_t),
            ("WorkingSetSize", ctypes.c_size_t),
            ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
            ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
            ("PagefileUsage", ctypes.c_size_t),
            ("PeakPagefileUsage", ctypes.c_size_t),
        ]

    def _windows_working_set() -> int | None:
        counters = _ProcessMemoryCounters()
        counters.cb = ctypes.sizeof(counters)
        process = ctypes.windll.kernel32.GetCurrentProcess()
        if not ctypes.windll.psapi.GetProcessMemoryInfo(process, ctypes.byref(counters), counters.cb):
            return None
        return int(counters.WorkingSetSize)


class LoopMonitor:
    """Measures event-loop lag and memory on a timer; runs callbacks on every tick.

    ``lag`` is the worst lateness over the last ``window`` seconds (a spike between two Prometheus scrapes
    is not lost); ``last_tick`` is the monotonic time of the last tick: if it is old, the loop is stuck.
    """

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        interval: float = 0.25,
        window: float = 15.0,
        memory_every: float = 1.0,
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.lag = 0.0
        self.last_tick = time.monotonic()
        self.rss: int | None = None
        self._samples: collections.deque[tuple[float, float]] = collections.deque()
        self._window = window
        self._memory_every = memory_every
        self._memory_at = 0.0
        self.on_tick: list[Callable[[], None]] = []
        """Called on every tick, in the loop; keep them quick (they are what the watchdog watches)."""

    def tick(self, lateness: float) -> None:
        """Record one measurement (the timer runs this; tests may too)."""
        now = time.monotonic()
        self.last_tick = now
        samples = self._samples
        samples.append((now, max(lateness, 0.0)))
        while samples and samples[0][0] < now - self._window:
            samples.popleft()
        self.lag = max(value for _, value in samples)
        if self.metrics is not None:
            self.metrics.event_loop_lag.set(self.lag)
        if now - self._memory_at >= self._memory_every:
            self._memory_at = now
            self.rss = resident_memory_bytes()
            if self.rss is not None and self.metrics is not None:
                self.metrics.resident_memory.set(self.rss)
        for callback in self.on_tick:
            try:
                callback()
            except Exception as exc:  # a broken callback must not stop the measurements
                log.warning(
                    "loop monitor callback failed", callback=getattr(callback, "__name__", "?"), error=repr(exc)
                )

    async def run(self) -> None:
        """Tick until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval)
            self.tick(loop.time() - asked - self.interval)


class HeapFreezer:
    """Keeps what a worker has imported and built out of the garbage collector's full collections.

    ``gc.freeze()`` moves every live object to a permanent generation that collections no longer walk. A
    worker's modules, classes, schemas and pools live as long as the process; without this, every full
    collection walks all of them again (a tenth of a crawl's CPU, measured). The heap is frozen once the
    worker has started, and again after jobs have imported more modules (the HTTP client, the parsers and
    phonenumbers are imported when a job first needs them). Objects created later are collected as usual.
    The price: cyclic garbage alive at a freeze, a handful of times per process, is never collected.
    """

    def __init__(self) -> None:
        self._modules = 0

    def freeze_if_grown(self) -> bool:
        """Freeze the heap if modules were imported since the last freeze; return whether it did."""
        if len(sys.modules) == self._modules:
            return False
        gc.collect()
        gc.freeze()
        self._modules = len(sys.modules)
        return True


async def keep_heap_frozen(interval: float = 5.0) -> None:
    """Freeze the heap now, and again every ``interval`` seconds if modules were imported meanwhile (see
    :class:`HeapFreezer`). Runs until cancelled; ``leadworker run`` runs it beside the worker."""
    freezer = HeapFreezer()
    while True:
        if freezer.freeze_if_grown():
            log.debug("heap frozen", modules=len(sys.modules), frozen_objects=gc.get_freeze_count())
        await asyncio.sleep(interval)
