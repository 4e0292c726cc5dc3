"""Job events for webhooks: which event a job's state calls for, published to ``jobs.notify`` with confirms.

:class:`JobNotifier` is the publishing side: wherever a job reaches a terminal status (the scrape stage's
completion, dead letter and skip paths, ``leadworker jobs cancel``) or is enriched, the caller publishes a
:class:`~leadworker.contracts.JobEvent` before its own delivery is acked. Nothing is published when no webhook
URL applies (the job's ``webhook_url``, else ``LEADWORKER_WEBHOOK_URL``) or when the event was delivered
already, so re-publishing after a crash is always safe. Sending is :mod:`leadworker.stages.notify`'s job.
"""

from __future__ import annotations

import contextlib
import uuid

from leadworker.broker.publisher import ConfirmedPublisher, OutgoingMessage
from leadworker.broker.topology import Topology
from leadworker.common import webhook_events as webhooks
from leadworker.config import Settings
from leadworker.contracts import JobEvent, check_http_url
from leadworker.store import jobs
from leadworker.store import webhook_deliveries as log_store
from leadworker.store.pool import Database

_TERMINAL = ("completed", "failed", "cancelled")


def webhook_url_for(job_url: str | None, settings: Settings) -> str | None:
    """The job's own webhook URL if it has a valid one, else ``LEADWORKER_WEBHOOK_URL`` (None: nothing to send)."""
    if job_url:
        with contextlib.suppress(ValueError):
            return check_http_url(job_url)
    return settings.webhook_url


class JobNotifier:
    """Publishes job events to ``jobs.notify`` (see the module docstring)."""

    def __init__(self, db: Database, settings: Settings, topology: Topology) -> None:
        self.db = db
        self.settings = settings
        self.topology = topology

    def applies(self, job_webhook_url: str | None) -> bool:
        """Whether a job with this ``webhook_url`` (from its message) has any webhook to notify. When not,
        there is no event to publish and the database need not be asked."""
        return webhook_url_for(job_webhook_url, self.settings) is not None

    async def message_for(self, job_id: uuid.UUID, event: str) -> OutgoingMessage | None:
        """The notify message of ``event`` for the job as it stands, or None: no webhook URL, the job is not
        in that state, or the event was delivered already."""
        row = await jobs.event_context(self.db, job_id)
        if row is None or webhook_url_for(row["webhook_url"], self.settings) is None:
            return None
        if event == webhooks.ENRICHED:
            if row["enriched_at"] is None:
                return None
            ident = webhooks.event_id(job_id, event)
        elif event == webhooks.status_event(row["status"]) and row["status"] in _TERMINAL:
            ident = webhooks.event_id(job_id, event, row["transition"])
        else:
            return None
        if await log_store.is_delivered(self.db, ident):
            return None
        body = JobEvent(event_id=ident, event=event, job_id=job_id)
        return OutgoingMessage(
            routing_key=self.topology.work_queue("notify"),
            body=body.model_dump_json().encode(),
            message_id=ident,
        )

    async def status_message(self, job_id: uuid.UUID) -> OutgoingMessage | None:
        """The event of the job's terminal status (None if it is not terminal, see :meth:`message_for`)."""
        status = await jobs.job_status(self.db, job_id)
        if status is None or status.value not in _TERMINAL:
            return None
        return await self.message_for(job_id, webhooks.status_event(status.value))

    async def publish_status(self, publisher: ConfirmedPublisher, job_id: uuid.UUID) -> bool:
        """Publish (confirmed) the event of the job's terminal status, if any applies. True if published."""
        message = await self.status_message(job_id)
        if message is None:
            return False
        await publisher.publish(message)
        return True

    async def publish_enriched(self, publisher: ConfirmedPublisher, job_id: uuid.UUID) -> bool:
        message = await self.message_for(job_id, webhooks.ENRICHED)
        if message is None:
            return False
        await publisher.publish(message)
        return True


async def publish_job_event(settings: Settings, db: Database, job_id: uuid.UUID) -> None:
    """Publish the job's terminal event to ``jobs.notify`` (confirmed) if a webhook applies and it was not
    delivered yet; the broker is only contacted when there is something to publish (for a job changed outside
    a worker, e.g. cancelled from the command line). Raises :class:`ServiceUnavailable` or
    :class:`PublishError`."""
    from leadworker.ops.connections import publishing

    topology = Topology.from_settings(settings)
    message = await JobNotifier(db, settings, topology).status_message(job_id)
    if message is None:
        return
    async with publishing(settings, topology) as (_, _, publisher):
        await publisher.publish(message)
