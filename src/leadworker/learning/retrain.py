"""Training from the database: the examples (every lead's latest decided outcome, with its features as the score
stage computes them now), ``model train``, and the maintenance stage's retraining.

Retraining (:func:`retrain_if_due`) runs under an advisory lock, one instance at a time, when a model is active
and ``learn_retrain_outcomes`` outcomes were recorded since the newest model was trained. The candidate is
activated only if its held-out AUC is not below the active model's AUC on the same held-out outcomes;
otherwise it is stored as ``refused`` (with both figures) and the active model stays. The maintenance stage
never replaces the rule score by a model on its own: the first model is activated by a person.
"""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass
from typing import Any

import structlog

from leadworker.config import Settings
from leadworker.enrich.scoring import JobCriteria, ScoringPolicy, score_lead
from leadworker.learning.features import extract
from leadworker.learning.model import LearnedModel
from leadworker.learning.training import Example, NotEnoughOutcomes, Trained, auc_on, train
from leadworker.store import score_models
from leadworker.store.outcomes import decided_outcomes, outcomes_recorded_since
from leadworker.store.pool import Database
from leadworker.store.scores import lead_profiles

log = structlog.get_logger("leadworker.learning")

__all__ = ["NotEnoughOutcomes", "Retrained", "examples", "retrain_if_due", "train_and_store"]


async def examples(db: Database, policy: ScoringPolicy) -> list[Example]:
    """Every live lead whose latest outcome is decided, with its features and rule score as scored now (for the
    job that last scored it; a lead whose job is gone is scored without job criteria)."""
    rows = await decided_outcomes(db)
    profiles = await lead_profiles(db, [r["lead_id"] for r in rows])
    out: list[Example] = []
    for row in rows:
        profile = profiles.get(row["lead_id"])
        if profile is None:
            continue
        criteria = row["criteria"] if isinstance(row["criteria"], dict) else None
        rule = score_lead(profile, JobCriteria.from_criteria(criteria), policy)
        out.append(Example(row["lead_id"], row["at"], row["outcome"] == "won", extract(profile, rule), rule.score))
    return out


def rule_policy(settings: Settings) -> ScoringPolicy:
    """The rule score's weights and thresholds (as the score stage builds them)."""
    return ScoringPolicy.build(settings.score_weights, hot=settings.score_hot, warm=settings.score_warm)


async def _fit(db: Database, settings: Settings) -> Trained:
    found = await examples(db, rule_policy(settings))
    # Fitting is CPU work of seconds: off the event loop, so that a worker's consumers keep consuming.
    return await asyncio.to_thread(
        train,
        found,
        min_per_class=settings.learn_min_outcomes,
        test_fraction=settings.learn_test_fraction,
        max_categories=settings.learn_max_categories,
    )


def _report(model_id: int, trained: Trained, **extra: Any) -> dict[str, Any]:
    return {"id": model_id, **trained.report, **extra}


async def train_and_store(db: Database, settings: Settings) -> dict[str, Any]:
    """Train a model on the outcomes recorded so far and store it (not active); its report, ``id`` first.
    Raises :class:`NotEnoughOutcomes`."""
    trained = await _fit(db, settings)
    model_id = await score_models.save_model(
        db, trained.model.to_json(), trained.report, status="trained", trigger="cli"
    )
    return _report(model_id, trained)


@dataclass(frozen=True)
class Retrained:
    """A retraining that ran: the candidate's id, whether it was activated, both AUCs."""

    model_id: int
    activated: bool
    auc: float
    active_auc: float
    replaced: int


async def retrain_if_due(db: Database, settings: Settings) -> Retrained | None:
    """Retrain if it is due (see the module's docstring); None if it was not (or another instance is at it)."""
    if settings.learn_retrain_outcomes <= 0 or importlib.util.find_spec("sklearn") is None:
        return None  # off, or training is not installed (pip install 'leadworker[ml]')
    async with db.transaction() as conn:
        if not await score_models.try_learn_lock(conn):
            return None
        active_id = await score_models.active_model_id(conn)
        if active_id is None:
            return None
        since = await score_models.newest_model_time(conn)
        if await outcomes_recorded_since(db, since) < settings.learn_retrain_outcomes:
            return None
        active_row = await score_models.get_model(conn, active_id)
        assert active_row is not None
        active = LearnedModel.from_json(active_id, active_row["body"])
        try:
            trained = await _fit(db, settings)
        except NotEnoughOutcomes as exc:
            log.info("retraining skipped", reason=str(exc))
            return None
        auc = float(trained.report["metrics"]["auc"])
        active_auc = await asyncio.to_thread(auc_on, active, trained.test)
        better = auc >= active_auc
        report = {**trained.report, "compared_with": {"model": active_id, "auc": active_auc}}
        model_id = await score_models.save_model(
            conn, trained.model.to_json(), report, status="retrained" if better else "refused", trigger="maintenance"
        )
        if better:
            await score_models.activate(
                conn, model_id, f"retrained: held-out AUC {auc} >= model {active_id}'s {active_auc}"
            )
            log.info("retrained model activated", model=model_id, auc=auc, replaced=active_id, active_auc=active_auc)
        else:
            log.warning(
                "retrained model refused: its held-out AUC is below the active model's",
                model=model_id,
                auc=auc,
                active=active_id,
                active_auc=active_auc,
            )
    return Retrained(model_id, better, auc, active_auc, active_id)
