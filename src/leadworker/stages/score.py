"""The score stage (``leads.score``): canonical leads scored for a job, then the job's progress updated.

Per delivery (a :class:`~leadworker.contracts.ScoreBatch`): read the job's keywords, industry and geography,
score each lead (following merges) with :func:`~leadworker.enrich.scoring.score_lead` under the configured
weights and thresholds, store the scores idempotently (:mod:`leadworker.store.scores`), update the job's
progress (which sets ``enriched_at`` and publishes ``job.enriched`` when the job is done), then the consumer acks.

With a learned model active (:mod:`leadworker.store.score_models`), the score is the model's (100 x P(won), see
:mod:`leadworker.learning.model`) over the lead's features, the rule score among them. The stage asks which
model is active on every batch (one small query) and reads a model's body only when it changed. A re-score
batch (``rescore``, sent when a model is activated or rolled back) leaves the job's progress alone.
"""

from __future__ import annotations

from collections import Counter

import structlog

from leadworker.broker.consumer import Delivery, StageHandler
from leadworker.broker.outcome import Decision
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import ScoreBatch, decode_message, job_id_hint
from leadworker.enrich.scoring import JobCriteria, LeadProfile, Scored, ScoringPolicy, score_lead
from leadworker.learning.features import extract
from leadworker.learning.model import LearnedModel, ModelError
from leadworker.learning.retrain import rule_policy
from leadworker.ops.metrics import Metrics
from leadworker.stages.deps import StageDeps
from leadworker.stages.events import JobNotifier
from leadworker.stages.progress import EnrichmentTracker, is_redelivery
from leadworker.store import jobs
from leadworker.store.enrichment import record_enrich_error
from leadworker.store.pool import Database
from leadworker.store.score_models import active_model
from leadworker.store.scores import score_leads

log = structlog.get_logger("leadworker.score")


def scoring_policy(settings: Settings) -> ScoringPolicy:
    """The weights and thresholds of ``settings`` (weights not named keep their defaults)."""
    return rule_policy(settings)


class ScoreStage(StageHandler):
    """Handler of the ``leads.score`` queue (see :class:`~leadworker.broker.consumer.StageHandler`)."""

    stage = "score"

    def __init__(self, *, db: Database, settings: Settings, topology: Topology, metrics: Metrics) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.policy = scoring_policy(settings)
        self.tracker = EnrichmentTracker(db, JobNotifier(db, settings, topology))
        self.model_id: int | None = None
        self.model: LearnedModel | None = None

    async def current_model(self) -> LearnedModel | None:
        """The active learned model (None: the rule score), re-read only when another one was activated."""
        model_id, body = await active_model(self.db, self.model_id)
        if model_id == self.model_id:
            return self.model
        self.model_id, self.model = model_id, None
        if model_id is not None and body is not None:
            try:
                self.model = LearnedModel.from_json(model_id, body)
            except ModelError as exc:
                log.error("the active model cannot be read; scoring with the rule score", error=str(exc))
        log.info("scoring model changed", model=model_id if self.model is not None else "rule score")
        return self.model

    async def handle(self, delivery: Delivery) -> None:
        batch = decode_message(delivery.body, ScoreBatch, self.settings.max_message_bytes)
        delivery.job_id = batch.job_id
        dlog = delivery.log = delivery.log.bind(job_id=str(batch.job_id))
        criteria = await jobs.job_criteria(self.db, batch.job_id)
        if criteria is None:
            dlog.warning("job does not exist any more; nothing to score for it", leads=len(batch.lead_ids))
            return
        job = JobCriteria.from_criteria(criteria)
        model = await self.current_model()
        hot, warm = self.settings.learn_hot_probability, self.settings.learn_warm_probability

        def compute(profile: LeadProfile) -> Scored:
            rule = score_lead(profile, job, self.policy)
            return rule if model is None else model.score(extract(profile, rule), hot, warm)

        scored = await score_leads(self.db, batch.job_id, batch.lead_ids, compute, rescore=batch.rescore)
        segments = Counter(result.segment for result in scored.scored.values())
        for segment, count in segments.items():
            self.metrics.leads_scored.labels(segment).inc(count)
        progress = None
        if not batch.rescore:
            progress = await self.tracker.update(delivery.publisher, batch.job_id, recheck=is_redelivery(delivery))
        dlog.info(
            "leads rescored" if batch.rescore else "leads scored",
            leads=len(scored.scored),
            changed=scored.changed,
            model=model.model_id if model is not None else None,
            **dict(segments),
            job_scored=progress.scored if progress else None,
        )

    async def on_retry(self, delivery: Delivery, decision: Decision, delay: float) -> None:
        """Nothing to record: the job's progress shows what is done."""

    async def on_dead(self, delivery: Delivery, decision: Decision) -> None:
        job_id = delivery.job_id or job_id_hint(delivery.body, None, self.settings.max_message_bytes)
        if job_id is not None:
            await record_enrich_error(self.db, job_id, f"score: {decision.reason}", decision.kind)


def build(deps: StageDeps) -> ScoreStage:
    """The score stage's handler (the stage table's factory)."""
    return ScoreStage(db=deps.db, settings=deps.settings, topology=deps.topology, metrics=deps.metrics)
