"""``leadworker maintenance``: rescue stuck jobs, delete old ones (what ``--stage maintenance`` runs too)."""

from __future__ import annotations

import uuid

import typer

from leadworker.cli.helpers import emit_json, parse_duration_flag, run_async, settings
from leadworker.ops.connections import database, publishing

maintenance_app = typer.Typer(
    help="Rescue stuck jobs, delete old ones (also run by --stage maintenance).", no_args_is_help=True
)


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
    stale = parse_duration_flag("--older-than", older_than) if older_than else cfg.stale_job_seconds

    async def go() -> tuple[list[uuid.UUID], list[uuid.UUID], bool]:
        async with database(cfg) as db, publishing(cfg) as (connection, topology, publisher):
            queues = [q for q in topology.queues_of("scrape") if not q.endswith(".dead")]
            depths = await queue_depths(connection, queues)
            result = await requeue_stuck_jobs(
                db,
                publisher.publish_many,
                work_queue=topology.work_queue("scrape"),
                stale_seconds=stale,
                policy=cfg.retry_policy,
                include_queued=not any(ready for ready, _ in depths.values()),
            )
            return result.requeued, result.failed, result.skipped_locked

    requeued, failed, locked = run_async(go())
    if as_json:
        emit_json(
            {"requeued": [str(i) for i in requeued], "failed": [str(i) for i in failed], "skipped_locked": locked}
        )
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

    seconds = parse_duration_flag("--older-than", older_than)
    cfg = settings()

    async def go() -> tuple[int, int, bool]:
        async with database(cfg) as db:
            result = await cleanup_old(db, seconds, dry_run=dry_run)
            return result.jobs, result.raw_leads, result.skipped_locked

    jobs, leads, locked = run_async(go())
    if as_json:
        emit_json({"jobs": jobs, "raw_leads": leads, "dry_run": dry_run, "skipped_locked": locked})
        return
    if locked:
        typer.echo("another instance is running maintenance right now; nothing done")
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {jobs} job(s) and {leads} unreferenced raw lead(s)")
