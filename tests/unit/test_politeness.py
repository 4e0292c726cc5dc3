import asyncio

from leadworker.scrape.politeness import HostLimiter
from support import FakeClock


def test_token_bucket_spaces_requests_after_the_burst() -> None:
    clock = FakeClock()
    limiter = HostLimiter(concurrency=4, rate=2.0, burst=2, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        for _ in range(5):
            async with limiter.slot("acme.test"):
                pass

    asyncio.run(go())
    assert clock.sleeps == [0.5, 0.5, 0.5]  # two in the burst, then one every 1/rate seconds
    assert clock.now == 101.5


def test_hosts_have_separate_buckets() -> None:
    clock = FakeClock()
    limiter = HostLimiter(concurrency=1, rate=1.0, burst=1, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        for host in ("a.test", "b.test", "c.test"):
            async with limiter.slot(host):
                pass

    asyncio.run(go())
    assert clock.sleeps == []


def test_concurrency_per_host_is_bounded() -> None:
    limiter = HostLimiter(concurrency=2, rate=1000.0, burst=1000)
    active = {"a.test": 0, "b.test": 0}
    peak = {"a.test": 0, "b.test": 0}

    async def one(host: str) -> None:
        async with limiter.slot(host):
            active[host] += 1
            peak[host] = max(peak[host], active[host])
            for _ in range(3):
                await asyncio.sleep(0)
            active[host] -= 1

    async def go() -> None:
        await asyncio.gather(*(one(h) for h in ["a.test"] * 8 + ["b.test"] * 8))

    asyncio.run(go())
    assert peak == {"a.test": 2, "b.test": 2}
