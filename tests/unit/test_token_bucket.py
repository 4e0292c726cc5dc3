"""The enrichment provider's token bucket, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from leadworker.common.ratelimit import TokenBucket
from support import FakeClock


async def test_burst_then_rate() -> None:
    clock = FakeClock(now=0.0)
    bucket = TokenBucket(5.0, 10, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await bucket.acquire()
    assert clock.now == 0.0  # the burst costs no waiting
    for _ in range(5):
        await bucket.acquire()
    assert clock.now == pytest.approx(1.0)  # then 5 per second
    clock.now += 10  # idle: refills up to the burst, not beyond
    for _ in range(10):
        await bucket.acquire()
    assert clock.now == pytest.approx(11.0)
    await bucket.acquire()
    assert clock.now == pytest.approx(11.2)


async def test_concurrent_waiters_share_the_rate() -> None:
    clock = FakeClock(now=0.0)
    bucket = TokenBucket(2.0, 1, clock=clock, sleep=clock.sleep)
    await asyncio.gather(*(bucket.acquire() for _ in range(5)))
    assert clock.now == pytest.approx(2.0)


def test_invalid_bucket() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
