"""Stages: one module per stage, each a handler for the consumer (see ``broker.consumer.StageHandler``).

:data:`STAGE_FACTORIES` is the registry the worker builds its handlers from; a stage that is not in it
cannot be run (``--stage all`` means every registered stage, in pipeline order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from leadworker.broker.consumer import StageHandler
from leadworker.broker.topology import Topology
from leadworker.config import STAGES, Settings
from leadworker.ops.metrics import Metrics
from leadworker.store.pool import Database


@dataclass
class StageDeps:
    """What the worker hands every stage factory: shared, process-wide resources."""

    settings: Settings
    db: Database
    topology: Topology
    metrics: Metrics
    worker: str
    """``host:pid`` of this process, recorded on the jobs it runs."""


def _scrape(deps: StageDeps) -> StageHandler:
    from leadworker.scrape.chromium import warn_if_missing
    from leadworker.stages.scrape import ScrapeStage

    warn_if_missing(deps.settings)  # the stage that can render: a missing browser is said once, at start
    return ScrapeStage(db=deps.db, settings=deps.settings, topology=deps.topology, metrics=deps.metrics,
                       worker=deps.worker)


def _normalize(deps: StageDeps) -> StageHandler:
    from leadworker.enrich.provider import HttpEnrichmentProvider
    from leadworker.stages.geocoding import lead_placer
    from leadworker.stages.normalize import NormalizeStage
    from leadworker.stages.verification import email_verifier

    provider = HttpEnrichmentProvider(deps.settings) if deps.settings.enrich_provider_url else None
    return NormalizeStage(db=deps.db, settings=deps.settings, topology=deps.topology, metrics=deps.metrics,
                          provider=provider, verifier=email_verifier(deps.settings, deps.db),
                          placer=lead_placer(deps.settings, deps.db))


def _score(deps: StageDeps) -> StageHandler:
    from leadworker.stages.score import ScoreStage

    return ScoreStage(db=deps.db, settings=deps.settings, topology=deps.topology, metrics=deps.metrics)


def _notify(deps: StageDeps) -> StageHandler:
    from leadworker.stages.notify import NotifyStage

    return NotifyStage(db=deps.db, settings=deps.settings, metrics=deps.metrics)


STAGE_FACTORIES: dict[str, Callable[[StageDeps], StageHandler]] = {
    "scrape": _scrape,
    "normalize": _normalize,
    "score": _score,
    "notify": _notify,
}


def available_stages() -> list[str]:
    """Registered stages in pipeline order."""
    return [stage for stage in STAGES if stage in STAGE_FACTORIES]
