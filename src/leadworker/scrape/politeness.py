"""Politeness per host: at most ``concurrency`` requests in flight and ``rate`` requests per second.

One :class:`HostLimiter` per process, shared by the static fetcher and the browser, so that two jobs
crawling the same site (or one job rendering and fetching it at once) are polite together. The rate is a
token bucket: a burst of up to ``burst`` requests goes out at once, then one every ``1 / rate`` seconds.
Idle hosts are forgotten so the table does not grow with every site ever crawled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from leadworker.common.ratelimit import TokenBucket


@dataclass
class _Host:
    semaphore: asyncio.Semaphore
    bucket: TokenBucket
    users: int = 0


class HostLimiter:
    """Per-host concurrency (a semaphore) and rate (a token bucket)."""

    def __init__(
        self,
        *,
        concurrency: int,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1 or rate <= 0:
            raise ValueError("concurrency must be >= 1 and rate > 0")
        self.concurrency = concurrency
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else float(concurrency))
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _Host] = {}
        self._releases = 0

    def _host(self, host: str) -> _Host:
        entry = self._hosts.get(host)
        if entry is None:
            bucket = TokenBucket(self.rate, self.burst, clock=self._clock, sleep=self._sleep)
            entry = _Host(asyncio.Semaphore(self.concurrency), bucket)
            self._hosts[host] = entry
        return entry

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of ``host``'s request slots, after waiting for a token."""
        key = host.lower()
        entry = self._host(key)
        entry.users += 1
        try:
            async with entry.semaphore:
                await entry.bucket.acquire()  # waiters queue in order; each takes one token
                yield
        finally:
            entry.users -= 1
            self._releases += 1
            if self._releases % 256 == 0:
                self._forget_idle()

    def _forget_idle(self) -> None:
        """Drop hosts nobody uses whose bucket has refilled: a new entry would be identical."""
        for key, entry in list(self._hosts.items()):
            if entry.users == 0 and entry.bucket.is_full():
                del self._hosts[key]

    def __len__(self) -> int:
        return len(self._hosts)
