"""The stage table: the one place a stage is named.

Each row says what a stage is called, which queue it consumes (``None``: a stage that is not a queue, the
leader-elected maintenance), how many unacked deliveries a consumer of it holds by default, and how its handler
is built. Configuration (prefetch), the topology (queues), the worker (what ``--stage all`` runs, and in which
order consumers start and stop) and the CLI read this table; adding a stage is adding a row.

This module imports nothing of leadworker when it is imported (the handlers are built lazily), so that the
settings and the topology can read it without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from leadworker.broker.consumer import StageHandler
    from leadworker.broker.topology import Topology
    from leadworker.config import Settings
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


@dataclass(frozen=True)
class Stage:
    """One row of the stage table."""

    name: str
    queue: str | None
    """The work queue it consumes, without prefix; ``None`` for a stage that is not a queue consumer."""
    prefetch: int
    """Unacked deliveries per consumer when ``LEADWORKER_PREFETCH`` is not set."""
    build: Callable[[StageDeps], StageHandler] | None
    """Builds the stage's handler (see :class:`leadworker.broker.consumer.StageHandler`)."""
    summary: str


STAGE_TABLE: tuple[Stage, ...] = (
    # In pipeline order: consumers start downstream first and stop upstream first.
    # Crawls are slow and I/O bound, enrichment is quick and CPU bound, webhooks wait on other people's servers.
    Stage("scrape", "scrape_jobs", 16, _scrape, "crawl targets and directories into raw leads"),
    Stage("normalize", "leads.normalize", 32, _normalize, "clean, verify, place and merge raw leads"),
    Stage("score", "leads.score", 64, _score, "score canonical leads for their jobs"),
    Stage("notify", "jobs.notify", 16, _notify, "POST job events to webhooks"),
    Stage("maintenance", None, 0, None, "rescue stuck jobs and delete old ones, one instance at a time"),
)

QUEUE_STAGES: tuple[Stage, ...] = tuple(stage for stage in STAGE_TABLE if stage.queue is not None)
"""The stages that consume a queue, in pipeline order."""
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGE_TABLE)
"""Every stage this version can run; ``--stage all`` means these."""
MAINTENANCE = next(stage.name for stage in STAGE_TABLE if stage.queue is None)
"""The stage that is not a queue consumer (see :mod:`leadworker.store.maintenance`)."""


def stage_named(name: str) -> Stage:
    """The row of ``name`` (raises ``KeyError`` for a name that is not a stage)."""
    for stage in STAGE_TABLE:
        if stage.name == name:
            return stage
    raise KeyError(name)


def parse_stages(value: str) -> list[str]:
    """``all`` or a comma-separated list of stage names, validated (raises ValueError)."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise ValueError("no stage given; use all or a comma-separated list such as scrape,normalize")
    if names == ["all"]:
        return list(STAGE_NAMES)
    unknown = [n for n in names if n not in STAGE_NAMES]
    if unknown:
        raise ValueError(f"unknown stage {unknown[0]!r}; choose from all, {', '.join(STAGE_NAMES)}")
    return list(dict.fromkeys(names))
