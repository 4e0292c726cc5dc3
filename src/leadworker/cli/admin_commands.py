"""Setting up and looking around: ``db migrate``, ``topology declare``, ``webhooks secret``, ``doctor``, ``config``
and ``demo``."""

from __future__ import annotations

import asyncio
import sys

import typer

from leadworker.broker.topology import Topology, declare_topology
from leadworker.cli.helpers import emit_json, run_async, settings
from leadworker.config import mask_url
from leadworker.errors import UsageError
from leadworker.ops.connections import broker
from leadworker.ops.logging import configure_logging

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
topology_app = typer.Typer(help="RabbitMQ exchanges and queues.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook signing keys for receivers.", no_args_is_help=True)


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the database if needed and apply pending migrations (idempotent)."""
    from leadworker.store import migrate as migrations

    cfg = settings()
    applied = run_async(migrations.migrate(cfg.session_database_url))
    where = mask_url(cfg.session_database_url)
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
        async with broker(cfg) as connection:
            channel = await connection.channel()
            await declare_topology(channel, topology)

    run_async(go())
    names = [name for name, _ in topology.declarations()]
    typer.echo(f"declared exchange {topology.exchange} and {len(names)} queues ({cfg.queue_type}):")
    for name in names:
        typer.echo(f"  {name}")


@webhooks_app.command("secret")
def webhooks_secret(
    url: str | None = typer.Argument(
        None, help="The webhook URL exactly as the job names it [default: LEADWORKER_WEBHOOK_URL]."
    ),
) -> None:
    """Print the secret a receiver at URL verifies signatures with (derived from LEADWORKER_WEBHOOK_SECRET)."""
    from leadworker.common.webhook_events import destination_secret

    cfg = settings()
    target = url or cfg.webhook_url
    if not target:
        raise UsageError("give the webhook URL (or set LEADWORKER_WEBHOOK_URL)")
    if not cfg.webhook_secret:
        raise UsageError("LEADWORKER_WEBHOOK_SECRET is not set: webhooks are sent unsigned")
    typer.echo(destination_secret(cfg.webhook_secret, target))


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


def show_config(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the effective settings (passwords masked)."""
    view = settings().public_view()
    if as_json:
        emit_json(view)
        return
    for key, value in view.items():
        typer.echo(f"LEADWORKER_{key.upper()}={'' if value is None else value}")


def demo(
    keep_running: bool = typer.Option(False, "--serve", help="Keep the sample site up after the run."),
) -> None:
    """Run the whole pipeline on the bundled sample site and print what it found."""
    from leadworker.demo import run_demo

    cfg = settings()
    configure_logging("console" if sys.stderr.isatty() else cfg.log_format, "warning")
    raise typer.Exit(asyncio.run(run_demo(cfg, serve=keep_running)))
