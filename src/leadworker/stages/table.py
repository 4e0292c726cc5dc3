"""The stage table: the one place a stage is named.

Each row says what a stage is called, which queue it consumes (``None``: a stage that is not a queue, the
leader-elected maintenance and the schedules), how many unacked deliveries a consumer of it holds by default,
and how its handler is built. Configuration (prefetch), the topology (queues), the worker (what ``--stage all``
runs, and in which order consumers start and stop) and the CLI read this table; adding a stage is adding a row.

This module imports nothing of leadworker: a row names its handler's factory as ``"module:function"`` (each
stage module builds its own handler from :class:`leadworker.stages.deps.StageDeps`), so that the topology, the
worker and the CLI can all read the table without an import circle, and a worker imports only the stages it
runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stage:
    """One row of the stage table."""

    name: str
    queue: str | None
    """The work queue it consumes, without prefix; ``None`` for a stage that is not a queue consumer."""
    prefetch: int
    """Unacked deliveries per consumer when ``LEADWORKER_PREFETCH`` is not set."""
    factory: str | None
    """``"module:function"`` building the stage's handler from a :class:`~leadworker.stages.deps.StageDeps`
    (see :class:`leadworker.broker.consumer.StageHandler`)."""
    summary: str

    def load_factory(self) -> Callable[[Any], Any]:
        """The factory function (imports the stage's module)."""
        if self.factory is None:
            raise ValueError(f"stage {self.name!r} has no handler")
        module, _, function = self.factory.partition(":")
        built: Callable[[Any], Any] = getattr(importlib.import_module(module), function)
        return built


STAGE_TABLE: tuple[Stage, ...] = (
    # In pipeline order: consumers start downstream first and stop upstream first.
    # Crawls are slow and I/O bound, enrichment is quick and CPU bound, webhooks wait on other people's servers.
    Stage(
        "scrape", "scrape_jobs", 16, "leadworker.stages.scrape:build", "crawl targets and directories into raw leads"
    ),
    Stage(
        "normalize",
        "leads.normalize",
        32,
        "leadworker.stages.normalize:build",
        "clean, verify, place and merge raw leads",
    ),
    Stage("score", "leads.score", 64, "leadworker.stages.score:build", "score canonical leads for their jobs"),
    Stage("notify", "jobs.notify", 16, "leadworker.stages.notify:build", "POST job events to webhooks"),
    Stage(
        "maintenance",
        None,
        0,
        None,
        "rescue stuck jobs, delete old ones, retrain the learned model; one instance at a time",
    ),
    Stage("schedule", None, 0, None, "fire due schedules, each fire time once across every instance"),
)

QUEUE_STAGES: tuple[Stage, ...] = tuple(stage for stage in STAGE_TABLE if stage.queue is not None)
"""The stages that consume a queue, in pipeline order."""
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGE_TABLE)
"""Every stage this version can run; ``--stage all`` means these."""
MAINTENANCE, SCHEDULE = (stage.name for stage in STAGE_TABLE if stage.queue is None)
"""The stages that are not queue consumers: maintenance (see :mod:`leadworker.store.maintenance`) and the
schedules (see :mod:`leadworker.stages.schedule`)."""


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
