"""The ``leadworker`` command line: parses, calls, prints.

Exit codes: 0 success, 1 runtime failure (a service down, a job that failed), 2 bad usage or input. Errors are
one line on stderr that says what is wrong and what to do; never a traceback. ``--json`` output is one JSON
document on stdout; logs go to stderr.

This module holds the app, its global options and :func:`main`; each command group lives in a module of its own
(``job_commands``, ``lead_commands``, ...) over :mod:`leadworker.cli.helpers` and
:mod:`leadworker.ops.connections`. Nothing outside the CLI imports it.
"""

from __future__ import annotations

import sys

import typer
from typer._click.exceptions import UsageError as ClickUsageError

from leadworker.broker.topology import TopologyMismatch
from leadworker.cli import (
    admin_commands,
    dead_letter_commands,
    job_commands,
    lead_commands,
    maintenance_commands,
    model_commands,
    outcome_commands,
    schedule_commands,
)
from leadworker.cli.api_command import api
from leadworker.cli.helpers import global_overrides
from leadworker.cli.publish_command import publish
from leadworker.cli.run_command import run
from leadworker.cli.token_commands import tokens_app
from leadworker.cli.worker_commands import workers
from leadworker.errors import ServiceUnavailable, UsageError, one_line

app = typer.Typer(
    name="leadworker",
    help="Turn scrape requests into clean, scored sales leads: a RabbitMQ consumer daemon and its tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Commands, then groups, are listed in ``--help`` in the order they are registered here.
app.command()(run)
app.command()(publish)
app.command()(admin_commands.demo)
app.command()(admin_commands.doctor)
app.command("config")(admin_commands.show_config)
app.command()(api)
app.command()(workers)
app.add_typer(job_commands.jobs_app, name="jobs")
app.add_typer(dead_letter_commands.dlq_app, name="dlq")
app.add_typer(admin_commands.db_app, name="db")
app.add_typer(admin_commands.topology_app, name="topology")
lead_commands.leads_app.command("outcome")(outcome_commands.leads_outcome)
lead_commands.leads_app.command("outcomes")(outcome_commands.leads_outcomes)
app.add_typer(lead_commands.leads_app, name="leads")
app.add_typer(model_commands.model_app, name="model")
app.add_typer(schedule_commands.schedules_app, name="schedules")
app.add_typer(maintenance_commands.maintenance_app, name="maintenance")
app.add_typer(admin_commands.webhooks_app, name="webhooks")
app.add_typer(tokens_app, name="tokens")


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
    global_overrides.clear()
    global_overrides.update(
        {
            k: v
            for k, v in {
                "amqp_url": amqp_url,
                "database_url": database_url,
                "queue_prefix": queue_prefix,
                "log_format": log_format,
                "log_level": log_level,
            }.items()
            if v is not None
        }
    )


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
