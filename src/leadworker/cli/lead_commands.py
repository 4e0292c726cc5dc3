"""``leadworker leads``: export canonical leads, show one with its provenance."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from leadworker.cli.helpers import emit_json, parse_job_id, print_table, run_async, settings, shown
from leadworker.errors import UsageError, one_line
from leadworker.ops.connections import database

if TYPE_CHECKING:
    from leadworker.store.lead_export import Near
    from leadworker.store.pool import Database

leads_app = typer.Typer(help="Export and inspect canonical leads; record what became of them.", no_args_is_help=True)


@leads_app.command("export")
def leads_export(
    job: str | None = typer.Option(None, "--job", help="Only the leads this job found, with its scores."),
    segment: str | None = typer.Option(None, "--segment", help="hot, warm or cold."),
    min_score: int | None = typer.Option(None, "--min-score", min=0, max=100, help="Only scores >= N (0-100)."),
    fmt: str = typer.Option("csv", "--format", help="csv or jsonl."),
    output: Path | None = typer.Option(None, "--output", help="File to write (default: standard output)."),
    near: str | None = typer.Option(None, "--near", help="Only leads near LAT,LON (with --radius-km), nearest first."),
    radius_km: float | None = typer.Option(None, "--radius-km", min=0.001, max=20_000, help="Radius of --near in km."),
    schedule: str | None = typer.Option(
        None, "--schedule", help="Only the leads the schedule's latest completed run found."
    ),
    new: bool = typer.Option(False, "--new", help="With --schedule: only the leads its previous run did not find."),
) -> None:
    """Stream canonical leads with score, segment, components, verdicts, coordinates and provenance (constant
    memory)."""
    from leadworker.store.lead_files import FORMATS, SEGMENTS, export_leads

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose csv or jsonl")
    if segment is not None and segment not in SEGMENTS:
        raise UsageError(f"--segment {segment!r}: choose hot, warm or cold")
    _schedule_options(job, schedule, new)
    job_id = parse_job_id(job) if job is not None else None
    center = _near_option(near, radius_km)
    cfg = settings()
    partial = output.with_name(output.name + ".partial") if output is not None else None
    try:
        out = partial.open("w", encoding="utf-8", newline="") if partial is not None else sys.stdout
    except OSError as exc:
        raise UsageError(f"cannot write --output {str(output)!r}: {exc.strerror}") from None

    async def go() -> int | None:
        async with database(cfg) as db:
            chosen = await _export_job(db, job_id, schedule)
            if chosen is None:
                return None
            return await export_leads(
                db,
                out,
                fmt=fmt,
                job_id=chosen[0],
                segment=segment,
                min_score=min_score,
                near=center,
                not_in_job=chosen[1] if new else None,
            )

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
        typer.echo(
            f"leadworker: no completed run of schedule {schedule!r}"
            if schedule is not None
            else f"leadworker: no job {job_id}",
            err=True,
        )
        raise typer.Exit(1)
    if partial is not None and output is not None:
        os.replace(partial, output)
    typer.echo(f"exported {count} lead(s)" + (f" to {output}" if output else ""), err=True)


def _schedule_options(job: str | None, schedule: str | None, new: bool) -> None:
    if new and schedule is None:
        raise UsageError("--new goes with --schedule NAME (the leads its latest run found and the run before did not)")
    if schedule is not None and job is not None:
        raise UsageError("--schedule picks the job: do not combine it with --job")


async def _export_job(
    db: Database, job_id: uuid.UUID | None, schedule: str | None
) -> tuple[uuid.UUID | None, uuid.UUID | None] | None:
    """``(job, previous job)`` whose leads to export: ``--job``'s, ``--schedule``'s latest completed run and the run
    before it (None when its first run: every lead is new), or ``(None, None)`` for every lead. None if there is
    no such job, or no completed run of the schedule."""
    from leadworker.store.lead_export import job_exists
    from leadworker.store.schedules import latest_completed_run

    if schedule is not None:
        return await latest_completed_run(db, schedule)
    if job_id is not None and not await job_exists(db, job_id):
        return None
    return job_id, None


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


@leads_app.command("show")
def leads_show(
    lead_id: str = typer.Argument(..., help="The lead's id (a number)."), as_json: bool = typer.Option(False, "--json")
) -> None:
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
        async with database(cfg) as db:
            return await lead_detail(db, ident)

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
    for key in (
        "id",
        "company_name",
        "legal_form",
        "domain",
        "website",
        "emails",
        "phones",
        "address",
        "city",
        "postal_code",
        "country",
        "contact_name",
        "categories",
        "score",
        "segment",
        "scored_at",
    ):
        value = lead[key]
        if isinstance(value, list):
            value = ", ".join(value)
        typer.echo(f"{key:>13}: {shown(value)}")
    if lead["explanation"]:
        typer.echo(f"{'explained':>13}: {shown(lead['explanation'])}")
    if detail["outcomes"]:
        latest = detail["outcomes"][0]
        typer.echo(
            f"{'outcome':>13}: {latest['outcome']} at {latest['at'].isoformat(timespec='seconds')} "
            f"({shown(latest['source'])}{', ' + shown(latest['note']) if latest['note'] else ''})"
        )
    _print_contact_checks(lead)
    if detail["absorbed"]:
        typer.echo(f"{'absorbed':>13}: {', '.join(str(i) for i in detail['absorbed'])}")
    _print_provenance(detail)


def _print_contact_checks(lead: dict[str, Any]) -> None:
    """A lead's location and what its e-mails' verification and its phones' data say."""
    if lead["latitude"] is not None:
        typer.echo(
            f"{'location':>13}: {lead['latitude']:.5f},{lead['longitude']:.5f} "
            f"({lead['geo_precision']} precision, {shown(lead['geo_source'])})"
        )
    if lead["email_checks"]:
        typer.echo("\ne-mails (verification):")
        print_table(
            [[c["address"], c["status"] or "not verified", c["reason"] or ""] for c in lead["email_checks"]],
            ["address", "status", "reason"],
        )
    if lead["phone_checks"]:
        typer.echo("\nphones:")
        print_table(
            [
                [p["number"], p["type"] or "", p["region"] or "", p["carrier"] or "", p["place"] or ""]
                for p in lead["phone_checks"]
            ],
            ["number", "type", "region", "carrier", "place"],
        )


def _print_provenance(detail: dict[str, Any]) -> None:
    """Where a lead's values came from: values, sources, scores by job, conflicts, enrichment providers."""
    typer.echo("\nvalues (provenance):")
    print_table(
        [
            [v["field"], v["value"], v["provider"] or f"raw {v['raw_lead_id']}", v["source_url"] or ""]
            for v in detail["values"]
        ],
        ["field", "value", "from", "page"],
    )
    typer.echo("\nsources:")
    print_table(
        [
            [s["raw_lead_id"], s["source_type"], s["source_url"] or "", ", ".join(str(j)[:8] for j in s["job_ids"])]
            for s in detail["sources"]
        ],
        ["raw lead", "type", "url", "jobs"],
    )
    typer.echo("\nscores by job:")
    print_table(
        [
            [
                s["job_id"],
                s["score"],
                s["segment"],
                s["explanation"],
            ]
            for s in detail["scores"]
        ],
        ["job", "score", "segment", "explained"],
    )
    if detail["conflicts"]:
        typer.echo("\nshares a key with (not merged: different domains):")
        print_table(
            [[c["other_lead_id"], c["kind"], c["value"]] for c in detail["conflicts"]], ["lead", "kind", "value"]
        )
    if detail["enrichments"]:
        typer.echo("\nenrichment providers:")
        print_table(
            [
                [e["provider"], e["status"], e["attempts"], one_line(e["error"] or "", 60)]
                for e in detail["enrichments"]
            ],
            ["provider", "status", "tries", "error"],
        )
