"""``leadworker run``: the worker, in this process or as supervised child processes."""

from __future__ import annotations

import asyncio
import os
import sys

import typer

from leadworker.cli.helpers import global_overrides, settings
from leadworker.config import Settings
from leadworker.errors import UsageError
from leadworker.ops.logging import configure_logging


def run(
    stage: str = typer.Option("all", "--stage", help="all, or a comma-separated list: scrape,normalize,..."),
    prefetch: int | None = typer.Option(None, "--prefetch", min=1, help="Unacked deliveries per consumer."),
    processes: int = typer.Option(1, "--processes", min=1, max=64, help="Worker processes to run and supervise."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=0, max=65535, help="Prometheus metrics and health port (0 = off)."
    ),
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


def supervise(cfg: Settings, stage: str, processes: int, *, prefetch: int | None, exit_when_idle: float | None) -> int:
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
    for key, value in global_overrides.items():
        env[f"LEADWORKER_{key.upper()}"] = str(value)

    async def go() -> int:
        loop = asyncio.get_running_loop()
        return await run_supervised(
            command,
            processes,
            env=env,
            shutdown_grace=cfg.shutdown_grace,
            batch=exit_when_idle is not None,
            metrics_host=cfg.metrics_host,
            metrics_port=cfg.metrics_port,
            install_signals=lambda stop: install_stop_handlers(loop, stop),
        )

    return asyncio.run(go())
