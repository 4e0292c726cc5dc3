"""Settings: every field is also a ``LEADWORKER_*`` environment variable.

Precedence, highest first: keyword arguments (the CLI passes its flags this way), environment variables,
an optional ``.env`` file in the working directory, the defaults below.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from leadworker.broker.retry_policy import RetryPolicy
from leadworker.common import masking
from leadworker.enrich import SCORE_COMPONENTS


def mask_url(url: str) -> str:
    """Return ``url`` with its password and tokens replaced by ``***`` (safe to log or print)."""
    return masking.mask_url(url)


def split_urls(value: str) -> list[str]:
    """The URLs of a comma-separated list (blanks around them and empty items dropped)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_resolve(value: str) -> dict[str, str]:
    """Parse ``host:address,host:address`` (curl's ``--resolve`` without the port) into a mapping.

    IPv6 addresses are written in brackets: ``acme.test:[::1]``.
    """
    mapping: dict[str, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, address = item.partition(":")
        if not sep or not host or not address:
            raise ValueError(f"resolve entry {item!r} is not host:address")
        address = address.strip("[]")
        ipaddress.ip_address(address)  # raises ValueError with a clear message
        mapping[host.strip().lower().rstrip(".")] = address
    return mapping


def check_dns_server(item: str) -> str:
    """``host[:port]`` (IPv6 in brackets: ``[::1]:5353``) of a DNS server, as an address; raises ValueError."""
    host, port = item, "53"
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif item.count(":") == 1:
        host, port = item.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"DNS server {item!r} is not address[:port], e.g. 127.0.0.1:5353 or [::1]:53") from None
    if not 0 < number < 65536:
        raise ValueError(f"DNS server {item!r}: the port must be 1-65535")
    return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"


class Settings(BaseSettings):
    """leadworker configuration. See the README's configuration table for the operator view."""

    model_config = SettingsConfigDict(
        env_prefix="LEADWORKER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- services -------------------------------------------------------------------------------------
    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", repr=False)
    """One broker URL, or the comma-separated URLs of the nodes of one cluster (see :attr:`amqp_urls`)."""
    database_url: str = Field("postgresql://127.0.0.1/leadworker", repr=False)
    database_direct_url: str | None = Field(
        None, repr=False, description="the server itself, past any pooler: LISTEN/NOTIFY and migrations"
    )
    db_pool_mode: Literal["session", "transaction"] = Field(
        "session", description="transaction: DATABASE_URL is a transaction pooler (PgBouncer pool_mode=transaction)"
    )
    amqp_heartbeat: int = Field(30, ge=0, description="AMQP heartbeat interval in seconds (0 = off)")
    db_pool_min: int = Field(2, ge=0)
    db_pool_max: int = Field(10, ge=1)
    db_command_timeout: float = Field(30.0, gt=0)

    # --- topology -------------------------------------------------------------------------------------
    queue_prefix: str = ""
    queue_type: Literal["quorum", "classic"] = "quorum"
    delivery_limit: int = Field(20, ge=1, description="quorum x-delivery-limit: last guard against poison")
    quorum_size: int | None = Field(
        None, ge=1, le=99, description="replicas of a new quorum queue (x-quorum-initial-group-size); unset = broker's"
    )

    # --- delivery -------------------------------------------------------------------------------------
    prefetch: int | None = Field(None, ge=1, description="unacked deliveries per consumer; default per stage")
    max_attempts: int = Field(5, ge=1)
    retry_backoff: Annotated[list[float], NoDecode] = Field(default_factory=lambda: [5.0, 30.0, 120.0, 600.0])
    shutdown_grace: float = Field(30.0, ge=0)
    max_message_bytes: int = Field(1024 * 1024, ge=1024)
    max_job_seconds: float = Field(600.0, gt=0, description="a job running longer is a transient timeout")
    broker_consumer_timeout: float = Field(
        1800.0, gt=0, description="RabbitMQ's consumer_timeout in seconds (its default: 30 min)"
    )
    fanout_batch_size: int = Field(100, ge=1, le=10_000)
    enrich: bool = Field(True, description="fan new raw leads out to the enrichment stages")

    # --- scraping -------------------------------------------------------------------------------------
    allow_private_networks: bool = False
    resolve: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="private networks (CIDR) jobs may reach although private networks are not"
    )
    browser_executable: str | None = None
    user_agent: str = "leadworker/0.1 (+https://github.com/leadworker/leadworker)"
    page_timeout: float = Field(15.0, gt=0)
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    job_memory_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024 * 1024,
        description="what one job keeps in memory from the pages it read; its crawls stop taking pages beyond it",
    )
    max_redirects: int = Field(5, ge=0)
    fetch_retries: int = Field(2, ge=0, description="in-process retries of a transient page error")
    host_concurrency: int = Field(4, ge=1)
    host_rate: float = Field(20.0, gt=0, description="requests per second per host (token bucket)")
    max_depth: int = Field(3, ge=0)

    # --- scraping engine: browser and directory recipes ------------------------------------------------
    browser_pages: int = Field(4, ge=1, le=64, description="pages rendered at once per process")
    browser_restart_pages: int = Field(500, ge=1, description="relaunch the browser after this many pages")
    browser_idle_seconds: float = Field(120.0, ge=0, description="close an idle browser after this long (0 = never)")
    browser_close_timeout: float = Field(5.0, gt=0, description="seconds a page or the browser may take to close")
    render_settle: float = Field(3.0, ge=0, le=30, description="max seconds to wait after load for script to settle")
    recipes_dir: Path | None = Field(None, description="directory recipes, looked up before the bundled ones")
    recipe_base_urls: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="recipe=url,... overriding recipes' {base_url} (mirrors, staging)"
    )

    # --- operations -----------------------------------------------------------------------------------
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    api_max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="larger API request bodies get 413")
    api_token_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="an API process trusts a token it found valid this long (0 = look up always)"
    )
    api_confirm_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds an API request waits for the broker to confirm a job's message"
    )
    inbound_sources: Path | None = Field(None, description="YAML/JSON file of the API's inbound webhook sources")
    dashboard_session_hours: float = Field(12.0, gt=0, le=24 * 90, description="a dashboard sign-in lasts this long")
    webhook_url: str | None = None
    webhook_secret: str | None = Field(None, repr=False)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    memory_limit_mb: int = Field(0, ge=0, description="RSS above which the worker drains and exits (0 = off)")
    stale_job_seconds: float = Field(300.0, gt=0, description="a running job silent this long is stuck")
    heartbeat_interval: float = Field(15.0, gt=0, description="seconds between job heartbeats")
    maintenance_interval: float = Field(60.0, gt=0, description="seconds between stuck-job sweeps")
    retention_days: float = Field(90.0, ge=0, description="delete finished jobs older than this (0 = keep)")
    schedule_interval: float = Field(2.0, gt=0, le=60, description="seconds between due-schedule checks")
    schedule_grace: float = Field(
        60.0, gt=0, description="a fire time later than this is missed (catch-up skip; the overdue alert)"
    )
    schedule_catchup_limit: int = Field(10, ge=1, le=1000, description="missed times catch-up=all fires at most")

    # --- enrichment: scoring, webhooks, HTTP enrichment provider -----------------------------------------
    score_weights: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict,
        description="score component weights, e.g. keywords=0.3,contact_quality=0.2; unnamed ones keep defaults",
    )
    score_hot: int = Field(70, ge=1, le=100, description="scores at or above this are hot")
    score_warm: int = Field(40, ge=0, le=100, description="scores at or above this (and below hot) are warm")
    learn_hot_probability: float = Field(
        0.5, gt=0, le=1, description="with a learned model: P(won) at or above this is hot"
    )
    learn_warm_probability: float = Field(
        0.2, ge=0, lt=1, description="with a learned model: P(won) at or above this (and below hot) is warm"
    )
    learn_min_outcomes: int = Field(
        20, ge=2, description="training needs at least this many won and this many lost or bad_data outcomes"
    )
    learn_test_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="the newest share of outcomes held out to measure a model"
    )
    learn_max_categories: int = Field(
        20, ge=1, le=500, description="values of an open-ended field (country, category...) a model one-hot encodes"
    )
    learn_retrain_outcomes: int = Field(
        100, ge=0, description="maintenance retrains the active model after this many new outcomes (0 = never)"
    )
    webhook_timeout: float = Field(10.0, gt=0, description="seconds a webhook receiver has to answer")
    enrich_provider_url: str | None = Field(None, description="HTTP enrichment endpoint; unset = off")
    enrich_provider_token: str | None = Field(None, repr=False, description="sent as Authorization: Bearer")
    enrich_provider_name: str = Field("http", min_length=1, max_length=50, description="provenance name")
    enrich_provider_rate: float = Field(5.0, gt=0, description="provider requests per second per process")
    enrich_provider_burst: int = Field(10, ge=1, description="provider token bucket size")
    enrich_provider_timeout: float = Field(10.0, gt=0)
    enrich_provider_retries: int = Field(3, ge=0, description="in-process retries on 429, 5xx, network errors")

    # --- enrichment: contact verification and geocoding ---------------------------------------------------
    verify_emails: bool = Field(True, description="check each e-mail domain's mail servers (DNS, cached per domain)")
    dns_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="host[:port],... DNS servers for e-mail checks; empty = the system's"
    )
    dns_timeout: float = Field(3.0, gt=0, le=60, description="seconds a domain's DNS questions may take in all")
    smtp_probe: bool = Field(False, description="ask each mail server whether it accepts the address (RCPT TO)")
    smtp_probe_port: int = Field(25, ge=1, le=65535, description="port of the mail servers the probe talks to")
    smtp_probe_rate: float = Field(1.0, gt=0, description="SMTP probe connections per second per mail server")
    smtp_probe_timeout: float = Field(10.0, gt=0, description="seconds one SMTP probe may take")
    smtp_probe_helo: str = Field("leadworker.invalid", min_length=1, description="EHLO name and MAIL FROM domain")
    geocoder_url: str | None = Field(None, description="Nominatim-compatible /search endpoint; unset = offline only")
    geocoder_rate: float = Field(1.0, gt=0, le=50, description="geocoder requests per second, across all workers")
    geocoder_timeout: float = Field(10.0, gt=0)

    @field_validator("score_weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: Any) -> Any:
        if isinstance(value, str):
            weights: dict[str, float] = {}
            for item in value.split(","):
                if not item.strip():
                    continue
                name, sep, number = item.partition("=")
                try:
                    weights[name.strip()] = float(number) if sep else float("nan")
                except ValueError:
                    weights[name.strip()] = float("nan")
            return weights
        return value

    @field_validator("score_weights")
    @classmethod
    def _check_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if name not in SCORE_COMPONENTS:
                raise ValueError(f"unknown score component {name!r}; choose from {', '.join(SCORE_COMPONENTS)}")
            if not weight >= 0:  # also catches NaN (a missing or unreadable number)
                raise ValueError(f"weight of {name} must be a number >= 0, e.g. {name}=0.2")
        return value

    @field_validator("dns_servers", mode="before")
    @classmethod
    def _parse_dns_servers(cls, value: Any) -> Any:
        items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
        servers: list[str] = []
        for item in items or []:
            if item:
                servers.append(check_dns_server(item))
        return servers

    @field_validator("webhook_url", "enrich_provider_url", "geocoder_url")
    @classmethod
    def _check_http(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError(f"{mask_url(value)!r} is not an http:// or https:// URL")
        return value.strip()

    @field_validator("retry_backoff", mode="before")
    @classmethod
    def _split_backoff(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return [float(part) for part in value.split(",") if part.strip()]
            except ValueError:
                raise ValueError(f"{value!r} is not a comma-separated list of seconds, e.g. 5,30,120,600") from None
        return value

    @field_validator("retry_backoff")
    @classmethod
    def _check_backoff(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("needs at least one retry tier, e.g. 5,30,120,600")
        if any(v <= 0 for v in value):
            raise ValueError("every retry delay must be positive")
        return value

    @field_validator("resolve", mode="before")
    @classmethod
    def _parse_resolve(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_resolve(value)
        return value

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _parse_allowed_networks(cls, value: Any) -> Any:
        items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
        networks: list[str] = []
        for item in items or []:
            if not item:
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not a network such as 10.20.0.0/16 or 2001:db8::/32") from None
        return networks

    @field_validator("recipe_base_urls", mode="before")
    @classmethod
    def _parse_recipe_base_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            mapping: dict[str, str] = {}
            for item in value.split(","):
                name, sep, url = item.strip().partition("=")
                if not item.strip():
                    continue
                if not sep or not name.strip() or urlsplit(url.strip()).scheme not in ("http", "https"):
                    raise ValueError(f"{item.strip()!r} is not recipe=http(s)://url")
                mapping[name.strip()] = url.strip().rstrip("/")
            return mapping
        return value

    @field_validator("queue_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if len(value) > 100 or any(ch.isspace() for ch in value):
            raise ValueError("must be at most 100 characters without spaces")
        return value

    @field_validator("amqp_url")
    @classmethod
    def _check_amqp_url(cls, value: str) -> str:
        urls = split_urls(value)
        if not urls:
            raise ValueError("needs at least one amqp:// or amqps:// URL")
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
                raise ValueError(f"{mask_url(url)!r} is not an amqp:// or amqps:// URL")
        if len(set(urls)) != len(urls):
            raise ValueError("a broker URL is listed twice")
        return ",".join(urls)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError(f"{mask_url(value)!r} is not a postgresql:// URL")
        return value

    @field_validator("database_direct_url")
    @classmethod
    def _check_direct_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return cls._check_database_url(value.strip())

    @model_validator(mode="after")
    def _check_pool(self) -> Settings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("db_pool_min must not exceed db_pool_max")
        if self.score_warm >= self.score_hot:
            raise ValueError("score_warm must be below score_hot")
        if self.learn_warm_probability >= self.learn_hot_probability:
            raise ValueError("learn_warm_probability must be below learn_hot_probability")
        return self

    @model_validator(mode="after")
    def _check_timeouts(self) -> Settings:
        # A delivery held unacked past the broker's consumer_timeout makes RabbitMQ close the whole channel
        # (every in-flight delivery is redelivered): a job must time out well before that.
        if self.max_job_seconds >= self.broker_consumer_timeout:
            raise ValueError(
                f"max_job_seconds ({self.max_job_seconds:g}) must stay below the broker's consumer_timeout "
                f"({self.broker_consumer_timeout:g} s); lower it or set LEADWORKER_BROKER_CONSUMER_TIMEOUT to "
                "the broker's value"
            )
        return self

    @property
    def amqp_urls(self) -> list[str]:
        """The broker URLs: one, or one per node of a cluster (connect to any; fail over to the others)."""
        return split_urls(self.amqp_url)

    @property
    def masked_amqp_url(self) -> str:
        """:attr:`amqp_url` safe to print: each URL's password masked."""
        return ",".join(mask_url(url) for url in self.amqp_urls)

    @property
    def session_database_url(self) -> str:
        """Where what needs a session of its own goes (LISTEN, migrations' session lock):
        ``LEADWORKER_DATABASE_DIRECT_URL``, else ``LEADWORKER_DATABASE_URL``."""
        return self.database_direct_url or self.database_url

    @property
    def transaction_pooled(self) -> bool:
        """Whether :attr:`database_url` is a transaction pooler: no server-side state may outlive a transaction."""
        return self.db_pool_mode == "transaction"

    def prefetch_for(self, stage: str) -> int:
        """The prefetch of ``stage``: ``LEADWORKER_PREFETCH`` if set, else the stage's default."""
        from leadworker.stages.table import stage_named  # the table imports nothing: no circle

        return self.prefetch if self.prefetch is not None else stage_named(stage).prefetch

    @property
    def retry_policy(self) -> RetryPolicy:
        """Attempts, retry tiers and the delivery limit (see :mod:`leadworker.broker.retry_policy`)."""
        return RetryPolicy(
            max_attempts=self.max_attempts, backoff=tuple(self.retry_backoff), delivery_limit=self.delivery_limit
        )

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``; the last tier repeats."""
        return self.retry_policy.delay(attempt)

    def public_view(self) -> dict[str, Any]:
        """Every setting, safe to print: URLs masked, secrets hidden."""
        data = self.model_dump()
        data["amqp_url"] = self.masked_amqp_url
        data["database_url"] = mask_url(self.database_url)
        if self.database_direct_url:
            data["database_direct_url"] = mask_url(self.database_direct_url)
        if self.webhook_url:
            data["webhook_url"] = mask_url(self.webhook_url)
        data["webhook_secret"] = "***" if self.webhook_secret else None
        if self.enrich_provider_url:
            data["enrich_provider_url"] = mask_url(self.enrich_provider_url)
        data["enrich_provider_token"] = "***" if self.enrich_provider_token else None
        if self.geocoder_url:
            data["geocoder_url"] = mask_url(self.geocoder_url)
        return data
