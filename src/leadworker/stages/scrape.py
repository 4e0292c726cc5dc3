"""The scrape stage: one ``scrape_jobs`` message in, a completed job row and its raw leads out.

Per delivery: decode and validate the message; claim the job (queued/retrying/orphaned-running → running);
run its sources; store the leads, link them and complete the job in one statement; fan the job's leads out to
``leads.normalize`` (or, while nothing consumes it, defer the fan-out in the database: see
:mod:`leadworker.stages.fanout`) and publish its ``job.completed`` event to ``jobs.notify`` (both confirmed); then
the consumer acks. A message of a job that is already completed only re-publishes the fan-out (and the event)
that may have been cut short; a cancelled or failed job is skipped, its event re-published if it was not
delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from leadworker.broker.consumer import Delivery, StageHandler
from leadworker.broker.outcome import Decision
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import (
    ScrapeJob,
    decode_json_object,
    decode_scrape_job,
    job_id_hint,
)
from leadworker.errors import InvalidMessage, PermanentError, ServiceUnavailable
from leadworker.ops.logging import log_for_process
from leadworker.ops.metrics import Metrics
from leadworker.scrape.shared import apply_shared
from leadworker.scrape.sources import ScrapeContext, run_sources
from leadworker.scrape.tools import ScrapeTools
from leadworker.stages.batching import GroupCommit
from leadworker.stages.deps import StageDeps
from leadworker.stages.events import JobNotifier
from leadworker.stages.fanout import NormalizeConsumers, normalize_messages
from leadworker.stages.progress import EnrichmentTracker
from leadworker.store import jobs
from leadworker.store.enrichment import defer_fanouts, pending_enrichment
from leadworker.store.jobs import JobStatus
from leadworker.store.leads import prepare_leads
from leadworker.store.pool import Database


class JobStopped(Exception):
    """The job was cancelled, or another worker took it over, while this worker ran it."""

    def __init__(self, status: JobStatus | None) -> None:
        super().__init__(f"job is {status.value if status else 'gone'}")
        self.status = status


STOP_CHECK_EVERY = 2.0
"""A running job asks the database whether it was cancelled (and so writes its heartbeat) at least this often
between pages, whatever ``LEADWORKER_HEARTBEAT_INTERVAL`` says: ``jobs cancel`` should stop a crawl within
seconds, and one indexed UPDATE every two seconds per running job is nothing for PostgreSQL."""


def worker_id() -> str:
    """``host:pid``, as recorded on the jobs a worker runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobWatch:
    """Heartbeat of one running job, and the answer to "should I stop?" between pages.

    The database is asked at most once per ``interval``; in between, :meth:`checkpoint` costs nothing.
    """

    def __init__(self, db: Database, job_id: uuid.UUID, attempt: int, interval: float) -> None:
        self.db = db
        self.job_id = job_id
        self.attempt = attempt
        self.interval = interval
        self._last = time.monotonic()

    async def checkpoint(self) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        status = await jobs.heartbeat(self.db, self.job_id, self.attempt)
        if status is not JobStatus.RUNNING:
            raise JobStopped(status)


class ScrapeStage(StageHandler):
    """Handler of the ``scrape_jobs`` queue (see :class:`~leadworker.broker.consumer.StageHandler`)."""

    stage = "scrape"

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        topology: Topology,
        metrics: Metrics,
        worker: str | None = None,
        tools: ScrapeTools | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.topology = topology
        self.tools = tools or ScrapeTools(settings, metrics)
        self.metrics = metrics
        self.worker = worker or worker_id()
        self._completed = metrics.jobs_finished.labels("completed")
        self._failed = metrics.jobs_finished.labels("failed")
        self._found = metrics.leads.labels("found")
        self._new = metrics.leads.labels("new")
        self._duplicate = metrics.leads.labels("duplicate")
        # Enrichment and webhooks (jobs.notify): the events of the job's terminal states and of its enrichment.
        self.notifier = JobNotifier(db, settings, topology)
        self.tracker = EnrichmentTracker(db, self.notifier)
        # Claims and completions of concurrent deliveries share statements (see leadworker.stages.batching).
        self._claims: GroupCommit[ScrapeJob, jobs.Claim] = GroupCommit(self._claim_batch)
        self._completions: GroupCommit[jobs.CompletionRequest, jobs.Completion | None] = GroupCommit(
            self._complete_batch
        )
        self._fanouts: GroupCommit[_Fanout, None] = GroupCommit(self._fanout_batch, max_batch=256)
        self._normalize_consumers = NormalizeConsumers(topology.work_queue("normalize"))
        self._deferring = False

    async def close(self) -> None:
        """Close the fetcher and the browser (called by the worker on shutdown)."""
        await self.tools.close()

    async def _claim_batch(self, batch: Sequence[ScrapeJob]) -> list[jobs.Claim | BaseException]:
        try:
            return list(await jobs.claim_jobs(self.db, batch, self.worker))
        except ServiceUnavailable:
            raise
        except Exception:  # isolate the job that broke the batch: one by one
            return [await _outcome(jobs.claim_job(self.db, job, self.worker)) for job in batch]

    async def _complete_batch(
        self, batch: Sequence[jobs.CompletionRequest]
    ) -> list[jobs.Completion | BaseException | None]:
        try:
            return list(await jobs.complete_jobs(self.db, batch))
        except ServiceUnavailable:
            raise
        except Exception:  # isolate the job that broke the batch (or a deadlock): one by one
            return [await _outcome(jobs.complete_jobs(self.db, [request]), first=True) for request in batch]

    async def handle(self, delivery: Delivery) -> None:
        job = decode_scrape_job(delivery.body, self.settings.max_message_bytes)
        delivery.job_id = job.job_id
        log = delivery.bind(job_id=str(job.job_id))

        claim = await self._claims.submit(job)
        if not claim.acquired:
            if claim.status is JobStatus.COMPLETED:
                republished = await self.fan_out(delivery.publisher, job.job_id)
                log.info("job already completed; acked without redoing it", fanout_republished=republished)
            else:
                log.info("job skipped", status=claim.status.value)
            await self._announce(delivery, job)
            return
        delivery.attempt = max(delivery.attempt, claim.attempt)
        log = delivery.bind(attempt=delivery.attempt)
        if self.settings.retry_policy.is_beyond(claim.attempt):
            raise PermanentError(
                f"job started {claim.attempt} times without finishing (its worker died each time)",
                kind="attempts_exhausted",
            )
        log.info("job started", sources=job.source_types, targets=len(job.targets), resumed=claim.attempt > 1)
        started = time.monotonic()

        watch = JobWatch(self.db, job.job_id, claim.attempt, min(self.settings.heartbeat_interval, STOP_CHECK_EVERY))
        ctx = ScrapeContext(
            settings=self.settings,
            tools=self.tools,
            checkpoint=watch.checkpoint,
            final_attempt=self.settings.retry_policy.is_last(claim.attempt),
            # Stop taking pages a little before max_job_seconds, to keep (and store) what was found.
            deadline=started + self.settings.max_job_seconds * 0.9,
        )
        try:
            result = await run_sources(job, ctx)
        except JobStopped as stopped:
            log.info(
                "job stopped while running",
                status=stopped.status.value if stopped.status else None,
                seconds=round(time.monotonic() - started, 3),
            )
            await self._announce(delivery, job)
            return

        # A contact that several unrelated sites show is a vendor's (see leadworker.scrape.shared).
        records = await apply_shared(self.db, result.records)
        prepared = await asyncio.to_thread(prepare_leads, records) if len(records) > 200 else prepare_leads(records)
        # While nothing consumes leads.normalize, the completion itself marks the fan-out deferred.
        defer = (
            self.settings.enrich
            and bool(prepared.hashes)
            and not await self._normalize_consumers.present(delivery.publisher.connection)
        )
        completion = await self._completions.submit(
            jobs.CompletionRequest(
                job.job_id,
                claim.attempt,
                prepared,
                result.pages,
                defer_fanout=defer,
                pages_degraded=result.pages_degraded,
            )
        )
        if completion is None:
            status = await jobs.job_status(self.db, job.job_id)
            log.info("job not completed by this worker", status=status.value if status else None)
            await self._announce(delivery, job)
            return
        self._completed.inc()
        self._found.inc(completion.found)
        self._new.inc(completion.new)
        self._duplicate.inc(completion.duplicates)
        for kind, count in result.degraded.items():
            self.metrics.pages_degraded.labels(kind).inc(count)
        if defer:
            self._note_deferring(True, jobs=1)
        elif self.settings.enrich:
            # Just completed: every lead it found is still to be enriched for it (scored against its criteria).
            if completion.linked_ids:
                await self.publish_fanout(delivery.publisher, job.job_id, completion.linked_ids)
            else:
                await self.tracker.update(delivery.publisher, job.job_id, recheck=False)
        await self._announce(delivery, job)
        # A job that could not render what needed it is said aloud: its leads may miss script-only contacts.
        (log.warning if result.degraded else log.info)(
            "job completed",
            pages=result.pages,
            found=completion.found,
            new=completion.new,
            duplicates=completion.duplicates,
            seconds=round(time.monotonic() - started, 3),
            **({"pages_degraded": result.pages_degraded, "degraded": result.degraded} if result.degraded else {}),
        )

    async def _announce(self, delivery: Delivery, job: ScrapeJob) -> None:
        """Tell the job's webhook its status, if it has one."""
        if self.notifier.applies(job.webhook_url):
            await self.notifier.publish_status(delivery.publisher, job.job_id)

    async def fan_out(self, publisher: ConfirmedPublisher, job_id: uuid.UUID, *, recheck: bool = True) -> int:
        """Publish the raw leads of a completed job whose enrichment for it is not done: new ones, and duplicates
        whose canonical lead this job has not scored yet. With nothing left, the job is enriched now."""
        if not self.settings.enrich:
            return 0
        pending = await pending_enrichment(self.db, job_id)
        await self.publish_fanout(publisher, job_id, pending)
        if not pending:
            await self.tracker.update(publisher, job_id, recheck=recheck)
        return len(pending)

    async def publish_fanout(self, publisher: ConfirmedPublisher, job_id: uuid.UUID, ids: list[int]) -> None:
        """Send ``ids`` to ``leads.normalize``, confirmed (the caller acks after this). The fan-outs of jobs
        completing together share messages of up to ``fanout_batch_size`` leads."""
        if not ids or not self.settings.enrich:
            return
        await self._fanouts.submit(_Fanout(publisher, job_id, ids))

    async def _fanout_batch(self, batch: Sequence[_Fanout]) -> list[None]:
        queue = self.topology.work_queue("normalize")
        by_publisher: dict[int, tuple[ConfirmedPublisher, list[_Fanout]]] = {}
        for request in batch:
            by_publisher.setdefault(id(request.publisher), (request.publisher, []))[1].append(request)
        for publisher, requests in by_publisher.values():
            if not await self._normalize_consumers.present(publisher.connection):
                await defer_fanouts(self.db, [r.job_id for r in requests])
                self._note_deferring(True, jobs=len(requests))
                continue
            self._note_deferring(False)
            await publisher.publish_many(
                normalize_messages(((r.job_id, r.ids) for r in requests), queue, self.settings.fanout_batch_size)
            )
        return [None] * len(batch)

    async def periodic(self, publisher: ConfirmedPublisher) -> None:
        """Look at ``leads.normalize``'s consumers as the consumer starts, so that the first job does not wait
        for it (called by the worker then and every maintenance interval)."""
        if self.settings.enrich:
            await self._normalize_consumers.present(publisher.connection)

    def _note_deferring(self, deferring: bool, **values: Any) -> None:
        """Log when fan-outs start being deferred (once, not per job)."""
        if deferring and not self._deferring:
            log_for_process(
                structlog.get_logger("leadworker.fanout"),
                "enrichment deferred in the database: nothing consumes leads.normalize",
                **values,
            )
        self._deferring = deferring

    async def on_retry(self, delivery: Delivery, decision: Decision, delay: float) -> None:
        if delivery.job_id is not None:
            await jobs.mark_retrying(self.db, delivery.job_id, delivery.attempt, decision.error, decision.kind)

    async def on_dead(self, delivery: Delivery, decision: Decision) -> None:
        job_id = delivery.job_id or job_id_hint(delivery.body, delivery.message_id, self.settings.max_message_bytes)
        if job_id is None:
            return
        if delivery.job_id is None:
            delivery.bind(job_id=str(job_id))  # the "dead-lettered" line then names the job too
        criteria: dict[str, Any] | None = None
        with contextlib.suppress(InvalidMessage):
            criteria = decode_json_object(delivery.body, self.settings.max_message_bytes)
        # Once the message decoded, the job was (or was about to be) claimed by this attempt: fence on it.
        failed = await jobs.fail_job(
            self.db,
            job_id,
            decision.reason,
            decision.kind,
            attempt=delivery.attempt if delivery.job_id is not None else None,
            criteria=_json_safe(criteria),
        )
        if failed:
            self._failed.inc()
        await self.notifier.publish_status(delivery.publisher, job_id)


@dataclass(frozen=True)
class _Fanout:
    publisher: ConfirmedPublisher
    job_id: uuid.UUID
    ids: list[int]


async def _outcome(awaitable: Awaitable[Any], *, first: bool = False) -> Any:
    """The result of ``awaitable`` (its first item with ``first``), or the exception it raised."""
    try:
        result = await awaitable
    except Exception as exc:
        return exc
    return result[0] if first else result


def _json_safe(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def build(deps: StageDeps) -> ScrapeStage:
    """The scrape stage's handler (the stage table's factory)."""
    from leadworker.scrape.chromium import warn_if_missing

    warn_if_missing(deps.settings)  # the stage that can render: a missing browser is said once, at start
    return ScrapeStage(
        db=deps.db, settings=deps.settings, topology=deps.topology, metrics=deps.metrics, worker=deps.worker
    )
