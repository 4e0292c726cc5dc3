"""The database handle: an asyncpg pool whose connection failures become :class:`ServiceUnavailable`.

Handlers never see asyncpg's many ways of saying "the server is gone" (refused connection, terminated
session, shutdown in progress); they see one error, which the consumer turns into "give the delivery back
and pause until the database answers again".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from leadworker.errors import ServiceUnavailable, UsageError, one_line

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    ConnectionError,
    OSError,
)


def is_connection_failure(error: BaseException) -> bool:
    """True if ``error`` means the database could not be reached, not that a statement was wrong."""
    if isinstance(error, ServiceUnavailable):
        return True
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    if isinstance(error, asyncpg.exceptions.InterfaceError):
        text = str(error).lower()
        return "closed" in text or ("connection" in text and "lost" in text)
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        # A connection whose server went away mid-statement is left in a protocol state the next statement
        # cannot leave ("another operation (2) is in progress", "failed" state, "not connected"): seen when
        # the database shuts down under load. The delivery goes back like any other outage's.
        text = str(error)
        return "another operation" in text or '"failed" state' in text or text == "not connected"
    return False


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook: nothing to undo. asyncpg still rolls back an open transaction before calling it; we
    never change session state (no SET, LISTEN or session advisory locks on pooled connections), so the
    default reset query would be a wasted round trip on every release."""


WarmUp = Sequence[tuple[str, Sequence[Any]]]
"""Statements with harmless arguments, run once on every new pooled connection."""


def _connection_setup(warm_up: WarmUp) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        # Parse, plan and cache the hot statements now, not on the first job a connection serves (a few
        # milliseconds each: the worst latencies of a fresh worker otherwise).
        for query, args in warm_up:
            await conn.fetch(query, *args)

    return init


POOLER_WITHOUT_SETTING = (
    "LEADWORKER_DATABASE_URL goes through a transaction pooler (PgBouncer pool_mode=transaction), which cannot "
    "keep the statements leadworker prepares: set LEADWORKER_DB_POOL_MODE=transaction, and "
    "LEADWORKER_DATABASE_DIRECT_URL to the database itself (see README: Scaling out)"
)
"""The one line for a transaction pooler reached without ``LEADWORKER_DB_POOL_MODE=transaction``."""

_POOLER_ERRORS = (
    asyncpg.exceptions.DuplicatePreparedStatementError,
    asyncpg.exceptions.InvalidSQLStatementNameError,
)
"""What asyncpg's named statements meet behind a transaction pooler: a statement another client prepared on
this server connection ("already exists"), or one this client prepared on another ("does not exist")."""


async def _refuse_a_transaction_pooler(pool: asyncpg.Pool, url: str) -> None:
    """Raise :class:`UsageError` (and close ``pool``) if two sessions of ``url`` are served by one server
    connection, which only a transaction pooler does: after the first session's statement, PgBouncer hands
    the idle server connection it used (the most recent) to the next transaction, whoever's it is. A direct
    connection or a session pooler gives each session its own server process, so there is no false alarm. A
    busy transaction pooler may hand out another server connection and go unnoticed here: asyncpg's
    prepared-statement errors then come later, from the statements themselves.

    A second session refused or slow to come (the server near ``max_connections``, a session pooler with
    every server connection taken) is no verdict: the check is skipped, and the pool opens as it would
    without it."""
    try:
        async with pool.acquire() as first:
            pids = await _two_sessions_pids(first, url)
        if pids is not None and pids[0] == pids[1]:
            raise UsageError(POOLER_WITHOUT_SETTING)
    except BaseException:
        pool.terminate()
        raise


_POOLER_CHECK_SECONDS = 3.0
"""How long the pooler check waits for its second session before giving up on the check."""


async def _two_sessions_pids(first: asyncpg.Connection, url: str) -> tuple[int, int] | None:
    """The server processes behind ``first`` and a second session of ``url``, or None if there is no
    second session to be had within :data:`_POOLER_CHECK_SECONDS`. The second session is a bare connection
    (no pool, no set-up statements) so that it can be dropped on the spot: cancelling a statement that
    waits for a server connection would wait for the pooler to hand it one (up to its query_wait_timeout)."""
    second: asyncpg.Connection | None = None

    async def both() -> tuple[int, int]:
        nonlocal second
        second = await asyncpg.connect(url, timeout=_POOLER_CHECK_SECONDS, statement_cache_size=0)
        mine = await first.fetchval("SELECT pg_backend_pid()")
        theirs = await second.fetchval("SELECT pg_backend_pid()")
        await second.close()
        return int(mine), int(theirs)

    task = asyncio.create_task(both())
    try:
        done, _ = await asyncio.wait({task}, timeout=_POOLER_CHECK_SECONDS)
        if not done:
            if second is not None:
                second.terminate()  # its waiting statement fails at once
            else:
                task.cancel()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: a session too slow to come is no verdict, whatever it raised
            return None
        try:
            return task.result()
        except _POOLER_ERRORS:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) or is_connection_failure(exc):
                return None
            raise
    finally:
        task.cancel()
        if second is not None and not second.is_closed():
            second.terminate()


class Database:
    """A pool plus the translation of connection failures. Pass it to whatever needs the database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        command_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        warm_up: WarmUp = (),
        transaction_pooled: bool = False,
    ) -> Database:
        """Open a pool. Raises :class:`ServiceUnavailable` if the server cannot be reached.

        ``transaction_pooled``: ``url`` is a transaction pooler (PgBouncer ``pool_mode=transaction``), which
        gives each transaction whichever server connection is free. A statement prepared by name on one
        server connection is then unknown to the next ("prepared statement __asyncpg_stmt_1__ does not
        exist"), so none is kept: every statement is parsed where it runs (PgBouncer before 1.21 cannot
        track prepared statements; Debian 12 ships 1.18), and the warm-up, which only fills that cache, is
        skipped."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                command_timeout=command_timeout,
                timeout=connect_timeout,
                init=_connection_setup(() if transaction_pooled else warm_up),
                reset=_keep_session,
                # Transition statements are prepared once per connection; keep them all.
                statement_cache_size=0 if transaction_pooled else 256,
                max_inactive_connection_lifetime=300,
            )
            if not transaction_pooled and max_size >= 2:
                await _refuse_a_transaction_pooler(pool, url)
        except _POOLER_ERRORS as exc:
            if transaction_pooled:
                raise
            raise UsageError(POOLER_WITHOUT_SETTING) from exc
        except Exception as exc:
            if is_connection_failure(exc) or isinstance(exc, TimeoutError):
                raise ServiceUnavailable(f"database unreachable: {one_line(exc)}") from exc
            raise
        return cls(pool)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; connection failures inside the block raise :class:`ServiceUnavailable`."""
        try:
            async with self.pool.acquire() as conn:
                try:
                    yield conn
                except asyncio.CancelledError:
                    # A cancelled delivery (shutdown past the grace, a lost channel, a database outage) must
                    # not wait for its running statement's cancel to be acknowledged: asyncpg's release
                    # would, for up to the command timeout, and a pooler queueing the statement for a server
                    # that is gone never acknowledges it. The connection is dropped instead.
                    conn.terminate()
                    raise
        except ServiceUnavailable:
            raise
        except Exception as exc:
            if is_connection_failure(exc):
                raise ServiceUnavailable(f"database unavailable: {one_line(exc)}") from exc
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            result: list[asyncpg.Record] = await conn.fetch(query, *args)
            return result

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connection() as conn:
            result: str = await conn.execute(query, *args)
            return result

    async def ping(self, timeout: float = 5.0) -> bool:
        """True if the database answers ``SELECT 1`` within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                return bool(await self.fetchval("SELECT 1"))
        except (ServiceUnavailable, TimeoutError):
            return False

    def pool_stats(self) -> dict[str, int]:
        size = self.pool.get_size()
        idle = self.pool.get_idle_size()
        return {"in_use": size - idle, "idle": idle, "max": self.pool.get_max_size()}

    async def close(self, timeout: float = 10.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.pool.close()
        except (TimeoutError, Exception):
            self.pool.terminate()


class DatabaseProbe:
    """``SELECT 1`` on a connection of its own, reconnecting as needed: is the server answering?"""

    def __init__(self, url: str, *, transaction_pooled: bool = False) -> None:
        self.url = url
        self.transaction_pooled = transaction_pooled
        """Behind a transaction pooler the probe's ``SELECT 1`` must not be a statement prepared by name."""
        self._conn: asyncpg.Connection | None = None

    async def ping(self, timeout: float = 5.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(
                        self.url, timeout=timeout, statement_cache_size=0 if self.transaction_pooled else 100
                    )
                return bool(await self._conn.fetchval("SELECT 1"))
        except Exception:
            await self.close()
            return False

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
