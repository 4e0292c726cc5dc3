import asyncio
from collections.abc import Sequence

import pytest

from leadworker.stages.batching import GroupCommit


async def test_concurrent_requests_share_batches_and_get_their_own_results() -> None:
    calls: list[list[int]] = []

    async def execute(batch: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(batch))
        await asyncio.sleep(0.01)
        return [ValueError(f"bad {n}") if n == 7 else n * 10 for n in batch]

    group: GroupCommit[int, int] = GroupCommit(execute, max_batch=5, max_concurrent=1)
    results = await asyncio.gather(*(group.submit(n) for n in range(12)), return_exceptions=True)
    assert [r if not isinstance(r, Exception) else str(r) for r in results] == [
        0,
        10,
        20,
        30,
        40,
        50,
        60,
        "bad 7",
        80,
        90,
        100,
        110,
    ]
    assert calls[0] == [0]  # the first request does not wait for company
    assert all(len(c) <= 5 for c in calls) and sum(len(c) for c in calls) == 12
    assert len(calls) <= 4


async def test_a_failing_batch_fails_each_of_its_requests() -> None:
    async def execute(batch: Sequence[int]) -> list[int | BaseException]:
        raise ConnectionError("down")

    group: GroupCommit[int, int] = GroupCommit(execute)
    with pytest.raises(ConnectionError):
        await group.submit(1)
    # and the group still works afterwards
    group2: GroupCommit[int, int] = GroupCommit(lambda batch: _echo(batch))
    assert await group2.submit(3) == 3


async def _echo(batch: Sequence[int]) -> list[int | BaseException]:
    return list(batch)
