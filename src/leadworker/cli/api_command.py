"""``leadworker api``: the HTTP API on uvicorn (see README: HTTP API)."""

from __future__ import annotations

import typer

from leadworker.cli.helpers import settings


def api(
    host: str | None = typer.Option(None, "--host", help="Address to listen on [env LEADWORKER_API_HOST]."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Port [env LEADWORKER_API_PORT]."),
) -> None:
    """Serve the HTTP API: submit and follow jobs, download leads (Bearer tokens: `leadworker tokens`).
    SIGTERM or Ctrl-C stops taking connections, lets requests in flight finish and exits 0."""
    from leadworker.api.uvicorn_runner import serve  # FastAPI and uvicorn load only for this command
    from leadworker.ops.logging import configure_logging

    cfg = settings(api_host=host, api_port=port)
    configure_logging(cfg.log_format, cfg.log_level)
    if not serve(cfg):
        raise typer.Exit(1)
