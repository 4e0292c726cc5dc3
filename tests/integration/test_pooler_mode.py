"""A database URL through PgBouncer in transaction mode without ``LEADWORKER_DB_POOL_MODE=transaction``: refused
at once with one line that says what to set, not asyncpg's prepared-statement errors job after job."""

from __future__ import annotations

import json
import time
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
    api = support.run_cli(forgot, "api", "--port", str(support.free_port()), timeout=60)
    assert api.returncode == 2, api.stdout + api.stderr
    assert api.stderr.count("\n") == 1 and "LEADWORKER_DB_POOL_MODE=transaction" in api.stderr, api.stderr

    told = forgot.model_copy(update={"db_pool_mode": "transaction"})
    assert support.run_cli(told, "jobs", "list").returncode == 0
    direct = await Database.connect(database_url, min_size=1, max_size=4)  # the database itself: no false alarm
    await direct.close()


def test_doctor_checks_the_pooled_url_too(
    settings: Settings, database_url: str, pgbouncer: support.PrivatePgBouncer
) -> None:
    # The migrations are read through the direct URL; the workers' statements go through the pooled one,
    # which doctor has to look at as well: a mistyped pooler, or the pool mode forgotten.
    parts = urlsplit(database_url)
    pooled = pgbouncer.url(parts.path.lstrip("/"), parts.username)
    cfg = settings.model_copy(update={"database_url": pooled, "database_direct_url": database_url})

    def database_check(**update: str | None) -> dict[str, object]:
        answer = support.run_cli(cfg.model_copy(update=update), "doctor", "--json", LEADWORKER_BROWSER_EXECUTABLE="/x")
        assert answer.stdout.startswith("{"), answer.stdout + answer.stderr
        return next(c for c in json.loads(answer.stdout)["checks"] if c["name"] == "database")

    told = database_check(db_pool_mode="transaction")
    assert told["ok"], told
    forgot = database_check(db_pool_mode="session")
    assert not forgot["ok"] and "LEADWORKER_DB_POOL_MODE=transaction" in str(forgot["detail"]), forgot
    mistyped = database_check(db_pool_mode="transaction", database_url=f"postgresql://127.0.0.1:1/{parts.path[1:]}")
    assert not mistyped["ok"] and "127.0.0.1:1/" in str(mistyped["detail"]), mistyped
    # Both settings forgotten: the pooler is the only URL there is, and still looked at.
    forgot_both = database_check(db_pool_mode="session", database_direct_url=None)
    assert not forgot_both["ok"] and "LEADWORKER_DB_POOL_MODE=transaction" in str(forgot_both["detail"]), forgot_both
    # Refused by the server (as a wrong password is): a failed line, not "unexpected error" and no other checks.
    absent = f"postgresql://{parts.netloc}/lw_test_revfix_absent"
    refused = database_check(db_pool_mode="transaction", database_url=absent)
    assert not refused["ok"] and "lw_test_revfix_absent" in str(refused["detail"]), refused


async def test_a_busy_session_pooler_does_not_stop_the_pool_opening(database_url: str) -> None:
    # One server connection for all: the check's second session waits for the first's (PgBouncer's
    # query_wait_timeout is 30 s). That is no verdict about the pooler, and must not hold up or fail the open.
    parts = urlsplit(database_url)
    with support.PrivatePgBouncer(parts.port or 5432, pool_mode="session", pool_size=1) as bouncer:
        pooled = bouncer.url(parts.path.lstrip("/"), parts.username)
        began = time.monotonic()
        database = await Database.connect(pooled, min_size=1, max_size=4)
        try:
            assert time.monotonic() - began < 10
            assert await database.fetchval("SELECT 1") == 1
        finally:
            await database.close()
