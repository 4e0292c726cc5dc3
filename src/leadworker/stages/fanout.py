"""The enrichment fan-out: a completed job's raw leads sent to ``leads.normalize``, or deferred in the database.

Fan-outs of jobs completing together share messages of up to ``fanout_batch_size`` raw leads
(:func:`normalize_messages`). While nothing consumes ``leads.normalize`` (scrape-only workers, or the
enrichment workers not started yet), the fan-out is not published: the job is marked ``fanout_deferred``
and the work waits in the database, where it costs nothing and cannot pile up in the broker. A worker
running the normalize stage publishes deferred fan-outs when it starts and every maintenance interval
(:func:`release_deferred_fanouts`). Normalizing is idempotent, so a fan-out published twice costs work,
never a duplicate.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence

import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection

from leadworker.broker.publisher import ConfirmedPublisher, OutgoingMessage
from leadworker.contracts import NormalizeBatch, NormalizeItem
from leadworker.stages.progress import EnrichmentTracker
from leadworker.store.enrichment import (
    clear_deferred_fanouts,
    deferred_fanouts,
    pending_enrichment,
)
from leadworker.store.pool import Database

log = structlog.get_logger("leadworker.fanout")

CONSUMER_CHECK_SECONDS = 2.0
"""How long a look at ``leads.normalize``'s consumers is trusted."""


def normalize_messages(
    requests: Iterable[tuple[uuid.UUID, Sequence[int]]], queue: str, size: int
) -> list[OutgoingMessage]:
    """``(job id, raw lead ids)`` requests packed into ``NormalizeBatch`` messages of at most ``size`` ids."""
    items = [
        NormalizeItem(job_id=job_id, raw_lead_ids=list(ids[i : i + size]))
        for job_id, ids in requests
        for i in range(0, len(ids), size)
    ]
    messages: list[OutgoingMessage] = []
    chunk: list[NormalizeItem] = []
    count = 0
    for item in [*items, None]:
        if chunk and (item is None or count + len(item.raw_lead_ids) > size):
            first = chunk[0]
            messages.append(
                OutgoingMessage(
                    routing_key=queue,
                    body=NormalizeBatch(items=chunk).model_dump_json().encode(),
                    message_id=f"{first.job_id}:{first.raw_lead_ids[0]}",
                )
            )
            chunk, count = [], 0
        if item is not None:
            chunk.append(item)
            count += len(item.raw_lead_ids)
    return messages


class NormalizeConsumers:
    """Whether anything consumes ``queue`` right now: a passive declare, trusted for a couple of seconds and
    then refreshed in the background (the caller gets the last answer at once, off the hot path)."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._seen: tuple[float, bool] | None = None
        self._refresh: asyncio.Task[bool] | None = None
        self._channel: AbstractChannel | None = None
        self._channel_of: AbstractConnection | None = None

    async def present(self, connection: AbstractConnection | None) -> bool:
        if connection is None:
            return True
        if self._seen is None:
            return await self._look(connection)
        checked_at, present = self._seen
        if time.monotonic() - checked_at >= CONSUMER_CHECK_SECONDS and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._look(connection))
        return present

    async def _look(self, connection: AbstractConnection) -> bool:
        try:
            # A channel of its own, kept (opening one costs more than the look): a passive declare of a
            # missing queue closes it, and the next look opens another.
            channel = self._channel
            if channel is None or channel.is_closed or self._channel_of is not connection:
                channel = self._channel = await connection.channel()
                self._channel_of = connection
            declared = await channel.declare_queue(self.queue, passive=True)
        except Exception as exc:  # cannot tell: publish, as always before
            log.debug("could not count leads.normalize consumers", error=repr(exc))
            return True
        present = (declared.declaration_result.consumer_count or 0) > 0
        self._seen = (time.monotonic(), present)
        return present


async def release_deferred_fanouts(
    db: Database,
    publisher: ConfirmedPublisher,
    tracker: EnrichmentTracker,
    *,
    queue: str,
    size: int,
    limit: int = 200,
) -> int:
    """Publish the fan-outs deferred while nothing consumed ``leads.normalize``; returns the jobs released.

    Published (confirmed) before the mark is cleared, so a crash in between publishes again, never loses.
    """
    released = 0
    while True:
        job_ids = await deferred_fanouts(db, limit)
        if not job_ids:
            return released
        requests = [(job_id, await pending_enrichment(db, job_id)) for job_id in job_ids]
        await publisher.publish_many(normalize_messages([r for r in requests if r[1]], queue, size))
        for job_id, pending in requests:
            if not pending:  # enriched meanwhile by another path: make sure the job says so
                await tracker.update(publisher, job_id, recheck=False)
        await clear_deferred_fanouts(db, job_ids)
        released += len(job_ids)
        log.info(
            "deferred enrichment published", jobs=len(job_ids), raw_leads=sum(len(pending) for _, pending in requests)
        )
        if len(job_ids) < limit:
            return released
