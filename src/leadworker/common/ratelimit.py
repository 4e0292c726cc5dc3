"""Rate limiting vocabulary shared by everything that talks to other people's servers: the token bucket, and
how long a server's ``Retry-After`` asks us to wait."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """Allows ``rate`` acquisitions per second on average and ``burst`` at once. Waiters are served in turn."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= 1 - 1e-9:  # tolerate float rounding, or the wait below could shrink forever
                    self._tokens = max(self._tokens - 1, 0.0)
                    return
                await self._sleep(max((1 - self._tokens) / self.rate, 1e-3))

    def is_full(self) -> bool:
        """True if the bucket has refilled completely (a new bucket would be identical)."""
        return self._tokens + (self._clock() - self._updated) * self.rate >= self.burst


def retry_after_seconds(value: str | None, cap: float = 30.0) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), within ``[0, cap]``."""
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), cap)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), cap)
