"""Fixtures of the fault tests: a load world, a PostgreSQL server of the test's own that may be stopped (the
private RabbitMQ node and the ``spawn`` fixture for worker processes are in ``tests/conftest.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from loadworld import LoadWorld

import support
from leadworker.config import Settings
from leadworker.store.migrate import migrate
from support import PrivatePostgres


@pytest.fixture(scope="module")
def world() -> Iterator[LoadWorld]:
    runner = support.ThreadedServer(LoadWorld(100, delay=0.04))
    server: LoadWorld = runner.start()
    try:
        yield server
    finally:
        runner.stop()


@pytest_asyncio.fixture
async def fault_settings(database_url: str, world: LoadWorld) -> AsyncIterator[Settings]:
    cfg = support.test_settings(database_url, resolve=world.resolve(), enrich=False, prefetch=16)
    try:
        yield cfg
    finally:
        await support.delete_queues(cfg)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as postgres:
        yield postgres


@pytest_asyncio.fixture
async def private_db_url(
    private_postgres: PrivatePostgres, db_route: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A migrated database on the private server: directly, or (``db_route`` ``pgbouncer``) through a
    PgBouncer of the test's own in transaction mode, which stays up while the server goes away."""
    url = private_postgres.url(f"lw_{uuid.uuid4().hex[:8]}")
    await migrate(url)
    if db_route != "pgbouncer":
        yield url
        return
    with support.PrivatePgBouncer(private_postgres.port) as bouncer:
        request.node.stash[PGBOUNCER] = bouncer
        yield support.pooled_url(bouncer, url)


PGBOUNCER = pytest.StashKey[support.PrivatePgBouncer]()


@pytest.fixture
def load_jobs() -> int:
    """Jobs in the load test: 5,000 by default; LEADWORKER_LOAD_JOBS=50000 for a long run."""
    import os

    return int(os.environ.get("LEADWORKER_LOAD_JOBS", "5000"))
