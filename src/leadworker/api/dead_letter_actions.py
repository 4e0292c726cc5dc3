"""Dead letters, for the API's routes and the dashboard alike: which dead queues a name stands for (422 if
none), list them in place, replay them (a failed job is reset to run afresh) and purge them."""

from __future__ import annotations

import uuid

from leadworker.api.problems import ApiError
from leadworker.api.services import ApiServices
from leadworker.broker import dlq
from leadworker.store import jobs as jobstore


def dead_queues(services: ApiServices, queue: str | None) -> list[str]:
    """The dead queues of ``queue`` (a stage or its queue name; every stage's if None); a 422 naming ``queue``."""
    try:
        return dlq.dead_queues(services.topology, queue)
    except ValueError as exc:
        raise ApiError(422, f"queue: {exc}", fields={"queue": str(exc)}) from None


async def list_letters(services: ApiServices, queue: str | None, limit: int) -> list[dlq.DeadLetter]:
    return await dlq.list_dead(await services.broker(), dead_queues(services, queue), limit)


async def replay(services: ApiServices, queue: str | None, limit: int | None, message_id: str | None = None) -> int:
    """Move up to ``limit`` dead letters (only those of ``message_id``, if given) back to their queues; the
    failed job of each runs afresh."""
    names = dead_queues(services, queue)

    async def reset(job_id: uuid.UUID) -> None:
        await jobstore.requeue_failed(services.db, job_id)

    broker = await services.broker()
    return await dlq.replay_dead(broker, services.topology, names, limit, on_job=reset, message_id=message_id)


async def purge(services: ApiServices, queue: str | None, limit: int | None) -> int:
    """Delete up to ``limit`` dead letters for good."""
    return await dlq.purge_dead(await services.broker(), dead_queues(services, queue), limit)
