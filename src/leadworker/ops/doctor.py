"""``leadworker doctor``: is everything a worker needs there? Broker, database, migrations, topology, Chromium.

Each check says what it found and, when something is missing, what to run or install. Nothing is changed:
the topology is looked at by passive declarations, the migrations by reading ``schema_migrations``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

import aio_pika
import aiormq
import asyncpg
from aio_pika.abc import AbstractConnection

from leadworker.broker.nodes import CONNECT_ERRORS
from leadworker.broker.topology import Topology, queue_depths
from leadworker.config import Settings, mask_url
from leadworker.errors import ServiceUnavailable, UsageError, one_line
from leadworker.scrape.chromium import INSTALL_HINT, check_chromium
from leadworker.store.migrate import pending_migrations
from leadworker.store.pool import Database

_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    """What to run or install (None when all is well)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    broker, connection = await _broker(settings)
    checks = [broker]
    checks.extend(await _database(settings))
    try:
        checks.append(await _topology(settings, connection))
    finally:
        if connection is not None:
            await connection.close()
    checks.append(await _chromium(settings))
    return checks


async def _broker(settings: Settings) -> tuple[Check, AbstractConnection | None]:
    """Every node of ``LEADWORKER_AMQP_URL`` tried (at once): a node of a cluster that does not answer, down or
    mistyped, would otherwise only show when workers fail over to it. Returns the connection to the first
    node that answered, for the topology check."""
    urls = settings.amqp_urls
    results = dict(zip(urls, await asyncio.gather(*(_connect(url) for url in urls)), strict=True))
    connections = [result for result in results.values() if not isinstance(result, str)]
    errors = {url: result for url, result in results.items() if isinstance(result, str)}
    for extra in connections[1:]:
        await extra.close()
    connection = connections[0] if connections else None
    if not errors:
        reached = mask_url(urls[0]) if len(urls) == 1 else f"{len(urls)} nodes: " + ", ".join(map(mask_url, urls))
        return Check("broker", True, f"connected to {reached}"), connection
    if len(urls) == 1:
        detail = f"{settings.masked_amqp_url} unreachable: {errors[urls[0]]}"
        return Check("broker", False, detail, "start RabbitMQ, or set LEADWORKER_AMQP_URL to a reachable broker"), None
    unreachable = "; ".join(f"{mask_url(url)}: {error}" for url, error in errors.items())
    detail = f"{len(connections)} of {len(urls)} nodes answer; unreachable: {unreachable}"
    fix = (
        "start the node(s), or correct their URLs in LEADWORKER_AMQP_URL (workers fail over only to nodes that answer)"
    )
    return Check("broker", False, detail, fix), connection


async def _connect(url: str) -> AbstractConnection | str:
    """A connection to ``url``, or why there is none (one line)."""
    try:
        connection: AbstractConnection = await aio_pika.connect(url, timeout=_TIMEOUT)
    except CONNECT_ERRORS as exc:
        return one_line(exc)
    return connection


async def _database(settings: Settings) -> list[Check]:
    where = mask_url(settings.session_database_url)
    try:
        pending = await pending_migrations(settings.session_database_url)
    except asyncpg.exceptions.InvalidCatalogNameError:
        return [
            Check(
                "database",
                False,
                f"{where}: the database does not exist",
                "leadworker db migrate (creates it and its schema)",
            ),
            Check("migrations", False, "not checked: no database", "leadworker db migrate"),
        ]
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return [
            Check(
                "database",
                False,
                f"{where} unreachable: {one_line(exc)}",
                "start PostgreSQL, or set LEADWORKER_DATABASE_URL to a reachable database",
            ),
            Check("migrations", False, "not checked: no database", "leadworker db migrate"),
        ]
    database = await _pooled(settings) or Check("database", True, f"connected to {where}")
    if pending:
        return [
            database,
            Check("migrations", False, f"{len(pending)} not applied: {', '.join(pending)}", "leadworker db migrate"),
        ]
    return [database, Check("migrations", True, "all applied")]


async def _pooled(settings: Settings) -> Check | None:
    """A failed check of ``LEADWORKER_DATABASE_URL`` (what the jobs' statements go through): unreachable when
    it is not the direct URL the rest is read through (a pooler), or a transaction pooler without
    ``LEADWORKER_DB_POOL_MODE=transaction``, looked for even when no direct URL is set: that is the very
    mistake of someone who forgot both settings."""
    if settings.database_url == settings.session_database_url and settings.transaction_pooled:
        return None
    where = mask_url(settings.database_url)
    try:
        pool = await Database.connect(
            settings.database_url,
            min_size=1,
            max_size=2,
            connect_timeout=_TIMEOUT,
            transaction_pooled=settings.transaction_pooled,
        )
    except UsageError as exc:
        return Check("database", False, f"{where}: {exc}", "set LEADWORKER_DB_POOL_MODE=transaction")
    except ServiceUnavailable as exc:
        fix = "start the pooler, or set LEADWORKER_DATABASE_URL to a reachable one"
        return Check("database", False, f"{where} (the pooled URL) unreachable: {one_line(exc)}", fix)
    except (OSError, asyncpg.PostgresError) as exc:  # a wrong password, an unknown database or user
        fix = "set LEADWORKER_DATABASE_URL to a database, user and password the pooler accepts"
        return Check("database", False, f"{where} (the pooled URL) refused: {one_line(exc)}", fix)
    await pool.close()
    return None


async def _topology(settings: Settings, connection: AbstractConnection | None) -> Check:
    if connection is None:
        return Check("topology", False, "not checked: no broker", "leadworker topology declare")
    topology = Topology.from_settings(settings)
    names = [name for name, _ in topology.declarations()]
    found = await queue_depths(connection, names)
    missing = [name for name in names if name not in found]
    channel = await connection.channel()
    try:
        await channel.declare_exchange(topology.exchange, passive=True)
        exchange = True
    except aiormq.exceptions.ChannelNotFoundEntity:
        exchange = False
    finally:
        if not channel.is_closed:
            await channel.close()
    if missing or not exchange:
        what = ([f"exchange {topology.exchange}"] if not exchange else []) + missing
        shown = ", ".join(what[:4]) + (f" and {len(what) - 4} more" if len(what) > 4 else "")
        return Check(
            "topology",
            False,
            f"{len(what)} missing: {shown}",
            "leadworker topology declare (every worker also declares it when it starts)",
        )
    return Check("topology", True, f"exchange {topology.exchange} and {len(names)} queues")


async def _chromium(settings: Settings) -> Check:
    found = await check_chromium(settings)
    if found.problem is not None:
        return Check(
            "chromium", False, f"{found.problem}; render=auto and browser jobs cannot render script", INSTALL_HINT
        )
    return Check("chromium", True, f"{found.executable} ({found.version or 'version unknown'})")
