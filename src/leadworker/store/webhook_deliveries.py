"""The webhook delivery log: one row per event (its dedupe key), one row per POST attempt.

An event is sent by whoever *claims* its row: ``pending``/``failed``/``dead`` → ``sending`` with a lease, in one
conditional statement. A second delivery of the same event finds it ``delivered`` (nothing to do) or claimed
by a live lease (retry later), so one event is POSTed by one worker at a time and, once delivered, never again.
A worker that dies while sending leaves a lease that runs out, after which the event can be claimed again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from leadworker.store.pool import Database


@dataclass(frozen=True)
class ClaimedEvent:
    event_id: str
    event: str
    url: str
    payload: dict[str, Any]
    attempt: int
    """1 for the first POST of this event."""


async def get_delivery(db: Database, event_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT event_id, job_id, event, url, status, attempts, last_status_code, last_error, created_at,
                  delivered_at FROM webhook_deliveries WHERE event_id = $1""",
        event_id,
    )


async def create_delivery(
    db: Database, event_id: str, job_id: uuid.UUID, event: str, url: str, payload: dict[str, Any]
) -> None:
    """Log a new event as ``pending`` (a no-op if it is already logged)."""
    await db.execute(
        """INSERT INTO webhook_deliveries (event_id, job_id, event, url, payload)
           VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (event_id) DO NOTHING""",
        event_id,
        job_id,
        event,
        url,
        payload,
    )


async def claim(db: Database, event_id: str, lease_seconds: float) -> ClaimedEvent | None:
    """Take the event for one POST; None if it is delivered or another worker holds a live lease."""
    row = await db.fetchrow(
        """UPDATE webhook_deliveries
              SET status = 'sending', attempts = attempts + 1, updated_at = now(),
                  lease_until = now() + make_interval(secs => $2)
            WHERE event_id = $1
              AND (status IN ('pending', 'failed', 'dead') OR (status = 'sending' AND lease_until < now()))
        RETURNING event_id, event, url, payload, attempts""",
        event_id,
        lease_seconds,
    )
    if row is None:
        return None
    return ClaimedEvent(row["event_id"], row["event"], row["url"], row["payload"], row["attempts"])


async def record_attempt(
    db: Database,
    event_id: str,
    attempt: int,
    *,
    delivered: bool,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    """Log one POST and release the claim: ``delivered``, or ``failed`` (to be retried)."""
    async with db.transaction() as conn:
        await conn.execute(
            """INSERT INTO webhook_attempts (event_id, attempt, status_code, error, duration_ms)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            event_id,
            attempt,
            status_code,
            error,
            duration_ms,
        )
        await conn.execute(
            """UPDATE webhook_deliveries
                  SET status = CASE WHEN $2 THEN 'delivered' ELSE 'failed' END,
                      last_status_code = $3, last_error = $4, lease_until = NULL, updated_at = now(),
                      delivered_at = CASE WHEN $2 THEN now() ELSE delivered_at END
                WHERE event_id = $1 AND attempts = $5""",
            event_id,
            delivered,
            status_code,
            error,
            attempt,
        )


async def mark_dead(db: Database, event_id: str, error: str) -> None:
    """The notify message was dead-lettered: the event will not be retried (until replayed)."""
    await db.execute(
        """UPDATE webhook_deliveries SET status = 'dead', last_error = $2, lease_until = NULL, updated_at = now()
            WHERE event_id = $1 AND status <> 'delivered'""",
        event_id,
        error,
    )


async def is_delivered(db: Database, event_id: str) -> bool:
    status = await db.fetchval("SELECT status FROM webhook_deliveries WHERE event_id = $1", event_id)
    return bool(status == "delivered")


async def job_deliveries(db: Database, job_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT event_id, event, url, status, attempts, last_status_code, last_error, created_at, delivered_at
             FROM webhook_deliveries WHERE job_id = $1 ORDER BY created_at, event_id""",
        job_id,
    )
