"""The ``leadworker`` command line: parses, calls, prints.

Exit codes: 0 success, 1 runtime failure (a service down, a job that failed), 2 bad usage or input. Errors are
one line on stderr that says what is wrong and what to do; never a traceback. ``--json`` output is one JSON
document on stdout; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aio_pika
import aiormq
import asyncpg
import typer
from pydantic import ValidationError
from typer._click.exceptions import UsageError as ClickUsageError

from leadworker.broker import dlq
from leadworker.broker.producer import publish_jobs
from leadworker.broker.publisher import ConfirmedPublisher, PublishError
from leadworker.broker.topology import Topology, TopologyMismatch, declare_topology
from leadworker.common.controls import escape_controls
from leadworker.config import Settings, mask_url
from leadworker.contracts import LeadRecord, ScrapeJob, describe_validation_error
from leadworker.errors import ServiceUnavailable, UsageError, one_line
from leadworker.ops.logging import configure_logging
from leadworker.store import jobs as jobstore
from leadworker.store import migrate as migrations
from leadworker.store.jobs import TERMINAL, JobStatus
from leadworker.store.pool import Database

if TYPE_CHECKING:
    from leadworker.store.lead_export import Near

T = TypeVar("T")

app = typer.Typer(
    name="leadworker",
    help="Turn scrape requests into clean, scored sales leads: a RabbitMQ consumer daemon and its tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
jobs_app = typer.Typer(help="Inspect and cancel scrape jobs.", no_args_is_help=True)
dlq_app = typer.Typer(help="List, replay or purge dead-lettered messages.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
topology_app = typer.Typer(help="RabbitMQ exchanges and queues.", no_args_is_help=True)
leads_app = typer.Typer(help="Export and inspect canonical leads.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(dlq_app, name="dlq")
app.add_typer(db_app, name="db")
app.add_typer(topology_app, name="topology")
app.add_typer(leads_app, name="leads")
maintenance_app = typer.Typer(help="Rescue stuck jobs, delete old ones (also run by --stage maintenance).",
                              no_args_is_help=True)
app.add_typer(maintenance_app, name="maintenance")
webhooks_app = typer.Typer(help="Webhook signing keys for receivers.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")

_overrides: dict[str, Any] = {}


# --- helpers ---------------------------------------------------------------------------------------------

def settings(**flags: Any) -> Settings:
    """Settings from the environment and ``.env``, overridden by global and command flags."""
    values = {**_overrides, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return Settings(**values)
    except ValidationError as exc:
        parts = []
        for item in exc.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else "settings"
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"LEADWORKER_{field.upper()}: {message}")
        raise UsageError("; ".join(parts)) from None


def run_async(coro: Awaitable[T]) -> T:
    return asyncio.run(_with_service_errors(coro))


async def _with_service_errors(coro: Awaitable[T]) -> T:
    try:
        return await coro
    except asyncpg.exceptions.UndefinedTableError as exc:
        raise ServiceUnavailable(f"the database has no leadworker schema ({exc}); run: leadworker db migrate") from exc


async def open_db(cfg: Settings) -> Database:
    return await Database.connect(cfg.database_url, min_size=1, max_size=4)


async def open_broker(cfg: Settings) -> aio_pika.abc.AbstractConnection:
    try:
        return await aio_pika.connect(cfg.amqp_url, timeout=10)
    except (aiormq.exceptions.AMQPError, ConnectionError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(f"broker unreachable at {mask_url(cfg.amqp_url)}: {one_line(exc)}") from exc


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, indent=2) + "\n")


def shown(value: Any) -> str:
    """``value`` as text safe to print: stored text is a site's, so its control characters are escaped."""
    return "" if value is None else escape_controls(str(value))


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    text_rows = [[shown(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 60)
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))
    typer.echo(line.rstrip())
    typer.echo("  ".join("-" * w for w in widths))
    for row in text_rows:
        typer.echo("  ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def parse_job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a job id (a UUID such as 3f2b8c9e-...)") from None


def read_jsonl(path: Path, what: str) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {str(path)!r}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(data, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object per line")
            yield number, data


# --- global options --------------------------------------------------------------------------------------

@app.callback()
def _global(
    amqp_url: str | None = typer.Option(None, "--amqp-url", help="Broker URL [env LEADWORKER_AMQP_URL]."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="PostgreSQL URL [env LEADWORKER_DATABASE_URL]."
    ),
    queue_prefix: str | None = typer.Option(
        None, "--queue-prefix", help="Prefix of every exchange and queue [env LEADWORKER_QUEUE_PREFIX]."
    ),
    log_format: str | None = typer.Option(None, "--log-format", help="auto, json or console."),
    log_level: str | None = typer.Option(None, "--log-level", help="debug, info, warning or error."),
) -> None:
    _overrides.clear()
    _overrides.update({k: v for k, v in {
        "amqp_url": amqp_url, "database_url": database_url, "queue_prefix": queue_prefix,
        "log_format": log_format, "log_level": log_level,
    }.items() if v is not None})


# --- run -------------------------------------------------------------------------------------------------

@app.command()
def run(
    stage: str = typer.Option("all", "--stage", help="all, or a comma-separated list: scrape,normalize,..."),
    prefetch: int | None = typer.Option(None, "--prefetch", min=1, help="Unacked deliveries per consumer."),
    processes: int = typer.Option(1, "--processes", min=1, max=64, help="Worker processes to run and supervise."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", min=0, max=65535,
                                            help="Prometheus metrics and health port (0 = off)."),
    exit_when_idle: float | None = typer.Option(
        None, "--exit-when-idle", min=0.0, help="Drain and exit after this many idle seconds."
    ),
) -> None:
    """Consume and process messages until stopped (SIGTERM/SIGINT drain gracefully)."""
    from leadworker import worker
    from leadworker.stages.scrape import worker_id
    from leadworker.stages.table import parse_stages

    cfg = settings(prefetch=prefetch, metrics_port=metrics_port)
    try:
        stages = parse_stages(stage)
    except ValueError as exc:
        raise UsageError(f"--stage: {exc}") from None
    if processes > 1:
        configure_logging(cfg.log_format, cfg.log_level, static={"supervisor": worker_id()})
        raise typer.Exit(supervise(cfg, stage, processes, prefetch=prefetch, exit_when_idle=exit_when_idle))
    configure_logging(cfg.log_format, cfg.log_level, static={"worker": worker_id()})
    code = worker.main_sync(cfg, stages, exit_when_idle=exit_when_idle)
    raise typer.Exit(code)


def supervise(cfg: Settings, stage: str, processes: int, *, prefetch: int | None,
              exit_when_idle: float | None) -> int:
    """Run ``processes`` children of ``leadworker run`` under a :class:`Supervisor`."""
    from leadworker.ops.supervisor import run_supervised
    from leadworker.worker import install_stop_handlers

    command = [sys.executable, "-m", "leadworker", "run", "--stage", stage]
    if prefetch is not None:
        command += ["--prefetch", str(prefetch)]
    if exit_when_idle is not None:
        command += ["--exit-when-idle", str(exit_when_idle)]
    env = dict(os.environ)
    # Global flags reach the children through the environment, which they read like any worker.
    for key, value in _overrides.items():
        env[f"LEADWORKER_{key.upper()}"] = str(value)

    async def go() -> int:
        loop = asyncio.get_running_loop()
        return await run_supervised(
            command, processes, env=env, shutdown_grace=cfg.shutdown_grace, batch=exit_when_idle is not None,
            metrics_host=cfg.metrics_host, metrics_port=cfg.metrics_port,
            install_signals=lambda stop: install_stop_handlers(loop, stop),
        )

    return asyncio.run(go())


# --- publish ---------------------------------------------------------------------------------------------

def build_jobs(
    *,
    targets: list[str],
    sources: list[str],
    query: str | None,
    industry: str | None,
    geography: str | None,
    keywords: list[str],
    max_pages: int | None,
    render: str | None,
    user_id: str | None,
    webhook_url: str | None,
    leads_file: Path | None,
    count: int,
    jobs_file: Path | None,
) -> list[ScrapeJob]:
    """The jobs a ``publish`` invocation describes (validated; raises :class:`UsageError`)."""
    if jobs_file is not None:
        if targets or sources or leads_file or query or keywords:
            raise UsageError("--file takes the jobs from the file; do not combine it with job flags")
        result = []
        for number, data in read_jsonl(jobs_file, "jobs"):
            data.setdefault("job_id", str(uuid.uuid4()))
            try:
                result.append(ScrapeJob.model_validate(data))
            except ValidationError as exc:
                raise UsageError(f"{jobs_file}:{number}: {describe_validation_error(exc)}") from None
        if not result:
            raise UsageError(f"{jobs_file} holds no jobs")
        return [job.model_copy(update={"job_id": uuid.uuid4()}) if i else job
                for job in result for i in range(count)]

    leads: list[LeadRecord] = []
    if leads_file is not None:
        for number, data in read_jsonl(leads_file, "leads"):
            try:
                leads.append(LeadRecord.model_validate(data))
            except ValidationError as exc:
                raise UsageError(f"{leads_file}:{number}: {describe_validation_error(exc)}") from None
        if not leads:
            raise UsageError(f"{leads_file} holds no leads")
    if not sources:
        sources = (["website"] if targets else []) + (["inline"] if leads else [])
    if not sources:
        raise UsageError("nothing to scrape: give --target URL, --leads FILE.jsonl, or --source directory:NAME")
    base: dict[str, Any] = {
        "source_types": sources, "targets": targets, "search_query": query, "industry": industry,
        "geography": geography, "keywords": keywords, "user_id": user_id, "leads": leads,
        "webhook_url": webhook_url,
    }
    if max_pages is not None:
        base["max_pages"] = max_pages
    if render is not None:
        base["render"] = render
    try:
        template = ScrapeJob.model_validate({**base, "job_id": uuid.uuid4()})
    except ValidationError as exc:
        message = describe_validation_error(exc)
        flag_names = {"targets": "--target", "source_types": "--source", "max_pages": "--max-pages",
                      "search_query": "--query", "render": "--render", "webhook_url": "--webhook-url"}
        for field_name, flag in flag_names.items():
            message = message.replace(f"{field_name}.", f"{flag} #").replace(f"{field_name}:", f"{flag}:")
        raise UsageError(message) from None
    return [template] + [template.model_copy(update={"job_id": uuid.uuid4()}) for _ in range(count - 1)]


@app.command()
def publish(
    target: list[str] = typer.Option([], "--target", help="Site to crawl (repeatable)."),
    source: list[str] = typer.Option([], "--source", help="website, inline or directory:RECIPE (repeatable)."),
    query: str | None = typer.Option(None, "--query", help="Search query for directory sources."),
    industry: str | None = typer.Option(None, "--industry"),
    geography: str | None = typer.Option(None, "--geography", help="Region, e.g. 'Berlin, Germany'."),
    keyword: list[str] = typer.Option([], "--keyword", help="Keyword to score against (repeatable)."),
    max_pages: int | None = typer.Option(None, "--max-pages", min=1, max=10_000),
    render: str | None = typer.Option(None, "--render", help="auto, static or browser."),
    user_id: str | None = typer.Option(None, "--user-id"),
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="Notify this URL of the job's events."),
    leads: Path | None = typer.Option(None, "--leads", help="JSONL of lead records for the inline source."),
    count: int = typer.Option(1, "--count", min=1, max=1_000_000, help="Publish N copies (load tests)."),
    file: Path | None = typer.Option(None, "--file", help="JSONL of jobs, one message per line."),
    wait: bool = typer.Option(False, "--wait", help="Follow the jobs until they end."),
    timeout: float = typer.Option(3600.0, "--timeout", min=1.0, help="Seconds --wait waits at most."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create scrape jobs (queued) and publish them with publisher confirms."""
    cfg = settings()
    configure_logging(cfg.log_format, cfg.log_level)
    to_publish = build_jobs(
        targets=target, sources=source, query=query, industry=industry, geography=geography,
        keywords=keyword, max_pages=max_pages, render=render, user_id=user_id, webhook_url=webhook_url,
        leads_file=leads, count=count, jobs_file=file,
    )
    ids = [job.job_id for job in to_publish]

    async def go() -> dict[uuid.UUID, dict[str, Any]] | None:
        db = await open_db(cfg)
        try:
            connection = await open_broker(cfg)
            try:
                topology = Topology.from_settings(cfg)
                channel = await connection.channel()
                await declare_topology(channel, topology)
                await channel.close()
                publisher = await ConfirmedPublisher.open(connection, topology.exchange)
                await publish_jobs(db, publisher, topology, to_publish)
            finally:
                await connection.close()
            if not as_json:
                for job_id in ids[:20]:
                    typer.echo(str(job_id))
                if len(ids) > 20:
                    typer.echo(f"... and {len(ids) - 20} more")
                typer.echo(f"published {len(ids)} job(s)", err=True)
            if not wait:
                return None
            return await follow_jobs(db, ids, timeout, quiet=as_json)
        finally:
            await db.close()

    outcome = run_async(go())
    if outcome is None:
        if as_json:
            emit_json({"job_ids": [str(i) for i in ids]})
        return
    if as_json:
        emit_json({"job_ids": [str(i) for i in ids], "jobs": [outcome[i] for i in ids]})
    else:
        summarize_jobs(list(outcome.values()))
    if any(outcome[i]["status"] != JobStatus.COMPLETED for i in ids):
        raise typer.Exit(1)


async def follow_jobs(
    db: Database, ids: list[uuid.UUID], timeout: float, *, quiet: bool
) -> dict[uuid.UUID, dict[str, Any]]:
    """Poll the job rows until every job is terminal (or ``timeout``); return their final rows."""
    deadline = time.monotonic() + timeout
    last_report = ""
    terminal = {s.value for s in TERMINAL}
    while True:
        states = await jobstore.statuses(db, ids)
        done = sum(1 for s in states.values() if s in terminal)
        report = f"{done}/{len(ids)} finished"
        if not quiet and report != last_report:
            typer.echo(report, err=True)
            last_report = report
        if done == len(ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    rows = await db.fetch(
        """SELECT id, status, attempts, pages, found, new, duplicates, error_kind, error
             FROM scrape_jobs WHERE id = ANY($1::uuid[])""",
        ids,
    )
    found = {r["id"]: {"job_id": str(r["id"]), **{k: v for k, v in dict(r).items() if k != "id"}} for r in rows}
    return {i: found.get(i, {"job_id": str(i), "status": "unknown"}) for i in ids}


def summarize_jobs(rows: list[dict[str, Any]]) -> None:
    print_table(
        [[r["job_id"], r["status"], r.get("pages"), r.get("found"), r.get("new"), r.get("duplicates"),
          one_line(r.get("error") or "", 60)] for r in rows[:50]],
        ["job", "status", "pages", "found", "new", "dup", "error"],
    )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    typer.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


# --- jobs ------------------------------------------------------------------------------------------------

@jobs_app.command("list")
def jobs_list(
    status: str | None = typer.Option(
        None, "--status", help="queued, running, retrying, completed, failed or cancelled."
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The newest jobs, optionally of one status."""
    if status is not None and status not in {s.value for s in JobStatus}:
        raise UsageError(f"--status {status!r}: choose from {', '.join(s.value for s in JobStatus)}")
    cfg = settings()

    async def go() -> list[dict[str, Any]]:
        db = await open_db(cfg)
        try:
            return [dict(r) for r in await jobstore.list_jobs(db, status, limit)]
        finally:
            await db.close()

    rows = run_async(go())
    if as_json:
        emit_json({"jobs": [_job_json(r) for r in rows]})
        return
    print_table(
        [[r["id"], r["status"], r["attempts"], r["pages"], r["found"], r["new"], r["duplicates"],
          r["created_at"].strftime("%Y-%m-%d %H:%M:%S"), one_line(r["error"] or "", 50)] for r in rows],
        ["job", "status", "tries", "pages", "found", "new", "dup", "created (UTC)", "error"],
    )


def _job_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, uuid.UUID) else v)
            for k, v in row.items()}


@jobs_app.command("show")
def jobs_show(job_id: str = typer.Argument(..., help="The job's id."),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """One job: its row, its history and the leads it found."""
    from leadworker.store.leads import job_leads
    from leadworker.store.webhook_deliveries import job_deliveries

    ident = parse_job_id(job_id)
    cfg = settings()

    hooks: list[dict[str, Any]] = []

    async def go() -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
        db = await open_db(cfg)
        try:
            row = await jobstore.get_job(db, ident)
            if row is None:
                return None, [], []
            events = [dict(e) for e in await jobstore.job_events(db, ident)]
            hooks.extend(dict(w) for w in await job_deliveries(db, ident))
            return dict(row), events, await job_leads(db, ident)
        finally:
            await db.close()

    row, events, leads = run_async(go())
    if row is None:
        typer.echo(f"leadworker: no job {ident}", err=True)
        raise typer.Exit(1)
    if as_json:
        emit_json({"job": _job_json(row), "events": [_job_json(e) for e in events],
                   "leads": [_job_json(lead) for lead in leads], "webhooks": [_job_json(w) for w in hooks]})
        return
    for key in ("id", "status", "user_id", "attempts", "worker", "pages", "found", "new", "duplicates",
                "error_kind", "error", "created_at", "started_at", "completed_at"):
        typer.echo(f"{key:>13}: {shown(row[key])}")
    for key in ("normalized", "scored", "invalid_phones", "invalid_emails", "enriched_at", "enrich_error"):
        if key in row:
            typer.echo(f"{key:>13}: {shown(row[key])}")
    if row.get("fanout_deferred"):
        typer.echo(f"{'enrichment':>13}: waiting in the database for a worker that runs the normalize stage")
    degraded = row.get("pages_degraded") or 0
    typer.echo(f"{'degraded':>13}: {degraded} page(s) needed a browser and were not rendered"
               + (" (see leadworker doctor)" if degraded else ""))
    typer.echo(f"{'criteria':>13}: {json.dumps(row['criteria'], default=str)[:300]}")
    typer.echo("\nhistory:")
    for e in events:
        typer.echo(f"  {e['at']:%Y-%m-%d %H:%M:%S}  {e['from_status'] or '-':>9} -> {e['to_status']:<9} "
                   f"attempt {e['attempts']}  {shown(e['worker'])}  {shown(one_line(e['error'] or '', 60))}")
    if hooks:
        typer.echo("\nwebhooks:")
        for w in hooks:
            typer.echo(f"  {w['event']:<14} {w['status']:<9} attempts {w['attempts']}  "
                       f"{shown(one_line(w['last_error'] or '', 60))}")
    typer.echo(f"\nleads ({len(leads)}):")
    print_table(
        [[lead["id"], "new" if lead["is_new"] else "dup", lead["record"].get("company_name"),
          ", ".join(lead["record"].get("emails", [])), ", ".join(lead["record"].get("phones", []))]
         for lead in leads[:50]],
        ["lead", "", "company", "emails", "phones"],
    )


@jobs_app.command("cancel")
def jobs_cancel(job_id: str = typer.Argument(..., help="The job's id.")) -> None:
    """Cancel a queued, running or retrying job (a running crawl stops at its next page)."""
    ident = parse_job_id(job_id)
    cfg = settings()

    async def go() -> tuple[bool, JobStatus | None, str | None]:
        db = await open_db(cfg)
        try:
            cancelled, status = await jobstore.cancel_job(db, ident)
            problem = None
            if status is JobStatus.CANCELLED:
                try:
                    await publish_job_event(cfg, db, ident)
                except (ServiceUnavailable, PublishError) as exc:
                    problem = one_line(exc, 300)
            return cancelled, status, problem
        finally:
            await db.close()

    cancelled, status, problem = run_async(go())
    if problem is not None:
        typer.echo(f"leadworker: cancelled {ident}, but its webhook event was not published ({problem}); "
                   "it is sent when the job's message is next delivered", err=True)
        raise typer.Exit(1)
    if status is None:
        typer.echo(f"leadworker: no job {ident}", err=True)
        raise typer.Exit(1)
    if not cancelled:
        typer.echo(f"leadworker: job {ident} is already {status.value}; nothing to cancel", err=True)
        raise typer.Exit(1)
    typer.echo(f"cancelled {ident}")


async def publish_job_event(cfg: Settings, db: Database, job_id: uuid.UUID) -> None:
    """Publish the job's terminal event to ``jobs.notify`` (confirmed) if a webhook applies and it was not
    delivered yet; the broker is only contacted when there is something to publish."""
    from leadworker.stages.events import JobNotifier

    topology = Topology.from_settings(cfg)
    message = await JobNotifier(db, cfg, topology).status_message(job_id)
    if message is None:
        return
    connection = await open_broker(cfg)
    try:
        channel = await connection.channel()
        await declare_topology(channel, topology)
        await channel.close()
        publisher = await ConfirmedPublisher.open(connection, topology.exchange)
        await publisher.publish(message)
    finally:
        await connection.close()


@jobs_app.command("stats")
def jobs_stats(
    since: str = typer.Option("1h", "--since", help="Window for throughput, success rate and durations: "
                              "90s, 15m, 1h, 1h30m, 7d..."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Jobs by status; throughput, success rate and durations over a window; queue depths from the broker."""
    from leadworker.common.durations import parse_duration
    from leadworker.ops import queue_stats as stats

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    cfg = settings()

    async def go() -> dict[str, Any]:
        db = await open_db(cfg)
        try:
            doc = {"since": since, **await stats.job_stats(db, window)}
        finally:
            await db.close()
        try:
            connection = await open_broker(cfg)
        except ServiceUnavailable as exc:
            return {**doc, "broker": {"reachable": False, "error": str(exc)}, "queues": [], "dead_letters": {}}
        try:
            queues = await stats.queue_stats(connection, Topology.from_settings(cfg))
        finally:
            await connection.close()
        return {**doc, "broker": {"reachable": True}, "queues": queues,
                "dead_letters": {q["queue"]: q["dead_letters"] for q in queues}}

    doc = run_async(go())
    if as_json:
        emit_json(doc)
    else:
        _print_stats(doc)
    if not doc["broker"]["reachable"]:
        typer.echo(f"leadworker: {doc['broker']['error']} (queue figures left out)", err=True)
        raise typer.Exit(1)


def _print_stats(doc: dict[str, Any]) -> None:
    full = doc["by_status"]
    print_table([[k, v] for k, v in full.items()] + [["total", doc["total"]]], ["status", "jobs"])
    w = doc["window"]

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} s"

    rate = "-" if w["success_rate"] is None else f"{w['success_rate'] * 100:.1f} %"
    typer.echo(f"\nlast {doc['since']} (since {doc['window_start']}):")
    typer.echo(f"  created {w['created']}, finished {w['finished']} (completed {w['completed']}, "
               f"failed {w['failed']}, cancelled {w['cancelled']})")
    typer.echo(f"  throughput {w['throughput_per_minute']:g} jobs/min, success rate {rate}")
    typer.echo(f"  duration mean {secs(w['duration_seconds']['mean'])}, p95 {secs(w['duration_seconds']['p95'])}; "
               f"latency mean {secs(w['latency_seconds']['mean'])}, p95 {secs(w['latency_seconds']['p95'])}")
    if doc["queues"]:
        typer.echo("")
        print_table([[q["queue"], q["messages_ready"], q["consumers"], q["retry_waiting"], q["dead_letters"]]
                     for q in doc["queues"]], ["queue", "ready", "consumers", "retrying", "dead"])


# --- leads -----------------------------------------------------------------------------------------------

@leads_app.command("export")
def leads_export(
    job: str | None = typer.Option(None, "--job", help="Only the leads this job found, with its scores."),
    segment: str | None = typer.Option(None, "--segment", help="hot, warm or cold."),
    min_score: int | None = typer.Option(None, "--min-score", min=0, max=100, help="Only scores >= N (0-100)."),
    fmt: str = typer.Option("csv", "--format", help="csv or jsonl."),
    output: Path | None = typer.Option(None, "--output", help="File to write (default: standard output)."),
    near: str | None = typer.Option(None, "--near", help="Only leads near LAT,LON (with --radius-km), nearest first."),
    radius_km: float | None = typer.Option(None, "--radius-km", min=0.001, max=20_000, help="Radius of --near in km."),
) -> None:
    """Stream canonical leads with score, segment, components, verdicts, coordinates and provenance (constant
    memory)."""
    import os

    from leadworker.common.lead_files import FORMATS, SEGMENTS, export_leads
    from leadworker.store.lead_export import job_exists

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose csv or jsonl")
    if segment is not None and segment not in SEGMENTS:
        raise UsageError(f"--segment {segment!r}: choose hot, warm or cold")
    job_id = parse_job_id(job) if job is not None else None
    center = _near_option(near, radius_km)
    cfg = settings()
    partial = output.with_name(output.name + ".partial") if output is not None else None
    try:
        out = partial.open("w", encoding="utf-8", newline="") if partial is not None else sys.stdout
    except OSError as exc:
        raise UsageError(f"cannot write --output {str(output)!r}: {exc.strerror}") from None

    async def go() -> int | None:
        db = await open_db(cfg)
        try:
            if job_id is not None and not await job_exists(db, job_id):
                return None
            return await export_leads(db, out, fmt=fmt, job_id=job_id, segment=segment, min_score=min_score,
                                      near=center)
        finally:
            await db.close()

    try:
        count = run_async(go())
    except BaseException:
        if partial is not None:
            out.close()
            partial.unlink(missing_ok=True)
        raise
    if partial is not None:
        out.close()
    if count is None:
        if partial is not None:
            partial.unlink(missing_ok=True)
        typer.echo(f"leadworker: no job {job_id}", err=True)
        raise typer.Exit(1)
    if partial is not None and output is not None:
        os.replace(partial, output)
    typer.echo(f"exported {count} lead(s)" + (f" to {output}" if output else ""), err=True)


@leads_app.command("show")
def leads_show(lead_id: str = typer.Argument(..., help="The lead's id (a number)."),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """One canonical lead: its fields, every value with provenance, sources, scores per job, conflicts."""
    from leadworker.store.lead_export import lead_detail

    try:
        ident = int(lead_id)
        if ident < 1:
            raise ValueError
    except ValueError:
        raise UsageError(f"{lead_id!r} is not a lead id (a positive number such as 42)") from None
    cfg = settings()

    async def go() -> dict[str, Any] | None:
        db = await open_db(cfg)
        try:
            return await lead_detail(db, ident)
        finally:
            await db.close()

    detail = run_async(go())
    if detail is None:
        typer.echo(f"leadworker: no lead {ident}", err=True)
        raise typer.Exit(1)
    if as_json:
        emit_json(detail)
        return
    lead = detail["lead"]
    if detail["merged_from"] is not None:
        typer.echo(f"lead {detail['merged_from']} was merged into lead {lead['id']}\n")
    for key in ("id", "company_name", "legal_form", "domain", "website", "emails", "phones", "address", "city",
                "postal_code", "country", "contact_name", "categories", "score", "segment", "scored_at"):
        value = lead[key]
        if isinstance(value, list):
            value = ", ".join(value)
        typer.echo(f"{key:>13}: {shown(value)}")
    _print_contact_checks(lead)
    if detail["absorbed"]:
        typer.echo(f"{'absorbed':>13}: {', '.join(str(i) for i in detail['absorbed'])}")
    typer.echo("\nvalues (provenance):")
    print_table([[v["field"], v["value"], v["provider"] or f"raw {v['raw_lead_id']}", v["source_url"] or ""]
                 for v in detail["values"]], ["field", "value", "from", "page"])
    typer.echo("\nsources:")
    print_table([[s["raw_lead_id"], s["source_type"], s["source_url"] or "",
                  ", ".join(str(j)[:8] for j in s["job_ids"])] for s in detail["sources"]],
                ["raw lead", "type", "url", "jobs"])
    typer.echo("\nscores by job:")
    print_table([[s["job_id"], s["score"], s["segment"],
                  ", ".join(f"{k} {v['value']}" for k, v in sorted(s["components"].items()))]
                 for s in detail["scores"]], ["job", "score", "segment", "components"])
    if detail["conflicts"]:
        typer.echo("\nshares a key with (not merged: different domains):")
        print_table([[c["other_lead_id"], c["kind"], c["value"]] for c in detail["conflicts"]],
                    ["lead", "kind", "value"])
    if detail["enrichments"]:
        typer.echo("\nenrichment providers:")
        print_table([[e["provider"], e["status"], e["attempts"], one_line(e["error"] or "", 60)]
                     for e in detail["enrichments"]], ["provider", "status", "tries", "error"])


def _near_option(near: str | None, radius_km: float | None) -> Near | None:
    """``--near LAT,LON --radius-km N`` as a :class:`leadworker.store.lead_export.Near`, or None."""
    from leadworker.common.geo import parse_near
    from leadworker.store.lead_export import Near

    if (near is None) != (radius_km is None):
        raise UsageError("--near LAT,LON and --radius-km N go together, e.g. --near 52.52,13.405 --radius-km 25")
    if near is None or radius_km is None:
        return None
    try:
        return Near(*parse_near(near), radius_km)
    except ValueError as exc:
        raise UsageError(f"--near {exc}") from None


def _print_contact_checks(lead: dict[str, Any]) -> None:
    """A lead's location and what its e-mails' verification and its phones' data say."""
    if lead["latitude"] is not None:
        typer.echo(f"{'location':>13}: {lead['latitude']:.5f},{lead['longitude']:.5f} "
                   f"({lead['geo_precision']} precision, {shown(lead['geo_source'])})")
    if lead["email_checks"]:
        typer.echo("\ne-mails (verification):")
        print_table([[c["address"], c["status"] or "not verified", c["reason"] or ""] for c in lead["email_checks"]],
                    ["address", "status", "reason"])
    if lead["phone_checks"]:
        typer.echo("\nphones:")
        print_table([[p["number"], p["type"] or "", p["region"] or "", p["carrier"] or "", p["place"] or ""]
                     for p in lead["phone_checks"]], ["number", "type", "region", "carrier", "place"])


# --- dlq -------------------------------------------------------------------------------------------------

def _dead_queues(cfg: Settings, queue: str | None) -> tuple[Topology, list[str]]:
    topology = Topology.from_settings(cfg)
    try:
        return topology, dlq.dead_queues(topology, queue)
    except ValueError as exc:
        raise UsageError(f"--queue: {exc}") from None


QUEUE_HELP = "A stage (scrape, normalize, score, notify) or its queue name; all if omitted."


@dlq_app.command("list")
def dlq_list(
    queue: str | None = typer.Option(None, "--queue", help=QUEUE_HELP),
    limit: int = typer.Option(50, "--limit", min=1, max=100_000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show dead letters and why they died (they stay in the queue)."""
    cfg = settings()
    _, queues = _dead_queues(cfg, queue)

    async def go() -> list[dlq.DeadLetter]:
        connection = await open_broker(cfg)
        try:
            return await dlq.list_dead(connection, queues, limit)
        finally:
            await connection.close()

    letters = run_async(go())
    if as_json:
        emit_json({"dead_letters": [d.as_json() for d in letters]})
        return
    print_table([[d.queue, d.message_id, d.kind, d.attempts, d.dead_at, one_line(d.reason, 70)]
                 for d in letters], ["queue", "message", "kind", "tries", "dead at", "reason"])


@dlq_app.command("replay")
def dlq_replay(
    queue: str | None = typer.Option(None, "--queue", help=QUEUE_HELP),
    limit: int | None = typer.Option(None, "--limit", min=1),
) -> None:
    """Send dead letters back to their queues with a fresh attempt count (failed jobs become queued)."""
    cfg = settings()
    topology, queues = _dead_queues(cfg, queue)

    async def go() -> int:
        db = await open_db(cfg)
        connection = await open_broker(cfg)
        try:
            async def reset(job_id: uuid.UUID) -> None:
                await jobstore.requeue_failed(db, job_id)
            return await dlq.replay_dead(connection, topology, queues, limit, on_job=reset)
        finally:
            await connection.close()
            await db.close()

    typer.echo(f"replayed {run_async(go())} message(s)")


@dlq_app.command("purge")
def dlq_purge(
    queue: str | None = typer.Option(None, "--queue", help=QUEUE_HELP),
    limit: int | None = typer.Option(None, "--limit", min=1),
) -> None:
    """Delete dead letters for good."""
    cfg = settings()
    _, queues = _dead_queues(cfg, queue)

    async def go() -> int:
        connection = await open_broker(cfg)
        try:
            return await dlq.purge_dead(connection, queues, limit)
        finally:
            await connection.close()

    typer.echo(f"purged {run_async(go())} message(s)")


# --- db, topology, demo ----------------------------------------------------------------------------------

@db_app.command("migrate")
def db_migrate() -> None:
    """Create the database if needed and apply pending migrations (idempotent)."""
    cfg = settings()
    applied = run_async(migrations.migrate(cfg.database_url))
    where = mask_url(cfg.database_url)
    if applied:
        typer.echo(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        typer.echo(f"{where} is up to date")


@topology_app.command("declare")
def topology_declare() -> None:
    """Declare the exchange, work queues, retry tiers and dead queues (idempotent)."""
    cfg = settings()
    topology = Topology.from_settings(cfg)

    async def go() -> None:
        connection = await open_broker(cfg)
        try:
            channel = await connection.channel()
            await declare_topology(channel, topology)
        finally:
            await connection.close()

    run_async(go())
    names = [name for name, _ in topology.declarations()]
    typer.echo(f"declared exchange {topology.exchange} and {len(names)} queues ({cfg.queue_type}):")
    for name in names:
        typer.echo(f"  {name}")


def _duration(flag: str, value: str) -> float:
    from leadworker.common.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


@maintenance_app.command("requeue-stuck")
def maintenance_requeue_stuck(
    older_than: str | None = typer.Option(
        None, "--older-than", help="Silence after which a job is stuck [default: LEADWORKER_STALE_JOB_SECONDS]."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Give stuck jobs a fresh message, or fail those that used all their attempts."""
    from leadworker.broker.topology import queue_depths
    from leadworker.store.maintenance import requeue_stuck_jobs

    cfg = settings()
    stale = _duration("--older-than", older_than) if older_than else cfg.stale_job_seconds
    topology = Topology.from_settings(cfg)

    async def go() -> tuple[list[uuid.UUID], list[uuid.UUID], bool]:
        db = await open_db(cfg)
        connection = await open_broker(cfg)
        try:
            channel = await connection.channel()
            await declare_topology(channel, topology)
            await channel.close()
            publisher = await ConfirmedPublisher.open(connection, topology.exchange)
            queues = [q for q in topology.queues_of("scrape") if not q.endswith(".dead")]
            depths = await queue_depths(connection, queues)
            result = await requeue_stuck_jobs(
                db, publisher.publish_many, work_queue=topology.work_queue("scrape"), stale_seconds=stale,
                longest_retry_delay=max(cfg.retry_backoff), max_attempts=cfg.max_attempts,
                include_queued=not any(ready for ready, _ in depths.values()),
            )
            return result.requeued, result.failed, result.skipped_locked
        finally:
            await connection.close()
            await db.close()

    requeued, failed, locked = run_async(go())
    if as_json:
        emit_json({"requeued": [str(i) for i in requeued], "failed": [str(i) for i in failed],
                   "skipped_locked": locked})
        return
    if locked:
        typer.echo("another instance is running maintenance right now; nothing done")
        return
    typer.echo(f"requeued {len(requeued)} stuck job(s), failed {len(failed)}")
    for ident in requeued:
        typer.echo(f"  requeued {ident}")
    for ident in failed:
        typer.echo(f"  failed   {ident}")


@maintenance_app.command("cleanup")
def maintenance_cleanup(
    older_than: str = typer.Option("90d", "--older-than", help="Age of finished jobs to delete, e.g. 90d."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete finished jobs (with their history and links) and raw leads no job references any more."""
    from leadworker.store.maintenance import cleanup_old

    seconds = _duration("--older-than", older_than)
    cfg = settings()

    async def go() -> tuple[int, int, bool]:
        db = await open_db(cfg)
        try:
            result = await cleanup_old(db, seconds, dry_run=dry_run)
            return result.jobs, result.raw_leads, result.skipped_locked
        finally:
            await db.close()

    jobs, leads, locked = run_async(go())
    if as_json:
        emit_json({"jobs": jobs, "raw_leads": leads, "dry_run": dry_run, "skipped_locked": locked})
        return
    if locked:
        typer.echo("another instance is running maintenance right now; nothing done")
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {jobs} job(s) and {leads} unreferenced raw lead(s)")


@app.command()
def demo(
    keep_running: bool = typer.Option(False, "--serve", help="Keep the sample site up after the run."),
) -> None:
    """Run the whole pipeline on the bundled sample site and print what it found."""
    from leadworker.demo import run_demo

    cfg = settings()
    configure_logging("console" if sys.stderr.isatty() else cfg.log_format, "warning")
    raise typer.Exit(asyncio.run(run_demo(cfg, serve=keep_running)))


@webhooks_app.command("secret")
def webhooks_secret(url: str | None = typer.Argument(
        None, help="The webhook URL exactly as the job names it [default: LEADWORKER_WEBHOOK_URL].")) -> None:
    """Print the secret a receiver at URL verifies signatures with (derived from LEADWORKER_WEBHOOK_SECRET)."""
    from leadworker.common.webhook_events import destination_secret

    cfg = settings()
    target = url or cfg.webhook_url
    if not target:
        raise UsageError("give the webhook URL (or set LEADWORKER_WEBHOOK_URL)")
    if not cfg.webhook_secret:
        raise UsageError("LEADWORKER_WEBHOOK_SECRET is not set: webhooks are sent unsigned")
    typer.echo(destination_secret(cfg.webhook_secret, target))


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the broker, the database, its migrations, the topology and Chromium; say what to fix.
    Exit 1 if something is missing."""
    from leadworker.ops.doctor import run_checks

    checks = run_async(run_checks(settings()))
    healthy = all(check.ok for check in checks)
    if as_json:
        emit_json({"ok": healthy, "checks": [check.as_json() for check in checks]})
    else:
        for check in checks:
            typer.echo(f"{'ok' if check.ok else 'MISSING':<8} {check.name:<11} {check.detail}")
            if check.fix:
                typer.echo(f"{'':<8} {'':<11} fix: {check.fix}")
    if not healthy:
        raise typer.Exit(1)


@app.command("config")
def show_config(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the effective settings (passwords masked)."""
    view = settings().public_view()
    if as_json:
        emit_json(view)
        return
    for key, value in view.items():
        typer.echo(f"LEADWORKER_{key.upper()}={'' if value is None else value}")


# --- entry point -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """Console script entry point: run the app, turn every error into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        code = command.main(args, prog_name="leadworker", standalone_mode=False)
    except ClickUsageError as exc:
        message = exc.format_message()
        if not message:  # bare "leadworker" or a bare group: help was printed
            sys.exit(0)
        path = exc.ctx.command_path if exc.ctx is not None else "leadworker"
        sys.stderr.write(f"leadworker: error: {message} (see '{path} --help')\n")
        sys.exit(2)
    except UsageError as exc:
        sys.stderr.write(f"leadworker: error: {one_line(exc, 1000)}\n")
        sys.exit(2)
    except ServiceUnavailable as exc:
        sys.stderr.write(f"leadworker: {one_line(exc, 1000)} (is it running? see README: Configuration)\n")
        sys.exit(1)
    except TopologyMismatch as exc:
        sys.stderr.write(f"leadworker: {one_line(exc, 1000)}\n")
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("leadworker: interrupted\n")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # the last resort: still one line, with what to report
        sys.stderr.write(f"leadworker: unexpected error: {type(exc).__name__}: {one_line(exc, 800)}\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

