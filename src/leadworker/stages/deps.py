"""What the worker hands every stage factory (``build`` in each stage module): shared, process-wide resources."""

from __future__ import annotations

from dataclasses import dataclass

from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.ops.metrics import Metrics
from leadworker.store.pool import Database


@dataclass
class StageDeps:
    """Shared, process-wide resources a stage's handler is built with."""

    settings: Settings
    db: Database
    topology: Topology
    metrics: Metrics
    worker: str
    """``host:pid`` of this process, recorded on the jobs it runs."""
