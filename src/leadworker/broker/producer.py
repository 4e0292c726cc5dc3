"""Producing scrape jobs: create the rows (queued), then publish the messages with confirms."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from leadworker.broker.publisher import ConfirmedPublisher, OutgoingMessage
from leadworker.broker.topology import Topology
from leadworker.contracts import ScrapeJob
from leadworker.store import jobs
from leadworker.store.pool import Database

PUBLISH_CHUNK = 1000
"""Messages whose confirms are awaited together; bounds memory for ``--count 100000``."""


def job_message(job: ScrapeJob, topology: Topology, body: str | None = None) -> OutgoingMessage:
    """The ``scrape_jobs`` message of ``job``; its message id is the job id. ``body``: ``job.model_dump_json()``
    if the caller has it already."""
    return OutgoingMessage(
        routing_key=topology.work_queue("scrape"),
        body=(job.model_dump_json() if body is None else body).encode(),
        message_id=str(job.job_id),
    )


async def publish_jobs(
    db: Database,
    publisher: ConfirmedPublisher,
    topology: Topology,
    jobs_to_publish: Sequence[ScrapeJob],
    confirmed: set[uuid.UUID] | None = None,
) -> None:
    """Create the job rows as ``queued`` and publish their messages, pipelining the confirms.

    The rows come first: a job is visible (and cancellable) before any worker can see its message. If the
    publish fails, the rows stay ``queued`` and publishing the same jobs again is safe (same ids).
    ``confirmed`` collects the ids whose message the broker confirmed; a job already in it is not published
    again (a caller that lost its broker node goes on through the next with the same set).
    """
    done: set[uuid.UUID] = set() if confirmed is None else confirmed
    for start in range(0, len(jobs_to_publish), PUBLISH_CHUNK):
        chunk = jobs_to_publish[start : start + PUBLISH_CHUNK]
        await jobs.create_jobs(db, chunk)
        todo = [job for job in chunk if job.job_id not in done]
        sent: set[str] = set()
        try:
            await publisher.publish_many((job_message(job, topology) for job in todo), sent)
        finally:
            done.update(job.job_id for job in todo if str(job.job_id) in sent)


async def submit_jobs(
    db: Database,
    publisher: Callable[[], Awaitable[ConfirmedPublisher]],
    topology: Topology,
    jobs_to_submit: Sequence[ScrapeJob],
) -> dict[uuid.UUID, asyncpg.Record]:
    """The API's submission: create the rows (``queued``, committed), then open the publisher (``publisher()``)
    and publish a message for each row *this call* created, confirmed by the broker; return those rows by id
    (as :func:`leadworker.store.jobs.get_job` reads them). A job
    whose row existed (a repeated submission) gets no second message: a second message of a running job would
    be taken for a crashed worker's. If the broker cannot be reached or does not confirm, the new rows stay
    ``queued`` for the stuck-job sweep of the maintenance stage."""
    created: dict[uuid.UUID, asyncpg.Record] = {}
    # Each job's JSON made once: the stored criteria and the message body are the same text.
    bodies = [job.model_dump_json() for job in jobs_to_submit]
    for start in range(0, len(jobs_to_submit), PUBLISH_CHUNK):
        end = start + PUBLISH_CHUNK
        created.update(await jobs.create_new_jobs(db, jobs_to_submit[start:end], bodies[start:end]))
    if created:
        confirmed = await publisher()
        for start in range(0, len(jobs_to_submit), PUBLISH_CHUNK):
            end = start + PUBLISH_CHUNK
            await confirmed.publish_many(
                job_message(job, topology, body)
                for job, body in zip(jobs_to_submit[start:end], bodies[start:end], strict=True)
                if job.job_id in created
            )
    return created
