"""Prometheus metrics. One :class:`Metrics` object per process, passed to whatever records something.

Names follow the Prometheus conventions: a ``leadworker_`` namespace, base units in the name (``_seconds``,
``_bytes``), ``_total`` on counters. With ``--processes N`` every child writes to a shared
``PROMETHEUS_MULTIPROC_DIR`` and the supervisor serves the sum (see :mod:`leadworker.ops.health`).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

_LiveMode = Literal["livesum", "livemin", "livemax"]
"""How the supervisor combines the children's values of a gauge (only living processes count)."""


class Metrics:
    """Every metric family the worker exports, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._settlement_metrics()
        self._job_metrics()
        self._health_metrics()
        self._webhook_metrics()
        self._enrichment_metrics()
        self._schedule_metrics()

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, list(labels), registry=self.registry)

    def _gauge(self, name: str, documentation: str, mode: _LiveMode, *labels: str) -> Gauge:
        return Gauge(name, documentation, list(labels), registry=self.registry, multiprocess_mode=mode)

    def _settlement_metrics(self) -> None:
        """Deliveries: how they settle, how long they take, how many are in hand."""
        self.deliveries = self._counter(
            "leadworker_deliveries",
            "Deliveries settled, by queue and outcome (ack, retry, dead, requeued).",
            "queue",
            "outcome",
        )
        self.dead_letters = self._counter(
            "leadworker_dead_letters",
            "Messages sent to a dead queue, by queue and error kind.",
            "queue",
            "kind",
        )
        self.hook_failures = self._counter(
            "leadworker_hook_failures",
            "Retry or dead-letter hooks that failed to record on the job row (the message moved all the same).",
            "queue",
        )
        self.handler_duration = Histogram(
            "leadworker_handler_duration_seconds",
            "Time from delivery to settlement, by stage.",
            ["stage"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = self._gauge("leadworker_in_flight", "Deliveries being handled, by stage.", "livesum", "stage")

    def _job_metrics(self) -> None:
        """Scrape jobs: their ends, their leads, their pages and the browser that renders them."""
        self.jobs_finished = self._counter(
            "leadworker_jobs_finished", "Scrape jobs that reached a terminal status, by status.", "status"
        )
        self.leads = self._counter(
            "leadworker_leads", "Raw leads handled by scrape jobs, by result (found, new, duplicate).", "result"
        )
        self.pages_fetched = self._counter(
            "leadworker_pages_fetched",
            "Pages fetched, by mode (static, browser) and status (HTTP class or error kind).",
            "mode",
            "status",
        )
        self.pages_degraded = self._counter(
            "leadworker_pages_degraded",
            "Pages of completed scrape jobs that needed rendering and did not get it (no browser, render failed), "
            "by error kind.",
            "kind",
        )
        self.browser_restarts = self._counter(
            "leadworker_browser_restarts", "Browser relaunches (page budget reached, crash, disconnect).", "reason"
        )

    def _health_metrics(self) -> None:
        """What the process holds and how well it runs."""
        self.broker_connected = self._gauge(
            "leadworker_broker_connected", "1 while the worker holds an open broker connection.", "livemin"
        )
        self.database_available = self._gauge(
            "leadworker_database_available", "1 while the database answers.", "livemin"
        )
        self.db_pool_connections = self._gauge(
            "leadworker_db_pool_connections",
            "Database pool connections, by state (in_use, idle, max).",
            "livesum",
            "state",
        )
        self.event_loop_lag = self._gauge(
            "leadworker_event_loop_lag_seconds",
            "Worst lateness of the event loop's 250 ms timer over the last 15 s (see ops.runtime.LoopMonitor).",
            "livemax",
        )
        self.resident_memory = self._gauge(
            "leadworker_resident_memory_bytes", "Resident set size of the worker process.", "livesum"
        )

    def _webhook_metrics(self) -> None:
        self.webhooks = self._counter(
            "leadworker_webhook_deliveries", "Webhook POSTs, by result (delivered, failed).", "result"
        )

    def _schedule_metrics(self) -> None:
        """Schedules: their fires, how late they were, and whether one is overdue."""
        self.schedule_fires = self._counter(
            "leadworker_schedule_fires",
            "Fire times of schedules handled by this process, by schedule and result (fired; overlap: skipped "
            "while the previous job ran; missed: left out by the catch-up policy).",
            "schedule",
            "result",
        )
        self.schedule_lateness = Histogram(
            "leadworker_schedule_lateness_seconds",
            "From a fire time to the commit of its job (the poll interval, jitter and outages), by schedule.",
            ["schedule"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
            registry=self.registry,
        )
        self.schedule_overdue = self._gauge(
            "leadworker_schedule_overdue_seconds",
            "Seconds an enabled schedule is past its due time without having fired (0 when it is not due), as "
            "read from the database by each process running the schedule stage.",
            "livemax",
            "schedule",
        )

    def _enrichment_metrics(self) -> None:
        """Normalization, merging, scoring and the lookups enrichment makes."""
        self.normalized_values = self._counter(
            "leadworker_normalized_values",
            "Phones and e-mails normalized, by field and result (valid, invalid: kept out of the lead).",
            "field",
            "result",
        )
        self.merges = self._counter(
            "leadworker_lead_merges",
            "Raw leads merged into canonical leads, by action (created, attached, merged, rejected).",
            "action",
        )
        self.leads_scored = self._counter(
            "leadworker_leads_scored", "Leads scored for a job, by segment (hot, warm, cold).", "segment"
        )
        self.mail_domain_lookups = self._counter(
            "leadworker_mail_domain_lookups",
            "E-mail domains asked of DNS, by outcome (mx, address, null_mx, no_mail, no_domain, unknown = failed).",
            "outcome",
        )
        self.geocoder_requests = self._counter(
            "leadworker_geocoder_requests",
            "Requests to the HTTP geocoder, by result (answered, unavailable).",
            "result",
        )
        self.provider_lookups = self._counter(
            "leadworker_provider_lookups",
            "Enrichment provider lookups, by result (ok, empty, refused, unavailable).",
            "result",
        )
