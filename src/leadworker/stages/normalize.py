"""The normalize stage (``leads.normalize``): raw leads of a job in, canonical leads merged, scores requested.

Per delivery (a :class:`~leadworker.contracts.NormalizeBatch`), for each of its jobs:

1. Every raw lead not normalized yet is normalized (:mod:`leadworker.enrich.normalization`, with the job's geography
   as a region hint) and merged into the canonical leads (:mod:`leadworker.store.canonical`), the whole
   batch in one transaction where it can be (one per raw lead where it bridges leads or races). A raw lead
   normalized before (by this job's earlier delivery or by another job that found it too) is
   skipped: each raw lead is merged exactly once.
2. If an enrichment provider is configured, the batch's leads it has not answered for are sent to it; what it
   returns is merged with the provider as provenance. A provider that stays unavailable makes the batch retry
   (what succeeded is kept); on the message's last attempt the leads go on without it.
3. The batch's leads are checked (:mod:`leadworker.stages.verification`: e-mails' mail domains, cached per
   domain) and placed (:mod:`leadworker.stages.geocoding`: coordinates, cached per place); neither ever fails
   the batch.
4. One :class:`~leadworker.contracts.ScoreBatch` with the batch's leads (new or not: the score is per job) goes
   to ``leads.score``, confirmed; the job's progress is updated; then the consumer acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

from leadworker.broker.consumer import Delivery, StageHandler
from leadworker.broker.outcome import Decision
from leadworker.broker.publisher import ConfirmedPublisher, OutgoingMessage
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, NormalizeBatch, NormalizeItem, ScoreBatch, decode_message, job_id_hint
from leadworker.enrich.normalization import NormalizedLead, Rejected, normalize_record
from leadworker.enrich.provider import HttpEnrichmentProvider, ProviderRefused, ProviderUnavailable
from leadworker.errors import InvalidMessage, TransientError, one_line
from leadworker.ops.metrics import Metrics
from leadworker.stages.deps import StageDeps
from leadworker.stages.events import JobNotifier
from leadworker.stages.fanout import release_deferred_fanouts
from leadworker.stages.geocoding import LeadPlacer
from leadworker.stages.progress import EnrichmentTracker, is_redelivery
from leadworker.stages.verification import EmailVerifier
from leadworker.store import canonical, jobs
from leadworker.store.enrichment import record_enrich_error
from leadworker.store.pool import Database

_YIELD_EVERY = 10
"""Raw leads normalized between two yields to the event loop (~0.3 ms each: the loop waits a few ms at most).

Normalizing is pure Python: a thread would not run it in parallel, only make the event loop wait for the
GIL on every socket write (measured: a third of the stage's time)."""


def normalize_raw(raw: canonical.RawLead, geography: str | None) -> NormalizedLead:
    """Normalize one stored raw lead; a record that no longer validates becomes an unusable lead."""
    try:
        record = LeadRecord.model_validate(raw.record)
    except ValueError as exc:
        lead = NormalizedLead()
        lead.rejected.append(Rejected("record", "", f"the stored record no longer validates: {one_line(exc, 300)}"))
        return lead
    return normalize_record(record, geography=geography)


class NormalizeStage(StageHandler):
    """Handler of the ``leads.normalize`` queue (see :class:`~leadworker.broker.consumer.StageHandler`)."""

    stage = "normalize"

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        topology: Topology,
        metrics: Metrics,
        provider: HttpEnrichmentProvider | None = None,
        verifier: EmailVerifier | None = None,
        placer: LeadPlacer | None = None,
    ) -> None:
        self.db = db
        self.verifier = verifier
        self.placer = placer
        self.settings = settings
        self.topology = topology
        self.metrics = metrics
        self.provider = provider
        self.tracker = EnrichmentTracker(db, JobNotifier(db, settings, topology))
        values = metrics.normalized_values  # the children looked up once: labels() locks and hashes each call
        self._values = {
            (kind, verdict): values.labels(kind, verdict)
            for kind in ("phone", "email")
            for verdict in ("valid", "invalid")
        }

    async def close(self) -> None:
        if self.provider is not None:
            await self.provider.close()
        if self.placer is not None:
            await self.placer.close()

    async def handle(self, delivery: Delivery) -> None:
        batch = decode_message(delivery.body, NormalizeBatch, self.settings.max_message_bytes)
        delivery.job_id = batch.items[0].job_id
        for item in batch.items:
            await self._handle_item(delivery, item)

    async def _handle_item(self, delivery: Delivery, item: NormalizeItem) -> None:
        dlog = delivery.log.bind(job_id=str(item.job_id))
        criteria = await jobs.job_criteria(self.db, item.job_id)
        geography = criteria.get("geography") if isinstance(criteria, dict) else None
        geography = geography if isinstance(geography, str) else None

        raws = await canonical.load_raw_leads(self.db, item.raw_lead_ids)
        todo = [raw for raw in raws if not raw.normalized]
        normalized = []
        for n, raw in enumerate(todo, 1):
            normalized.append(normalize_raw(raw, geography))
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        actions: Counter[str] = Counter()
        outcomes = await canonical.merge_raw_leads(self.db, list(zip(todo, normalized, strict=True)))
        for raw, lead, outcome in zip(todo, normalized, outcomes, strict=True):
            actions[outcome.action] += 1
            if outcome.action != "skipped":
                self._count(lead, outcome)
            if outcome.absorbed or outcome.conflicts:
                dlog.info(
                    "leads bridged",
                    raw_lead_id=raw.id,
                    lead_id=outcome.lead_id,
                    absorbed=list(outcome.absorbed),
                    conflicts=outcome.conflicts,
                )
        lead_ids = await canonical.leads_of_raw(self.db, item.raw_lead_ids)
        if self.provider is not None and lead_ids:
            await self._enrich(lead_ids, final_attempt=self.settings.retry_policy.is_last(delivery.attempt), dlog=dlog)
        if lead_ids:
            await self._check_contacts(lead_ids, dlog)
        if criteria is not None and lead_ids:
            await self._request_scores(delivery.publisher, item.job_id, lead_ids)
        await self.tracker.update(delivery.publisher, item.job_id, recheck=is_redelivery(delivery))
        dlog.info(
            "batch normalized",
            raw_leads=len(item.raw_lead_ids),
            missing=len(item.raw_lead_ids) - len(raws),
            leads=len(lead_ids),
            **dict(actions),
        )

    async def _check_contacts(self, lead_ids: list[int], dlog: Any) -> None:
        if self.verifier is not None:
            verified = await self.verifier.verify_leads(lead_ids)
            if verified.unknown_domains:
                dlog.warning(
                    "e-mail domains not verified: the resolver failed; they are asked again next time",
                    domains=verified.unknown_domains,
                )
            for outcome, count in verified.outcomes.items():
                self.metrics.mail_domain_lookups.labels(outcome).inc(count)
            dlog.debug(
                "e-mails verified",
                addresses=verified.addresses,
                domains_asked=verified.domains_asked,
                written=verified.written,
            )
        if self.placer is not None:
            placed = await self.placer.place_leads(lead_ids)
            if placed.asked:
                failed = 1 if placed.unavailable else 0
                self.metrics.geocoder_requests.labels("answered").inc(placed.asked - failed)
                self.metrics.geocoder_requests.labels("unavailable").inc(failed)
            dlog.debug("leads placed", **vars(placed))

    def _count(self, lead: NormalizedLead, outcome: canonical.MergeOutcome) -> None:
        values = self._values
        values["phone", "valid"].inc(len(lead.phones))
        values["phone", "invalid"].inc(lead.invalid_count("phone"))
        values["email", "valid"].inc(len(lead.emails))
        values["email", "invalid"].inc(lead.invalid_count("email"))
        self.metrics.merges.labels(outcome.action).inc()

    async def _request_scores(self, publisher: ConfirmedPublisher, job_id: uuid.UUID, lead_ids: list[int]) -> None:
        size = self.settings.fanout_batch_size
        await publisher.publish_many(
            OutgoingMessage(
                routing_key=self.topology.work_queue("score"),
                body=ScoreBatch(job_id=job_id, lead_ids=lead_ids[i : i + size]).body(),
                message_id=f"{job_id}:score:{lead_ids[i]}",
            )
            for i in range(0, len(lead_ids), size)
        )

    async def _enrich(self, lead_ids: list[int], *, final_attempt: bool, dlog: Any) -> None:
        provider = self.provider
        assert provider is not None
        leads = await canonical.leads_for_provider(self.db, lead_ids, provider.name)
        results = await asyncio.gather(
            *(self._enrich_one(lead, final_attempt) for lead in leads), return_exceptions=True
        )
        unavailable = [r for r in results if isinstance(r, BaseException)]
        for error in unavailable:
            if not isinstance(error, ProviderUnavailable):
                raise error
        if unavailable:
            raise TransientError(
                f"{len(unavailable)} of {len(leads)} provider lookups failed: {one_line(unavailable[0], 200)}",
                kind="provider",
            )
        if leads:
            dlog.info("leads enriched by provider", provider=provider.name, leads=len(leads))

    async def _enrich_one(self, lead: dict[str, Any], final_attempt: bool) -> None:
        provider = self.provider
        assert provider is not None
        status, fields, error, attempts = "failed", None, None, 1
        values: list[canonical.ValueRow] = []
        try:
            answer = await provider.lookup(lead)
        except ProviderUnavailable as exc:
            self.metrics.provider_lookups.labels("unavailable").inc()
            if not final_attempt:
                raise
            error, attempts = str(exc), provider.retries + 1
        except ProviderRefused as exc:
            self.metrics.provider_lookups.labels("refused").inc()
            error = str(exc)
        else:
            self.metrics.provider_lookups.labels(answer.status).inc()
            status, fields, attempts = answer.status, answer.raw or None, answer.attempts
            if answer.fields is not None:
                normalized = normalize_record(answer.fields.as_record(), geography=None)
                raw = canonical.RawLead(0, {}, "provider", provider.endpoint, True)
                values = canonical.lead_values(raw, normalized)
        await canonical.save_provider_result(
            self.db,
            lead["id"],
            provider=provider.name,
            endpoint=provider.endpoint,
            status=status,
            fields=fields,
            error=error,
            attempts=attempts,
            values=values,
        )

    async def periodic(self, publisher: ConfirmedPublisher) -> None:
        """Publish the enrichment fan-outs deferred while nothing consumed ``leads.normalize`` (called by the
        worker when this stage's consumer starts and every maintenance interval)."""
        await release_deferred_fanouts(
            self.db,
            publisher,
            self.tracker,
            queue=self.topology.work_queue("normalize"),
            size=self.settings.fanout_batch_size,
        )
        if self.placer is not None:
            # What the batches left at city precision, at the geocoder's pace (one interval's worth).
            await self.placer.refine_pending(
                max(1, int(self.settings.maintenance_interval * self.settings.geocoder_rate / 2))
            )

    async def on_retry(self, delivery: Delivery, decision: Decision, delay: float) -> None:
        """Nothing to record: the job's progress shows what is done."""

    async def on_dead(self, delivery: Delivery, decision: Decision) -> None:
        with contextlib.suppress(InvalidMessage):
            batch = decode_message(delivery.body, NormalizeBatch, self.settings.max_message_bytes)
            for each in batch.job_ids:
                await record_enrich_error(self.db, each, f"normalize: {decision.reason}", decision.kind)
            return
        job_id = delivery.job_id or job_id_hint(delivery.body, None, self.settings.max_message_bytes)
        if job_id is not None:
            await record_enrich_error(self.db, job_id, f"normalize: {decision.reason}", decision.kind)


def build(deps: StageDeps) -> NormalizeStage:
    """The normalize stage's handler (the stage table's factory)."""
    from leadworker.enrich.provider import HttpEnrichmentProvider
    from leadworker.stages.geocoding import lead_placer
    from leadworker.stages.verification import email_verifier

    provider = HttpEnrichmentProvider(deps.settings) if deps.settings.enrich_provider_url else None
    return NormalizeStage(
        db=deps.db,
        settings=deps.settings,
        topology=deps.topology,
        metrics=deps.metrics,
        provider=provider,
        verifier=email_verifier(deps.settings, deps.db),
        placer=lead_placer(deps.settings, deps.db),
    )
