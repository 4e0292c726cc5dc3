"""``leadworker dlq``: list, replay or purge dead-lettered messages."""

from __future__ import annotations

import uuid

import typer

from leadworker.broker import dlq
from leadworker.broker.topology import Topology
from leadworker.cli.helpers import emit_json, print_table, run_async, settings
from leadworker.config import Settings
from leadworker.errors import UsageError, one_line
from leadworker.ops.connections import broker, database
from leadworker.store import jobs as jobstore

dlq_app = typer.Typer(help="List, replay or purge dead-lettered messages.", no_args_is_help=True)

QUEUE_HELP = "A stage (scrape, normalize, score, notify) or its queue name; all if omitted."


def _dead_queues(cfg: Settings, queue: str | None) -> tuple[Topology, list[str]]:
    topology = Topology.from_settings(cfg)
    try:
        return topology, dlq.dead_queues(topology, queue)
    except ValueError as exc:
        raise UsageError(f"--queue: {exc}") from None


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
        async with broker(cfg) as connection:
            return await dlq.list_dead(connection, queues, limit)

    letters = run_async(go())
    if as_json:
        emit_json({"dead_letters": [d.as_json() for d in letters]})
        return
    print_table(
        [[d.queue, d.message_id, d.kind, d.attempts, d.dead_at, one_line(d.reason, 70)] for d in letters],
        ["queue", "message", "kind", "tries", "dead at", "reason"],
    )


@dlq_app.command("replay")
def dlq_replay(
    queue: str | None = typer.Option(None, "--queue", help=QUEUE_HELP),
    limit: int | None = typer.Option(None, "--limit", min=1),
) -> None:
    """Send dead letters back to their queues with a fresh attempt count (failed jobs become queued)."""
    cfg = settings()
    topology, queues = _dead_queues(cfg, queue)

    async def go() -> int:
        async with database(cfg) as db, broker(cfg) as connection:

            async def reset(job_id: uuid.UUID) -> None:
                await jobstore.requeue_failed(db, job_id)

            return await dlq.replay_dead(connection, topology, queues, limit, on_job=reset)

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
        async with broker(cfg) as connection:
            return await dlq.purge_dead(connection, queues, limit)

    typer.echo(f"purged {run_async(go())} message(s)")
