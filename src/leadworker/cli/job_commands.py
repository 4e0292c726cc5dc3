"""``leadworker jobs``: list, show, cancel, stats."""

from __future__ import annotations

import json
import uuid
from typing import Any

import typer

from leadworker.cli.helpers import (
    emit_json,
    parse_duration_flag,
    parse_job_id,
    print_table,
    run_async,
    settings,
    shown,
)
from leadworker.errors import ServiceUnavailable, UsageError, one_line
from leadworker.ops.connections import database, open_broker
from leadworker.store import jobs as jobstore
from leadworker.store.jobs import JobStatus

jobs_app = typer.Typer(help="Inspect and cancel scrape jobs.", no_args_is_help=True)


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
        async with database(cfg) as db:
            return [dict(r) for r in await jobstore.list_jobs(db, status, limit)]

    rows = run_async(go())
    if as_json:
        emit_json({"jobs": [_job_json(r) for r in rows]})
        return
    print_table(
        [
            [
                r["id"],
                r["status"],
                r["attempts"],
                r["pages"],
                r["found"],
                r["new"],
                r["duplicates"],
                r["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
                one_line(r["error"] or "", 50),
            ]
            for r in rows
        ],
        ["job", "status", "tries", "pages", "found", "new", "dup", "created (UTC)", "error"],
    )


def _job_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, uuid.UUID) else v)
        for k, v in row.items()
    }


@jobs_app.command("show")
def jobs_show(
    job_id: str = typer.Argument(..., help="The job's id."), as_json: bool = typer.Option(False, "--json")
) -> None:
    """One job: its row, its history and the leads it found."""
    from leadworker.store.leads import job_leads
    from leadworker.store.webhook_deliveries import job_deliveries

    ident = parse_job_id(job_id)
    cfg = settings()

    hooks: list[dict[str, Any]] = []

    async def go() -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
        async with database(cfg) as db:
            row = await jobstore.get_job(db, ident)
            if row is None:
                return None, [], []
            events = [dict(e) for e in await jobstore.job_events(db, ident)]
            hooks.extend(dict(w) for w in await job_deliveries(db, ident))
            return dict(row), events, await job_leads(db, ident)

    row, events, leads = run_async(go())
    if row is None:
        typer.echo(f"leadworker: no job {ident}", err=True)
        raise typer.Exit(1)
    if as_json:
        emit_json(
            {
                "job": _job_json(row),
                "events": [_job_json(e) for e in events],
                "leads": [_job_json(lead) for lead in leads],
                "webhooks": [_job_json(w) for w in hooks],
            }
        )
        return
    _print_job(row)
    _print_history(events, hooks)
    typer.echo(f"\nleads ({len(leads)}):")
    print_table(
        [
            [
                lead["id"],
                "new" if lead["is_new"] else "dup",
                lead["record"].get("company_name"),
                ", ".join(lead["record"].get("emails", [])),
                ", ".join(lead["record"].get("phones", [])),
            ]
            for lead in leads[:50]
        ],
        ["lead", "", "company", "emails", "phones"],
    )


def _print_job(row: dict[str, Any]) -> None:
    for key in (
        "id",
        "status",
        "user_id",
        "attempts",
        "worker",
        "pages",
        "found",
        "new",
        "duplicates",
        "error_kind",
        "error",
        "created_at",
        "started_at",
        "completed_at",
    ):
        typer.echo(f"{key:>13}: {shown(row[key])}")
    for key in ("normalized", "scored", "invalid_phones", "invalid_emails", "enriched_at", "enrich_error"):
        if key in row:
            typer.echo(f"{key:>13}: {shown(row[key])}")
    if row.get("fanout_deferred"):
        typer.echo(f"{'enrichment':>13}: waiting in the database for a worker that runs the normalize stage")
    degraded = row.get("pages_degraded") or 0
    typer.echo(
        f"{'degraded':>13}: {degraded} page(s) needed a browser and were not rendered"
        + (" (see leadworker doctor)" if degraded else "")
    )
    typer.echo(f"{'criteria':>13}: {json.dumps(row['criteria'], default=str)[:300]}")


def _print_history(events: list[dict[str, Any]], hooks: list[dict[str, Any]]) -> None:
    typer.echo("\nhistory:")
    for e in events:
        typer.echo(
            f"  {e['at']:%Y-%m-%d %H:%M:%S}  {e['from_status'] or '-':>9} -> {e['to_status']:<9} "
            f"attempt {e['attempts']}  {shown(e['worker'])}  {shown(one_line(e['error'] or '', 60))}"
        )
    if hooks:
        typer.echo("\nwebhooks:")
        for w in hooks:
            typer.echo(
                f"  {w['event']:<14} {w['status']:<9} attempts {w['attempts']}  "
                f"{shown(one_line(w['last_error'] or '', 60))}"
            )


@jobs_app.command("cancel")
def jobs_cancel(job_id: str = typer.Argument(..., help="The job's id.")) -> None:
    """Cancel a queued, running or retrying job (a running crawl stops at its next page)."""
    from leadworker.broker.publisher import PublishError
    from leadworker.stages.events import publish_job_event

    ident = parse_job_id(job_id)
    cfg = settings()

    async def go() -> tuple[bool, JobStatus | None, str | None]:
        async with database(cfg) as db:
            cancelled, status = await jobstore.cancel_job(db, ident)
            problem = None
            if status is JobStatus.CANCELLED:
                try:
                    await publish_job_event(cfg, db, ident)
                except (ServiceUnavailable, PublishError) as exc:
                    problem = one_line(exc, 300)
            return cancelled, status, problem

    cancelled, status, problem = run_async(go())
    if problem is not None:
        typer.echo(
            f"leadworker: cancelled {ident}, but its webhook event was not published ({problem}); "
            "it is sent when the job's message is next delivered",
            err=True,
        )
        raise typer.Exit(1)
    if status is None:
        typer.echo(f"leadworker: no job {ident}", err=True)
        raise typer.Exit(1)
    if not cancelled:
        typer.echo(f"leadworker: job {ident} is already {status.value}; nothing to cancel", err=True)
        raise typer.Exit(1)
    typer.echo(f"cancelled {ident}")


@jobs_app.command("stats")
def jobs_stats(
    since: str = typer.Option(
        "1h", "--since", help="Window for throughput, success rate and durations: 90s, 15m, 1h, 1h30m, 7d..."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Jobs by status; throughput, success rate and durations over a window; queue depths from the broker."""
    from leadworker.broker.topology import Topology
    from leadworker.ops import queue_stats as stats

    window = parse_duration_flag("--since", since)
    cfg = settings()

    async def go() -> dict[str, Any]:
        async with database(cfg) as db:
            doc = {"since": since, **await stats.job_stats(db, window)}
        try:
            connection = await open_broker(cfg)
        except ServiceUnavailable as exc:
            return {**doc, "broker": {"reachable": False, "error": str(exc)}, "queues": [], "dead_letters": {}}
        try:
            queues = await stats.queue_stats(connection, Topology.from_settings(cfg))
        finally:
            await connection.close()
        return {
            **doc,
            "broker": {"reachable": True},
            "queues": queues,
            "dead_letters": {q["queue"]: q["dead_letters"] for q in queues},
        }

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
    typer.echo(
        f"  created {w['created']}, finished {w['finished']} (completed {w['completed']}, "
        f"failed {w['failed']}, cancelled {w['cancelled']})"
    )
    typer.echo(f"  throughput {w['throughput_per_minute']:g} jobs/min, success rate {rate}")
    typer.echo(
        f"  duration mean {secs(w['duration_seconds']['mean'])}, p95 {secs(w['duration_seconds']['p95'])}; "
        f"latency mean {secs(w['latency_seconds']['mean'])}, p95 {secs(w['latency_seconds']['p95'])}"
    )
    if doc["queues"]:
        typer.echo("")
        print_table(
            [
                [q["queue"], q["messages_ready"], q["consumers"], q["retry_waiting"], q["dead_letters"]]
                for q in doc["queues"]
            ],
            ["queue", "ready", "consumers", "retrying", "dead"],
        )
