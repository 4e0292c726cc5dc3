"""A database URL through PgBouncer in transaction mode without ``LEADWORKER_DB_POOL_MODE=transaction``: refused
at once with one line that says what to set, not asyncpg's prepared-statement errors job after job."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

import support
from leadworker.config import Settings
from leadworker.errors import UsageError
from leadworker.store.pool import Database


async def test_a_transaction_pooler_without_the_setting_is_refused_in_one_line(
    settings: Settings, database_url: str, pgbouncer: support.PrivatePgBouncer
) -> None:
    parts = urlsplit(database_url)  # the database itself: this test is not marked pgbouncer
    pooled = pgbouncer.url(parts.path.lstrip("/"), parts.username)
    forgot = settings.model_copy(
        update={"database_url": pooled, "database_direct_url": database_url, "db_pool_mode": "session"}
    )

    with pytest.raises(UsageError, match="LEADWORKER_DB_POOL_MODE=transaction"):
        await Database.connect(pooled, min_size=1, max_size=4)
    listed = support.run_cli(forgot, "jobs", "list")
    assert listed.returncode == 2, listed.stdout + listed.stderr
    assert listed.stderr.count("\n") == 1 and "LEADWORKER_DB_POOL_MODE=transaction" in listed.stderr, listed.stderr
    worker = support.run_cli(forgot, "run", "--stage", "scrape", "--exit-when-idle", "1", timeout=60)
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert "LEADWORKER_DB_POOL_MODE=transaction" in worker.stderr.strip().splitlines()[-1], worker.stderr

    told = forgot.model_copy(update={"db_pool_mode": "transaction"})
    assert support.run_cli(told, "jobs", "list").returncode == 0
    direct = await Database.connect(database_url, min_size=1, max_size=4)  # the database itself: no false alarm
    await direct.close()
