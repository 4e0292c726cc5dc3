"""Fire times of cron expressions in time zones (daylight saving in two zones), and the catch-up policies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from leadworker.common.cron import cron_expression, due_times, jitter_of, next_after, time_zone
from leadworker.stages.schedule import Limits, chosen_times


def fires(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in ``(start, end]``, walked forward as the stage walks it."""
    found, t = [], start
    while True:
        nxt = next_after(cron_expression(expr), time_zone(zone), t)
        if nxt is None or nxt > end:
            return found
        found.append(nxt)
        t = nxt


def local(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(time_zone(zone)).strftime("%m-%d %H:%M %Z") for t in times]


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # Clocks jump 02:00 -> 03:00: 02:30 does not exist; it fires once, at 03:00 (Debian cron's rule).
        (
            "Europe/Berlin",
            datetime(2026, 3, 29, tzinfo=UTC),
            ["03-28 02:30 CET", "03-29 03:00 CEST", "03-30 02:30 CEST"],
        ),
        (
            "America/New_York",
            datetime(2026, 3, 8, tzinfo=UTC),
            ["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"],
        ),
    ],
)
def test_a_time_that_does_not_exist_fires_once_after_the_jump(zone: str, day: datetime, expected: list[str]) -> None:
    assert local(fires("30 2 * * *", zone, day - timedelta(days=1), day + timedelta(days=2)), zone) == expected


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # Clocks go back 03:00 -> 02:00 (Berlin), 02:00 -> 01:00 (New York): the time exists twice; it fires once.
        (
            "Europe/Berlin",
            datetime(2026, 10, 25, tzinfo=UTC),
            ["10-24 02:30 CEST", "10-25 02:30 CEST", "10-26 02:30 CET"],
        ),
        (
            "America/New_York",
            datetime(2026, 11, 1, 4, tzinfo=UTC),
            ["10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST"],
        ),
    ],
)
def test_a_time_that_exists_twice_fires_once(zone: str, day: datetime, expected: list[str]) -> None:
    expr = "30 2 * * *" if zone == "Europe/Berlin" else "30 1 * * *"
    assert local(fires(expr, zone, day - timedelta(days=1), day + timedelta(days=2)), zone) == expected


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_every_quarter_hour_across_both_switches_is_one_fire_per_instant(zone: str) -> None:
    for day in (
        datetime(2026, 3, 8, tzinfo=UTC),
        datetime(2026, 3, 29, tzinfo=UTC),
        datetime(2026, 10, 25, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    ):
        times = fires("*/15 * * * *", zone, day - timedelta(hours=6), day + timedelta(hours=18))
        assert times == sorted(set(times))
        gaps = {b - a for a, b in itertools.pairwise(times)}
        assert gaps == {timedelta(minutes=15)}, (zone, day, gaps)  # wall clock jumps, real time does not


def test_due_times_walk_back_and_agree_with_the_forward_walk() -> None:
    zone = time_zone("Europe/Berlin")
    since, now = datetime(2026, 3, 25, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)
    times, more = due_times("30 2 * * *", zone, since, now, 100)
    assert not more and times == fires("30 2 * * *", "Europe/Berlin", since, now)
    latest, more = due_times("30 2 * * *", zone, since, now, 3)
    assert more and latest == times[-3:]
    # A week of a per-second schedule: the latest few, without walking the week.
    week, more = due_times("* * * * * *", time_zone("UTC"), now - timedelta(days=7), now, 5)
    assert more and week == [now - timedelta(seconds=s) for s in (4, 3, 2, 1, 0)]
    assert due_times("0 0 1 1 *", zone, since, now, 5) == ([], False)


def test_expressions_and_zones_are_checked() -> None:
    assert cron_expression("@daily") == "0 0 * * *"
    assert cron_expression(" @Hourly ") == "0 * * * *"
    assert cron_expression("0  6 * * MON") == "0 6 * * MON"
    for bad, reason in [
        ("* * *", "3 fields"),
        ("61 * * * *", "Bad minute"),
        ("@sometimes", "1 fields"),
        ("0 0 31 2 *", "Bad day-of-month"),
    ]:
        with pytest.raises(ValueError, match=reason):
            cron_expression(bad)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        time_zone("Mars/Olympus")


def test_jitter_is_the_same_everywhere_and_within_bounds() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    delays = {jitter_of("7", t + timedelta(minutes=n), 30) for n in range(200)}
    assert all(timedelta(0) <= d < timedelta(seconds=30) for d in delays) and len(delays) > 100
    assert jitter_of("7", t, 30) == jitter_of("7", t, 30) and jitter_of("7", t, 0) == timedelta(0)


def test_catch_up_policies() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    missed = [now - timedelta(minutes=m) for m in (30, 20, 10)]
    limits = Limits(grace=60, catchup_limit=10)
    assert chosen_times("latest", missed, now, limits) == missed[-1:]
    assert chosen_times("all", missed, now, limits) == missed
    assert chosen_times("skip", missed, now, limits) == []  # 10 minutes late: past the grace
    on_time = [*missed, now - timedelta(seconds=5)]
    assert chosen_times("skip", on_time, now, limits) == on_time[-1:]
    assert chosen_times("latest", [], now, limits) == []
