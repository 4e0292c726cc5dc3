"""Re-scoring every live lead through the score queue after the active model changed (activated, rolled back,
or a retrain activated by the maintenance stage): one ``rescore`` batch per job and chunk of the leads it scored.
The score stage does the work in the background; the jobs' enrichment progress is not touched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from leadworker.broker.publisher import OutgoingMessage
from leadworker.broker.topology import Topology
from leadworker.contracts import ScoreBatch
from leadworker.store.pool import Database
from leadworker.store.score_models import rescore_targets

RESCORE_BATCH = 500
"""Leads per re-score message."""


@dataclass(frozen=True)
class Rescore:
    leads: int
    """Scores to recompute (a lead scored by two jobs counts twice)."""
    messages: int


async def request_rescore(
    db: Database, publish_many: Callable[[Iterable[OutgoingMessage]], Awaitable[None]], topology: Topology, tag: str
) -> Rescore:
    """Publish (confirmed) a re-score of every live lead's scores; ``tag`` names the change in the message ids."""
    targets = await rescore_targets(db, RESCORE_BATCH)
    queue = topology.work_queue("score")
    await publish_many(
        OutgoingMessage(
            routing_key=queue,
            body=ScoreBatch(job_id=job_id, lead_ids=lead_ids, rescore=True).body(),
            message_id=f"{job_id}:rescore:{tag}:{lead_ids[0]}",
        )
        for job_id, lead_ids in targets
    )
    return Rescore(leads=sum(len(ids) for _, ids in targets), messages=len(targets))
