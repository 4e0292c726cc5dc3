"""``leadworker api``: the HTTP API on uvicorn (see README: HTTP API)."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from leadworker.cli.helpers import settings
from leadworker.config import Settings
from leadworker.errors import ServiceUnavailable


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
    asyncio.run(_refuse_a_transaction_pooler(cfg))
    if not serve(cfg):
        raise typer.Exit(1)


async def _refuse_a_transaction_pooler(cfg: Settings) -> None:
    """Raise :class:`UsageError` (one line, exit 2, as every command) if ``LEADWORKER_DATABASE_URL`` is a
    transaction pooler and ``LEADWORKER_DB_POOL_MODE`` does not say so. The app's start finds it too, but
    inside uvicorn, which prints a traceback and exits 3. Any other failure is left to the app's start."""
    from leadworker.store.pool import Database

    if cfg.transaction_pooled:
        return
    try:
        db = await Database.connect(cfg.database_url, min_size=1, max_size=2, connect_timeout=5.0)
    except (ServiceUnavailable, asyncpg.PostgresError, OSError):
        return
    await db.close()
