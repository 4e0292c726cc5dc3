"""Following a job's enrichment: progress onto the job row, and the ``job.enriched`` event when it is done."""

from __future__ import annotations

import uuid

import structlog

from leadworker.broker.consumer import Delivery
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.stages.events import JobNotifier
from leadworker.store.enrichment import Progress, update_progress
from leadworker.store.pool import Database

log = structlog.get_logger("leadworker.enrichment")


class EnrichmentTracker:
    """Called by every stage that moves a job's enrichment forward, before its delivery is acked."""

    def __init__(self, db: Database, notifier: JobNotifier) -> None:
        self.db = db
        self.notifier = notifier

    async def update(self, publisher: ConfirmedPublisher, job_id: uuid.UUID, *, recheck: bool) -> Progress | None:
        """Recompute the job's progress; when it is enriched, publish ``job.enriched`` (confirmed).

        The event is published by the update that set ``enriched_at``, and again by any ``recheck`` (a
        redelivered message: the delivery that set it may have died before its publish was confirmed). The
        notify stage sends one webhook per event however often it is published.
        """
        progress = await update_progress(self.db, job_id)
        if progress is None or progress.enriched_at is None:
            return progress
        if progress.newly_enriched:
            log.info("job enriched", job_id=str(job_id), leads=progress.found, scored=progress.scored)
        if progress.newly_enriched or recheck:
            await self.notifier.publish_enriched(publisher, job_id)
        return progress


def is_redelivery(delivery: Delivery) -> bool:
    """A delivery the broker or a retry tier gave again: an earlier one may have died mid-way."""
    return delivery.attempt > 1 or bool(getattr(delivery.message, "redelivered", False))
