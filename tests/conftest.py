"""Fixtures: real RabbitMQ and PostgreSQL (never skipped), a throwaway database per session, a unique queue
prefix per test, and the bundled sample sites served on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

import support
from leadworker.config import Settings
from leadworker.demo.server import SiteServer
from leadworker.store.migrate import migrate
from leadworker.store.pool import Database


@pytest.fixture(scope="session")
def services() -> Iterator[tuple[str, str]]:
    """``(amqp url, admin database url)`` of reachable services; fails (does not skip) if there are none."""
    amqp, admin = support.AMQP_URL, support.ADMIN_DATABASE_URL
    if support._reachable(amqp, 5672) and support._reachable(admin, 5432):
        yield amqp, admin
        return
    if support.docker_available():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with PostgresContainer("postgres:15") as pg, RabbitMqContainer("rabbitmq:3.12") as mq:
            admin = pg.get_connection_url(driver=None).replace("postgresql+psycopg2", "postgresql")
            amqp = f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}/"
            support.AMQP_URL, support.ADMIN_DATABASE_URL = amqp, admin
            yield amqp, admin
        return
    pytest.fail(
        f"RabbitMQ ({amqp}) or PostgreSQL ({admin}) is not reachable and Docker is not available; "
        + support.HOW_TO_START,
        pytrace=False,
    )


@pytest_asyncio.fixture(scope="session")
async def template_database(services: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database for this test session, copied for every test (copies are cheap)."""
    _, admin = services
    name = f"lw_tmpl_{uuid.uuid4().hex[:12]}"
    await migrate(support.database_url_for(admin, name))  # creates it
    try:
        yield name
    finally:
        await support.drop_database(admin, name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``pgbouncer`` runs twice: against the database directly, and through a PgBouncer in
    transaction mode (its ``database_url`` then goes through the pooler; :func:`support.test_settings` adds
    ``db_pool_mode=transaction`` and the direct URL)."""
    if metafunc.definition.get_closest_marker("pgbouncer") and "db_route" in metafunc.fixturenames:
        metafunc.parametrize("db_route", ["direct", "pgbouncer"], indirect=True)


@pytest.fixture
def db_route(request: pytest.FixtureRequest) -> str:
    """``direct`` or ``pgbouncer``: how this test reaches its database (see :func:`pytest_generate_tests`)."""
    return str(getattr(request, "param", "direct"))


@pytest.fixture(scope="session")
def pgbouncer(services: tuple[str, str]) -> Iterator[support.PrivatePgBouncer]:
    """A PgBouncer of the session's own in transaction mode, in front of the test database server."""
    from urllib.parse import urlsplit

    with support.PrivatePgBouncer(urlsplit(services[1]).port or 5432) as bouncer:
        yield bouncer


@pytest_asyncio.fixture
async def database_url(
    services: tuple[str, str], template_database: str, db_route: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A migrated throwaway database of this test's own, dropped afterwards (reached through PgBouncer when
    the test runs with ``db_route`` ``pgbouncer``)."""
    _, admin = services
    name = f"lw_test_{uuid.uuid4().hex[:12]}"
    await support.create_database(admin, name, template=template_database)
    direct = support.database_url_for(admin, name)
    try:
        if db_route == "pgbouncer":
            bouncer: support.PrivatePgBouncer = request.getfixturevalue("pgbouncer")
            yield support.pooled_url(bouncer, direct)
        else:
            yield direct
    finally:
        if not os.environ.get("LEADWORKER_TEST_KEEP_DB"):
            await support.drop_database(admin, name)


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await Database.connect(
        database_url, min_size=1, max_size=5, transaction_pooled=support.is_pooled(database_url)
    )
    try:
        yield database
    finally:
        await database.close()


@pytest_asyncio.fixture
async def settings(database_url: str, demo_site: SiteServer) -> AsyncIterator[Settings]:
    """Settings with a queue prefix of this test's own; its queues are deleted afterwards."""
    cfg = support.test_settings(database_url, resolve=demo_site.resolve_override())
    try:
        yield cfg
    finally:
        await support.delete_queues(cfg)


@pytest.fixture(scope="session")
def demo_site() -> Iterator[SiteServer]:
    """The bundled sample sites, served from a thread (they answer during synchronous CLI tests too)."""
    runner = support.ThreadedServer(SiteServer(support.DEMO_SITE))
    server: SiteServer = runner.start()
    try:
        yield server
    finally:
        runner.stop()


@pytest.fixture
def scripted_site() -> Iterator[support.ScriptedSite]:
    runner = support.ThreadedServer(support.ScriptedSite())
    site: support.ScriptedSite = runner.start()
    try:
        yield site
    finally:
        runner.stop()


@pytest.fixture
def browser_mark(monkeypatch: pytest.MonkeyPatch) -> str:
    """A mark in this test's environment that the Chromium it starts inherits (see chromium.py)."""
    import chromium

    mark = uuid.uuid4().hex
    monkeypatch.setenv(chromium.MARK_VARIABLE, mark)
    return mark


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[support.PrivateRabbit]:
    """A RabbitMQ node of the session's own, for tests that stop it, drop its connections or add users."""
    with support.PrivateRabbit() as rabbit:
        yield rabbit


@pytest_asyncio.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[support.Spawn]:
    """Starts ``leadworker run ...`` processes (logs in ``tmp_path``); any still running at the end is killed."""
    started: list[support.WorkerProcess] = []

    async def start(settings: Settings, *args: str, **env: str) -> support.WorkerProcess:
        worker = await support.WorkerProcess.start(settings, tmp_path, *args, **env)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.returncode is None:
                worker.kill()
                await worker.wait(30)
