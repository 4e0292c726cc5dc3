"""``leadworker schedules``: recurring scrape jobs, fired by the ``schedule`` stage (see
:mod:`leadworker.stages.schedule`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import typer

from leadworker.cli.helpers import emit_json, print_table, run_async, settings
from leadworker.cli.job_options import (
    Geography,
    Industry,
    Keywords,
    LeadsFile,
    MaxPages,
    Query,
    Render,
    Sources,
    Targets,
    UserId,
    WebhookUrl,
    job_from_options,
)
from leadworker.common.cron import cron_expression, time_zone
from leadworker.errors import UsageError
from leadworker.ops.connections import database, publishing
from leadworker.stages import schedule as stage
from leadworker.store import schedules as store

schedules_app = typer.Typer(help="Recurring scrape jobs: each fire time makes one job.", no_args_is_help=True)

SHOWN_FIRES = 10
"""Fires ``schedules show`` lists."""


def _checked(cron: str, tz: str) -> str:
    try:
        expr = cron_expression(cron)
    except ValueError as exc:
        raise UsageError(f"--cron: {exc}") from None
    try:
        time_zone(tz)
    except ValueError as exc:
        raise UsageError(f"--tz: {exc}") from None
    return expr


@schedules_app.command("add")
def schedules_add(
    name: str = typer.Argument(..., help="The schedule's name (unique)."),
    cron: str = typer.Option(..., "--cron", help="5 cron fields (minute hour day month weekday), @hourly, @daily..."),
    tz: str = typer.Option("UTC", "--tz", help="IANA time zone the expression is read in, e.g. Europe/Berlin."),
    catch_up: str = typer.Option("latest", "--catch-up", help="After an outage: latest, skip or all (bounded)."),
    overlap: str = typer.Option("skip", "--overlap", help="skip a fire while the previous job runs, or allow."),
    jitter: int = typer.Option(0, "--jitter", min=0, max=86_400, help="Delay each fire by up to N seconds."),
    paused: bool = typer.Option(False, "--paused", help="Create it paused (resume fires it)."),
    target: Targets = None,
    source: Sources = None,
    query: Query = None,
    industry: Industry = None,
    geography: Geography = None,
    keyword: Keywords = None,
    max_pages: MaxPages = None,
    render: Render = None,
    user_id: UserId = None,
    webhook_url: WebhookUrl = None,
    leads: LeadsFile = None,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create a schedule: the job that `publish` would make from the same flags, every time the expression fires."""
    if not name.strip() or len(name) > 200:
        raise UsageError("NAME must be 1-200 characters")
    expr = _checked(cron, tz)
    if catch_up not in stage.CATCH_UP_POLICIES:
        raise UsageError(f"--catch-up {catch_up!r}: choose latest, skip or all")
    if overlap not in stage.OVERLAP_POLICIES:
        raise UsageError(f"--overlap {overlap!r}: choose skip or allow")
    job = job_from_options(
        targets=target,
        sources=source,
        query=query,
        industry=industry,
        geography=geography,
        keywords=keyword,
        max_pages=max_pages,
        render=render,
        user_id=user_id,
        webhook_url=webhook_url,
        leads_file=leads,
    )
    template = {k: v for k, v in job.criteria().items() if k != "job_id"}
    cfg = settings()

    async def go() -> dict[str, Any] | None:
        async with database(cfg) as db:
            row = await store.add_schedule(
                db,
                name=name,
                cron=expr,
                time_zone=tz,
                template=template,
                catch_up=catch_up,
                overlap=overlap,
                jitter_seconds=jitter,
                next_fire_at=None,
                due_at=None,
            )
            if row is None:
                return None
            nxt, due = stage.next_due(row["id"], expr, tz, jitter, stage.utc_now())
            await store.set_enabled(db, name, not paused, nxt, due)
            found = await store.get_schedule(db, name)
            return _shown(found) if found is not None else None

    shown = run_async(go())
    if shown is None:
        raise UsageError(f"a schedule named {name!r} exists; remove it first or choose another name")
    if as_json:
        emit_json(shown)
    else:
        typer.echo(f"schedule {name!r} added; next fire {shown['next_fire_at'] or 'never'}")


@schedules_app.command("list")
def schedules_list(as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Every schedule with its last and next fire."""
    cfg = settings()

    async def go() -> list[asyncpg.Record]:
        async with database(cfg) as db:
            return await store.list_schedules(db)

    rows = [_shown(r) for r in run_async(go())]
    if as_json:
        emit_json({"schedules": rows})
        return
    print_table(
        [
            [
                r["name"],
                r["cron"],
                r["time_zone"],
                "yes" if r["enabled"] else "paused",
                r["next_fire_at"],
                r["last_fire_at"],
                r["last_job_status"],
            ]
            for r in rows
        ],
        ["name", "cron", "zone", "enabled", "next fire", "last fire", "last job"],
    )


@schedules_app.command("show")
def schedules_show(
    name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """One schedule: its settings, its job template and its latest fires."""
    cfg = settings()

    async def go() -> dict[str, Any] | None:
        async with database(cfg) as db:
            row = await store.get_schedule(db, name)
            if row is None:
                return None
            fires = await store.recent_fires(db, row["id"], SHOWN_FIRES)
            return {**_shown(row), "template": row["template"], "fires": [_plain(dict(f)) for f in fires]}

    shown = _found(name, run_async(go()))
    if as_json:
        emit_json(shown)
        return
    for key in (
        "name",
        "cron",
        "time_zone",
        "enabled",
        "catch_up",
        "overlap",
        "jitter_seconds",
        "next_fire_at",
        "last_fire_at",
        "last_job_id",
        "last_job_status",
    ):
        typer.echo(f"{key:>15}: {shown[key] if shown[key] is not None else ''}")
    typer.echo("\nfires:")
    print_table(
        [[f["fire_time"], f["kind"], f["result"], f["job_id"], f["status"]] for f in shown["fires"]],
        ["fire time", "kind", "result", "job", "status"],
    )


def _set_enabled(name: str, enabled: bool) -> None:
    cfg = settings()

    async def go() -> dict[str, Any] | None:
        async with database(cfg) as db:
            row = await store.get_schedule(db, name)
            if row is None:
                return None
            nxt, due = (
                stage.next_due(row["id"], row["cron"], row["time_zone"], row["jitter_seconds"], stage.utc_now())
                if enabled
                else (None, None)
            )
            await store.set_enabled(db, name, enabled, nxt, due)
            found = await store.get_schedule(db, name)
            return _shown(found) if found is not None else None

    _found(name, run_async(go()))


@schedules_app.command("pause")
def schedules_pause(
    name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """Stop firing a schedule (until resume)."""
    _set_enabled(name, False)
    _done(as_json, name, "paused")


@schedules_app.command("resume")
def schedules_resume(
    name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """Fire a paused schedule again, from its next fire time after now (times missed while paused are not caught
    up)."""
    _set_enabled(name, True)
    _done(as_json, name, "resumed")


@schedules_app.command("remove")
def schedules_remove(
    name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """Delete a schedule and its history of fires (its jobs and leads stay)."""
    cfg = settings()

    async def go() -> bool:
        async with database(cfg) as db:
            return await store.remove_schedule(db, name)

    _found(name, True if run_async(go()) else None)
    _done(as_json, name, "removed")


@schedules_app.command("run-now")
def schedules_run_now(
    name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """Make the schedule's job now (also when paused, whatever its overlap policy); its next fire is unchanged."""
    from leadworker.stages.scrape import worker_id

    cfg = settings()

    async def go() -> stage.Fire | None:
        async with database(cfg) as db, publishing(cfg) as (_, topology, publisher):
            return await stage.run_now(
                db, publisher.publish_many, topology, name, now=stage.utc_now(), worker=worker_id()
            )

    fire = run_async(go())
    if fire is None or fire.job is None:
        _found(name, None)
        return
    if as_json:
        emit_json({"schedule": name, "job_id": str(fire.job.job_id), "fire_time": fire.fire_time.isoformat()})
    else:
        typer.echo(str(fire.job.job_id))


def _found(name: str, value: Any) -> Any:
    if value is None:
        typer.echo(f"leadworker: no schedule {name!r}", err=True)
        raise typer.Exit(1)
    return value


def _done(as_json: bool, name: str, what: str) -> None:
    if as_json:
        emit_json({"schedule": name, "result": what})
    else:
        typer.echo(f"schedule {name!r} {what}")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else str(v) if k.endswith("job_id") and v else v)
        for k, v in row.items()
    }


def _shown(row: asyncpg.Record) -> dict[str, Any]:
    shown = _plain(dict(row))
    shown.pop("template", None)
    shown.pop("due_at", None)
    shown.pop("id", None)
    return shown
