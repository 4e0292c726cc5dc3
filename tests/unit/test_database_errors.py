"""Which asyncpg errors mean "the database is gone" (the delivery goes back) and which are a statement's own."""

from __future__ import annotations

import asyncpg
import pytest

from leadworker.store.pool import is_connection_failure


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        # left behind by a server that went away mid-statement (seen in test_database_outage_under_load)
        asyncpg.exceptions.InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
        asyncpg.exceptions.InternalClientError('cannot switch to state 12; protocol is in the "failed" state'),
    ],
)
def test_the_database_gone(error: BaseException) -> None:
    assert is_connection_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.exceptions.UndefinedColumnError('column "nope" does not exist'),
        asyncpg.exceptions.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.exceptions.InternalClientError("unexpected codec state"),
        ValueError("a bad value"),
    ],
)
def test_a_statements_own_error(error: BaseException) -> None:
    assert not is_connection_failure(error)
