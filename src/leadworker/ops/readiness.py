"""What ``/readyz`` reports of a worker: broker connected, database answering, every consumer consuming."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Readiness:
    """The worker's readiness, kept up to date by the worker and its watchers."""

    broker_connected: bool = False
    database_available: bool = False
    consuming: bool = False
    stopping: bool = False

    @property
    def ready(self) -> bool:
        return self.broker_connected and self.database_available and self.consuming and not self.stopping
