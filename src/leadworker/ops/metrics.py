"""Prometheus metrics. One :class:`Metrics` object per process, passed to whatever records something.

Names follow the Prometheus conventions: a ``leadworker_`` namespace, base units in the name (``_seconds``,
``_bytes``), ``_total`` on counters. With ``--processes N`` every child writes to a shared
``PROMETHEUS_MULTIPROC_DIR`` and the supervisor serves the sum (see :mod:`leadworker.ops.health`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """Every metric family the worker exports, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.deliveries = Counter(
            "leadworker_deliveries",
            "Deliveries settled, by queue and outcome (ack, retry, dead, requeued).",
            ["queue", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "leadworker_dead_letters",
            "Messages sent to a dead queue, by queue and error kind.",
            ["queue", "kind"],
            registry=r,
        )
        self.hook_failures = Counter(
            "leadworker_hook_failures",
            "Retry or dead-letter hooks that failed to record on the job row (the message moved all the same).",
            ["queue"],
            registry=r,
        )
        self.handler_duration = Histogram(
            "leadworker_handler_duration_seconds",
            "Time from delivery to settlement, by stage.",
            ["stage"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "leadworker_in_flight",
            "Deliveries being handled, by stage.",
            ["stage"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.jobs_finished = Counter(
            "leadworker_jobs_finished",
            "Scrape jobs that reached a terminal status, by status.",
            ["status"],
            registry=r,
        )
        self.leads = Counter(
            "leadworker_leads",
            "Raw leads handled by scrape jobs, by result (found, new, duplicate).",
            ["result"],
            registry=r,
        )
        self.pages_fetched = Counter(
            "leadworker_pages_fetched",
            "Pages fetched, by mode (static, browser) and status (HTTP class or error kind).",
            ["mode", "status"],
            registry=r,
        )
        self.pages_degraded = Counter(
            "leadworker_pages_degraded",
            "Pages of completed scrape jobs that needed rendering and did not get it (no browser, render failed), "
            "by error kind.",
            ["kind"],
            registry=r,
        )
        self.browser_restarts = Counter(
            "leadworker_browser_restarts",
            "Browser relaunches (page budget reached, crash, disconnect).",
            ["reason"],
            registry=r,
        )
        self.broker_connected = Gauge(
            "leadworker_broker_connected",
            "1 while the worker holds an open broker connection.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.database_available = Gauge(
            "leadworker_database_available",
            "1 while the database answers.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.db_pool_connections = Gauge(
            "leadworker_db_pool_connections",
            "Database pool connections, by state (in_use, idle, max).",
            ["state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.event_loop_lag = Gauge(
            "leadworker_event_loop_lag_seconds",
            "Worst lateness of the event loop's 250 ms timer over the last 15 s (see ops.runtime.LoopMonitor).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.resident_memory = Gauge(
            "leadworker_resident_memory_bytes",
            "Resident set size of the worker process.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.webhooks = Counter(
            "leadworker_webhook_deliveries",
            "Webhook POSTs, by result (delivered, failed).",
            ["result"],
            registry=r,
        )
        # --- enrichment ---
        self.normalized_values = Counter(
            "leadworker_normalized_values",
            "Phones and e-mails normalized, by field and result (valid, invalid: kept out of the lead).",
            ["field", "result"],
            registry=r,
        )
        self.merges = Counter(
            "leadworker_lead_merges",
            "Raw leads merged into canonical leads, by action (created, attached, merged, rejected).",
            ["action"],
            registry=r,
        )
        self.leads_scored = Counter(
            "leadworker_leads_scored",
            "Leads scored for a job, by segment (hot, warm, cold).",
            ["segment"],
            registry=r,
        )
        self.mail_domain_lookups = Counter(
            "leadworker_mail_domain_lookups",
            "E-mail domains asked of DNS, by outcome (mx, address, null_mx, no_mail, no_domain, unknown = failed).",
            ["outcome"],
            registry=r,
        )
        self.geocoder_requests = Counter(
            "leadworker_geocoder_requests",
            "Requests to the HTTP geocoder, by result (answered, unavailable).",
            ["result"],
            registry=r,
        )
        self.provider_lookups = Counter(
            "leadworker_provider_lookups",
            "Enrichment provider lookups, by result (ok, empty, refused, unavailable).",
            ["result"],
            registry=r,
        )
