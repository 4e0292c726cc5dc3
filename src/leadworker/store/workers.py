"""The registry of worker processes (table ``worker_processes``): each registers itself when it starts,
refreshes its row every :data:`REFRESH_SECONDS` (in flight, handled) and marks it stopped when it stops.
A row not refreshed for :data:`SILENT_AFTER_SECONDS` is *silent*: the process died or lost its database."""

from __future__ import annotations

import asyncpg

from leadworker.store.pool import Database

REFRESH_SECONDS = 10.0
SILENT_AFTER_SECONDS = 3 * REFRESH_SECONDS
"""Three missed refreshes: one slow round is not silence."""
FORGET_AFTER_DAYS = 7
"""Rows of processes gone this long are deleted when a worker registers."""


async def register(db: Database, key: str, *, host: str, pid: int, version: str, stages: list[str]) -> None:
    await db.execute(
        """INSERT INTO worker_processes (id, host, pid, version, stages) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), stopped_at = NULL""",
        key,
        host,
        pid,
        version,
        stages,
    )
    await db.execute(
        "DELETE FROM worker_processes WHERE last_seen_at < now() - make_interval(days => $1)", FORGET_AFTER_DAYS
    )


async def refresh(db: Database, key: str, *, in_flight: int, handled: int) -> None:
    await db.execute(
        "UPDATE worker_processes SET last_seen_at = now(), in_flight = $2, handled = $3 WHERE id = $1",
        key,
        in_flight,
        handled,
    )


async def mark_stopped(db: Database, key: str, *, handled: int) -> None:
    await db.execute(
        "UPDATE worker_processes SET last_seen_at = now(), stopped_at = now(), in_flight = 0, handled = $2 "
        "WHERE id = $1",
        key,
        handled,
    )


async def list_workers(db: Database, *, include_stopped: bool = False) -> list[asyncpg.Record]:
    """Worker processes, most recently seen first, each with ``state``: ``running``, ``silent`` (not refreshed
    for :data:`SILENT_AFTER_SECONDS`) or ``stopped``."""
    return await db.fetch(
        """SELECT id, host, pid, version, stages, started_at, last_seen_at, stopped_at, in_flight, handled,
                  CASE WHEN stopped_at IS NOT NULL THEN 'stopped'
                       WHEN last_seen_at < now() - make_interval(secs => $2) THEN 'silent'
                       ELSE 'running' END AS state
             FROM worker_processes
            WHERE $1 OR stopped_at IS NULL
            ORDER BY last_seen_at DESC, id""",
        include_stopped,
        SILENT_AFTER_SECONDS,
    )
