"""The live stream of job events: one LISTEN connection per API process wakes every open stream; each stream
then reads the new ``job_events`` rows after the last id it sent (so a wake-up that finds several events, or
a client resuming with ``Last-Event-ID``, reads them all, in order, once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from leadworker.api.views import plain
from leadworker.config import Settings
from leadworker.ops.connections import open_job_event_listener
from leadworker.store import job_feed
from leadworker.store.pool import Database

KEEPALIVE_SECONDS = 15.0
"""A comment line this often keeps proxies from closing a quiet stream."""
MAX_PENDING_PROGRESS = 1000
"""Progress notes a slow stream may have waiting; more are dropped (progress is a snapshot: the next one,
or the job's row, says where it stands). Transitions are never dropped: they are read from the table."""


class EventHub:
    """Owns the LISTEN connection (opened with the first stream, reopened after it is lost) and wakes streams."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: asyncpg.Connection | None = None
        self._waiters: dict[asyncio.Event, list[dict[str, Any]]] = {}
        self._lost = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """The server is stopping: every open stream ends now, and a new one ends at once (a client resumes
        on another API process with ``Last-Event-ID``), instead of holding the shutdown for its grace."""
        self._stopping.set()
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def _on_progress(self, payload: str) -> None:
        try:
            progress = json.loads(payload)
        except ValueError:
            return
        for waiter, pending in self._waiters.items():
            if len(pending) < MAX_PENDING_PROGRESS:
                pending.append(progress)
            waiter.set()

    def _on_lost(self) -> None:
        self._conn = None
        self._lost.set()
        self._wake()

    async def _ensure(self) -> None:
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._lost = asyncio.Event()
                self._conn = await open_job_event_listener(self.settings, self._wake, self._on_lost, self._on_progress)

    async def stream(self, db: Database, after_id: int | None, job_id: uuid.UUID | None) -> AsyncIterator[str]:
        """Server-sent events from ``after_id`` on (None: from now), one job's or all."""
        await self._ensure()
        lost = self._lost
        last = await job_feed.latest_event_id(db) if after_id is None else after_id
        waiter = asyncio.Event()
        pending: list[dict[str, Any]] = []
        self._waiters[waiter] = pending
        try:
            yield ": leadworker job events\n\n"
            while not lost.is_set() and not self._stopping.is_set():
                waiter.clear()
                for row in await job_feed.events_after(db, last, job_id):
                    last = row["id"]
                    yield f"id: {last}\nevent: job.{row['to_status']}\ndata: {json.dumps(plain(dict(row)))}\n\n"
                progress, pending[:] = list(pending), []
                for item in progress:
                    if job_id is None or item.get("job_id") == str(job_id):
                        yield f"event: job.progress\ndata: {json.dumps(item)}\n\n"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), KEEPALIVE_SECONDS)
                if not waiter.is_set() and not self._stopping.is_set():
                    yield ": keepalive\n\n"
        finally:
            self._waiters.pop(waiter, None)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
