"""Learned score models as data: their JSON bodies and metrics, which one is active, and what to re-score.

The active model is that of the newest activation not rolled back (none, or one with no model: the rule score).
``model activate`` adds an activation; ``model rollback`` marks the newest one rolled back, so that the one
before it (or the rule score) is active again, and a second rollback goes one further back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from leadworker.store.pool import Database

LEARN_LOCK_ID = 7_411_320_017
"""Advisory lock key of a retraining run (one instance at a time; an arbitrary constant of ours)."""

_ACTIVE = """SELECT model_id FROM score_model_activations WHERE rolled_back_at IS NULL ORDER BY id DESC LIMIT 1"""


async def save_model(
    db: Database | asyncpg.Connection, body: dict[str, Any], metrics: dict[str, Any], *, status: str, trigger: str
) -> int:
    """Store a trained model; returns its id."""
    model_id: int = await db.fetchval(
        "INSERT INTO score_models (body, metrics, status, trigger) VALUES ($1, $2, $3, $4) RETURNING id",
        body,
        metrics,
        status,
        trigger,
    )
    return model_id


async def set_status(db: Database | asyncpg.Connection, model_id: int, status: str) -> None:
    await db.execute("UPDATE score_models SET status = $2 WHERE id = $1", model_id, status)


async def get_model(db: Database | asyncpg.Connection, model_id: int) -> dict[str, Any] | None:
    """``id``, ``body``, ``metrics``, ``status``, ``trigger``, ``created_at`` and ``active`` of a model."""
    row = await db.fetchrow(
        f"""SELECT m.id, m.body, m.metrics, m.status, m.trigger, m.created_at,
                   m.id IS NOT DISTINCT FROM ({_ACTIVE}) AS active
              FROM score_models m WHERE m.id = $1""",
        model_id,
    )
    return dict(row) if row is not None else None


async def list_models(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The newest models first, with their metrics and whether each is active."""
    rows = await db.fetch(
        f"""SELECT m.id, m.metrics, m.status, m.trigger, m.created_at,
                   m.id IS NOT DISTINCT FROM ({_ACTIVE}) AS active
              FROM score_models m ORDER BY m.id DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def active_model_id(db: Database | asyncpg.Connection) -> int | None:
    """The model scoring leads now, or None (the rule score)."""
    model_id: int | None = await db.fetchval(_ACTIVE)
    return model_id


async def active_model(db: Database, known: int | None) -> tuple[int | None, dict[str, Any] | None]:
    """``(id, body)`` of the active model, the body only if ``id`` is not ``known`` (one round trip: the score
    stage asks on every batch and reads a body only when the model changed)."""
    row = await db.fetchrow(
        f"""SELECT a.model_id, CASE WHEN a.model_id IS DISTINCT FROM $1 THEN m.body END AS body
              FROM ({_ACTIVE}) a(model_id) LEFT JOIN score_models m ON m.id = a.model_id""",
        known,
    )
    if row is None:
        return None, None
    return row["model_id"], row["body"]


async def activate(db: Database | asyncpg.Connection, model_id: int | None, reason: str) -> None:
    """Make ``model_id`` (None: the rule score) the active model."""
    await db.execute("INSERT INTO score_model_activations (model_id, reason) VALUES ($1, $2)", model_id, reason)


async def rollback(db: Database) -> tuple[int | None, int | None] | None:
    """Roll the newest activation back: ``(model it had activated, model active now)``; None if there is none."""
    async with db.transaction() as conn:
        await conn.execute("LOCK TABLE score_model_activations IN SHARE ROW EXCLUSIVE MODE")
        newest = await conn.fetchrow(
            """SELECT id, model_id FROM score_model_activations WHERE rolled_back_at IS NULL
                ORDER BY id DESC LIMIT 1"""
        )
        if newest is None:
            return None
        await conn.execute("UPDATE score_model_activations SET rolled_back_at = now() WHERE id = $1", newest["id"])
        return newest["model_id"], await active_model_id(conn)


async def newest_model_time(db: Database | asyncpg.Connection) -> dt.datetime | None:
    """When the newest model (whatever its status) was trained: retraining counts outcomes recorded since."""
    created: dt.datetime | None = await db.fetchval("SELECT max(created_at) FROM score_models")
    return created


async def try_learn_lock(conn: asyncpg.Connection) -> bool:
    """Take the retraining lock for ``conn``'s transaction; False if another instance holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LEARN_LOCK_ID))


async def rescore_targets(db: Database, chunk: int) -> list[tuple[uuid.UUID, list[int]]]:
    """Every live lead with each job that scored it, as ``(job, up to chunk leads)``: what activating a model
    re-scores."""
    rows = await db.fetch(
        """SELECT s.job_id, array_agg(s.lead_id ORDER BY s.lead_id) AS leads
             FROM lead_scores s JOIN leads l ON l.id = s.lead_id
            WHERE l.merged_into IS NULL GROUP BY s.job_id ORDER BY min(s.scored_at), s.job_id"""
    )
    return [(r["job_id"], r["leads"][i : i + chunk]) for r in rows for i in range(0, len(r["leads"]), chunk)]
