"""Cron expressions in a time zone: the fire times of a schedule, as instants (UTC), with daylight saving.

Pure: no clock, no I/O. The expressions are cron's five fields (``minute hour day-of-month month
day-of-week``, names such as ``MON`` and ``JAN`` allowed), ``@hourly``, ``@daily`` (``@midnight``),
``@weekly``, ``@monthly`` and ``@yearly`` (``@annually``), or six fields with a leading seconds field.
They are read by cronsim, which follows Debian's cron on daylight-saving days for five-field expressions
with a fixed minute and hour (``30 2 * * *``):

- a local time that does not exist (clocks jump from 02:00 to 03:00) fires once, at the first minute that
  exists after the jump (03:00);
- a local time that exists twice (clocks go back from 03:00 to 02:00) fires once, the first time.

Expressions that repeat within the hour (``*/15 * * * *``, ``0 * * * *``) follow the wall clock: a fire
time is an instant, each instant fires at most once, and no instant is returned twice or out of order
(:func:`next_after` only ever moves forward in real time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
SEARCH_LIMIT = 100_000
"""Candidates a search looks at before it gives up (cronsim itself gives up after 50 years)."""


def cron_expression(expr: str) -> str:
    """``expr`` checked and spelled as cronsim reads it (aliases expanded); raises ValueError saying why."""
    text = " ".join(expr.split())
    text = ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expr!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week), 6 (seconds first) or @hourly/@daily/@weekly"
        )
    try:
        next(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        raise ValueError(f"cron expression {expr!r}: {exc}") from None
    except StopIteration:
        raise ValueError(f"cron expression {expr!r} never fires") from None
    return text


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``, ``UTC``); raises ValueError saying why."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC") from None


def _candidates(expr: str, zone: ZoneInfo, start: datetime, *, reverse: bool = False) -> Iterator[datetime]:
    """cronsim's times from ``start`` (aware), as UTC instants."""
    it = CronSim(expr, start.astimezone(zone), reverse=reverse)
    for _ in range(SEARCH_LIMIT):
        try:
            yield next(it).astimezone(UTC)
        except StopIteration:
            return


def next_after(expr: str, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first fire time strictly after the instant ``after`` (None if it never fires again)."""
    for candidate in _candidates(expr, zone, after):
        if candidate > after:
            return candidate
    return None


def due_times(expr: str, zone: ZoneInfo, since: datetime, now: datetime, limit: int) -> tuple[list[datetime], bool]:
    """The fire times ``t`` with ``since <= t <= now``, at most the ``limit`` latest, oldest first; and whether
    older ones were left out. Found walking back from ``now`` (a week's outage of a per-second schedule costs
    ``limit`` steps, not a week of them), checked forward with :func:`next_after` so that both directions agree
    on daylight-saving days."""
    found: list[datetime] = []
    t = next_after(expr, zone, since - timedelta(microseconds=1))
    if t is None or t > now:
        return [], False
    latest = _latest_at_or_before(expr, zone, now, since) or t
    cursor: datetime | None = latest
    while cursor is not None and cursor >= since and len(found) < limit:
        found.append(cursor)
        cursor = _latest_at_or_before(expr, zone, cursor - timedelta(microseconds=1), since)
    more = cursor is not None and cursor >= since
    return sorted(found), more


def _latest_at_or_before(expr: str, zone: ZoneInfo, moment: datetime, floor: datetime) -> datetime | None:
    """The latest fire time at or before ``moment`` (not before ``floor``), as :func:`next_after` sees them."""
    start = moment.replace(microsecond=0) + timedelta(seconds=1)
    for candidate in _candidates(expr, zone, start, reverse=True):
        if candidate < floor - timedelta(days=2):
            break
        # Confirm it is a time the forward walk gives (reverse and forward differ on DST days).
        confirmed = next_after(expr, zone, candidate - timedelta(microseconds=1))
        if confirmed is not None and confirmed <= moment:
            return confirmed if confirmed >= floor else None
    return None


def count_between(expr: str, zone: ZoneInfo, since: datetime, before: datetime, cap: int) -> int:
    """How many fire times ``t`` have ``since <= t < before`` (counting stops at ``cap``)."""
    found, t = 0, since - timedelta(microseconds=1)
    while found < cap:
        nxt = next_after(expr, zone, t)
        if nxt is None or nxt >= before:
            break
        found, t = found + 1, nxt
    return found


def jitter_of(key: str, fire_time: datetime, jitter_seconds: int) -> timedelta:
    """The delay of ``fire_time`` within ``[0, jitter_seconds)``: a hash of the schedule and the time, so that
    every instance agrees on it without talking to the others."""
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{key}|{fire_time.isoformat()}".encode()).digest()
    millis = int.from_bytes(digest[:8], "big") % (jitter_seconds * 1000)
    return timedelta(milliseconds=millis)
