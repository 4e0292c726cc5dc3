"""Job statistics over a time window, computed by PostgreSQL (``leadworker jobs stats``).

A job "finished in the window" when its ``completed_at`` (set on completed, failed and cancelled) falls in the
last ``window`` seconds, measured by the database clock. Durations are of completed jobs: ``duration`` from
the first start to completion (retries included), ``latency`` from creation (publish) to completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asyncpg import Record

from leadworker.store.pool import Database

_WINDOW = """
WITH bounds AS (SELECT now() AS generated_at, now() - make_interval(secs => $1::float8) AS window_start),
finished AS (
    SELECT j.status,
           extract(epoch FROM j.completed_at - j.started_at)::float8 AS duration,
           extract(epoch FROM j.completed_at - j.created_at)::float8 AS latency
      FROM scrape_jobs j, bounds b
     WHERE j.completed_at >= b.window_start
)
SELECT b.generated_at, b.window_start,
       (SELECT count(*) FROM scrape_jobs j WHERE j.created_at >= b.window_start) AS created,
       (SELECT count(*) FROM finished) AS finished,
       (SELECT count(*) FROM finished WHERE status = 'completed') AS completed,
       (SELECT count(*) FROM finished WHERE status = 'failed') AS failed,
       (SELECT count(*) FROM finished WHERE status = 'cancelled') AS cancelled,
       (SELECT avg(duration) FROM finished WHERE status = 'completed') AS duration_mean,
       (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration)
          FROM finished WHERE status = 'completed') AS duration_p95,
       (SELECT avg(latency) FROM finished WHERE status = 'completed') AS latency_mean,
       (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency)
          FROM finished WHERE status = 'completed') AS latency_p95
  FROM bounds b
"""


@dataclass(frozen=True)
class WindowStats:
    generated_at: datetime
    window_start: datetime
    created: int
    finished: int
    completed: int
    failed: int
    cancelled: int
    duration_mean: float | None
    duration_p95: float | None
    latency_mean: float | None
    latency_p95: float | None


async def window_stats(db: Database, window_seconds: float) -> WindowStats:
    """Counts and durations of the jobs created or finished in the last ``window_seconds``."""
    row = await db.fetchrow(_WINDOW, float(window_seconds))
    assert row is not None
    return WindowStats(**dict(row))


_SERIES_START = """
SELECT date_bin(make_interval(secs => $1::float8), now(), timestamptz '2000-01-01')
       - make_interval(secs => $1::float8 * ($2::int - 1))
"""
# The window's start comes in as a value, not from a CTE: with it, the planner sees how few rows of the index on
# completed_at the window holds (from a CTE it guessed a third of the table, and scanned it).
_SERIES = """
WITH finished AS (
    SELECT date_bin(make_interval(secs => $1::float8), completed_at, timestamptz '2000-01-01') AS bucket,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'failed') AS failed
      FROM scrape_jobs
     WHERE completed_at >= $3::timestamptz
     GROUP BY 1
)
SELECT g.bucket, coalesce(f.completed, 0) AS completed, coalesce(f.failed, 0) AS failed
  FROM generate_series($3::timestamptz, $3::timestamptz + make_interval(secs => $1::float8 * ($2::int - 1)),
                       make_interval(secs => $1::float8)) AS g(bucket)
  LEFT JOIN finished f ON f.bucket = g.bucket
 ORDER BY g.bucket
"""


@dataclass(frozen=True)
class Bucket:
    start: datetime
    completed: int
    failed: int


async def finished_series(db: Database, bucket_seconds: int, buckets: int) -> list[Bucket]:
    """Jobs completed and failed per ``bucket_seconds``, the last ``buckets`` of them up to now (the current one
    last, still filling), oldest first; empty buckets included. Reads only the window, through the index on
    ``completed_at``."""
    start = await db.fetchval(_SERIES_START, float(bucket_seconds), buckets)
    rows = await db.fetch(_SERIES, float(bucket_seconds), buckets, start)
    return [Bucket(r["bucket"], r["completed"], r["failed"]) for r in rows]


async def latest_failures(db: Database, limit: int) -> list[Record]:
    """The jobs that failed last (``id``, ``error_kind``, ``error``, ``failed_at``), newest first: read backwards
    through the index on ``(status, updated_at)``, however many jobs failed before."""
    return await db.fetch(
        """SELECT id, error_kind, error, updated_at AS failed_at FROM scrape_jobs
            WHERE status = 'failed' ORDER BY updated_at DESC LIMIT $1""",
        limit,
    )
