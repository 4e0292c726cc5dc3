"""Schedules against the real database, with an injected clock: each fire time makes one job, whoever races for
it; catch-up after an outage, overlap, daylight-saving days in two zones, a crash between the commit and the
publish, the CLI, and ``leads export --schedule NAME --new``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest

import support
from enrich_support import WEBHOOK_SECRET, WebhookReceiver
from leadworker.broker.publisher import ConfirmedPublisher, OutgoingMessage
from leadworker.broker.retry_policy import RetryPolicy
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.stages import schedule as stage
from leadworker.store import schedules as store
from leadworker.store.maintenance import requeue_stuck_jobs
from leadworker.store.pool import Database

TOPOLOGY = Topology.from_settings(Settings(_env_file=None, queue_prefix="sched-test."))  # type: ignore[call-arg]
LIMITS = stage.Limits(grace=60, catchup_limit=10)
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TEMPLATE: dict[str, Any] = {"source_types": ["website"], "targets": ["https://acme.test/"], "geography": "Berlin"}


class Sent:
    """A publisher that keeps what it was given (``fail``: raises instead, as a crash after the commit)."""

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []
        self.fail = False

    async def __call__(self, messages: list[OutgoingMessage]) -> None:
        if self.fail:
            raise ConnectionError("killed between the commit and the publish")
        self.messages += messages


async def add(
    db: Database,
    name: str,
    cron: str,
    *,
    tz: str = "UTC",
    at: datetime = T0,
    catch_up: str = "latest",
    overlap: str = "allow",
    jitter: int = 0,
) -> int:
    row = await store.add_schedule(
        db,
        name=name,
        cron=cron,
        time_zone=tz,
        template=TEMPLATE,
        catch_up=catch_up,
        overlap=overlap,
        jitter_seconds=jitter,
        next_fire_at=None,
        due_at=None,
    )
    assert row is not None
    nxt, due = stage.next_due(row["id"], cron, tz, jitter, at)
    await store.set_enabled(db, name, True, nxt, due)
    return int(row["id"])


async def fire(db: Database, sent: Sent, now: datetime) -> stage.Round:
    return await stage.fire_due(db, sent, TOPOLOGY, now=now, limits=LIMITS, worker="test:1")


async def fires_of(db: Database, name: str) -> list[Any]:
    return await db.fetch(
        """SELECT f.fire_time, f.result, f.job_id, f.previous_job_id, f.kind FROM schedule_fires f
             JOIN schedules s ON s.id = f.schedule_id WHERE s.name = $1 ORDER BY f.fire_time""",
        name,
    )


@pytest.mark.pgbouncer
async def test_each_fire_time_makes_one_job_whoever_races_for_it(db: Database, database_url: str) -> None:
    await add(db, "minutely", "* * * * *")
    sent = Sent()
    assert (await fire(db, sent, T0 + timedelta(seconds=30))).fires == []  # not due yet
    pooled = support.is_pooled(database_url)
    others = [await Database.connect(database_url, min_size=1, max_size=2, transaction_pooled=pooled) for _ in range(4)]
    try:
        for minute in range(1, 6):
            now = T0 + timedelta(minutes=minute, seconds=1)
            # five instances at the same moment, and one a little later that finds the time handled
            rounds = await asyncio.gather(*(fire(d, sent, now) for d in [db, *others]))
            rounds.append(await fire(db, sent, now + timedelta(seconds=1)))
            assert sum(len(r.fires) for r in rounds) == 1
    finally:
        for other in others:
            await other.close()
    fires = await fires_of(db, "minutely")
    assert [f["fire_time"] for f in fires] == [T0 + timedelta(minutes=m) for m in range(1, 6)]
    job_ids = [f["job_id"] for f in fires]
    assert len(set(job_ids)) == 5 and [m.message_id for m in sent.messages] == [str(j) for j in job_ids]
    assert [f["previous_job_id"] for f in fires] == [None, *job_ids[:-1]]  # each run knows the one before
    rows = await db.fetch("SELECT id, status, criteria FROM scrape_jobs")
    assert {r["id"] for r in rows} == set(job_ids) and {r["status"] for r in rows} == {"queued"}
    assert all(json.loads(m.body)["targets"] == ["https://acme.test/"] for m in sent.messages)
    schedule = await store.get_schedule(db, "minutely")
    assert schedule is not None and schedule["last_job_id"] == job_ids[-1]
    assert schedule["last_fire_at"] == T0 + timedelta(minutes=5)
    assert schedule["next_fire_at"] == T0 + timedelta(minutes=6)


@pytest.mark.parametrize(
    ("policy", "expected_fires", "missed"),
    [
        ("latest", [timedelta(minutes=10)], 9),
        ("skip", [], 10),
        ("all", [timedelta(minutes=m) for m in range(4, 11)], 3),  # bounded: the 7 latest (LIMITS below)
    ],
)
async def test_catch_up_after_an_outage(
    db: Database, policy: str, expected_fires: list[timedelta], missed: int
) -> None:
    await add(db, "outage", "* * * * *", catch_up=policy)
    sent = Sent()
    now = T0 + timedelta(minutes=10, seconds=30)  # ten fire times passed while nothing ran
    limits = stage.Limits(grace=20, catchup_limit=7)
    result = await stage.fire_due(db, sent, TOPOLOGY, now=now, limits=limits, worker="test:1")
    assert [f.fire_time - T0 for f in result.fires] == expected_fires
    assert result.missed == ({"outage": missed} if missed else {})
    assert len(sent.messages) == len(expected_fires)
    schedule = await store.get_schedule(db, "outage")
    assert schedule is not None and schedule["next_fire_at"] == T0 + timedelta(minutes=11)
    # back to normal: the next time fires on time, whatever the policy
    again = await stage.fire_due(
        db, sent, TOPOLOGY, now=T0 + timedelta(minutes=11, seconds=2), limits=limits, worker="test:1"
    )
    assert [f.fire_time - T0 for f in again.fires] == [timedelta(minutes=11)] and not again.missed


async def test_overlap_skip_waits_for_the_previous_job(db: Database) -> None:
    await add(db, "slow", "*/5 * * * *", overlap="skip")
    sent = Sent()
    first = await fire(db, sent, T0 + timedelta(minutes=5))
    assert first.fires[0].job is not None
    skipped = await fire(db, sent, T0 + timedelta(minutes=10))  # the first job is still queued
    assert [f.job for f in skipped.fires] == [None]
    await db.execute("UPDATE scrape_jobs SET status = 'running' WHERE id = $1", first.fires[0].job.job_id)
    assert [f.job for f in (await fire(db, sent, T0 + timedelta(minutes=15))).fires] == [None]
    await db.execute("UPDATE scrape_jobs SET status = 'completed' WHERE id = $1", first.fires[0].job.job_id)
    third = await fire(db, sent, T0 + timedelta(minutes=20))
    assert third.fires[0].job is not None
    fires = await fires_of(db, "slow")
    assert [f["result"] for f in fires] == ["fired", "overlap", "overlap", "fired"]
    assert fires[3]["previous_job_id"] == first.fires[0].job.job_id
    assert len(sent.messages) == 2
    # overlap allow fires whatever runs
    await add(db, "fast", "*/5 * * * *", overlap="allow", at=T0 + timedelta(minutes=20))
    for minutes in (25, 30):
        result = await fire(db, sent, T0 + timedelta(minutes=minutes))
        assert [f.job is not None for f in result.fires if f.schedule == "fast"] == [True]


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Berlin", datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 11, 1, 4, tzinfo=UTC)),
    ],
)
async def test_daylight_saving_days_fire_once(db: Database, zone: str, spring: datetime, autumn: datetime) -> None:
    """A daily schedule at a time that does not exist (02:30 when clocks jump forward) and at one that exists
    twice (02:30 in Berlin, 01:30 in New York when they go back), the clock stepping 5 minutes at a time through
    the day: one job each day, at the first minute after the jump, at the first of the two."""
    sent = Sent()
    for n, day in enumerate((spring, autumn)):
        name = f"daily-{n}"
        expr = "30 1 * * *" if (zone, n) == ("America/New_York", 1) else "30 2 * * *"
        await add(db, name, expr, tz=zone, at=day - timedelta(hours=1))
        now = day - timedelta(hours=1)
        while now < day + timedelta(hours=23):
            now += timedelta(minutes=5)
            await fire(db, sent, now)
        times = [f["fire_time"].astimezone(stage.time_zone(zone)) for f in await fires_of(db, name)]
        assert len(times) == 1, times
        shown = times[0].strftime("%H:%M %Z")
        expected = {
            ("Europe/Berlin", 0): "03:00 CEST",
            ("Europe/Berlin", 1): "02:30 CEST",
            ("America/New_York", 0): "03:00 EDT",
            ("America/New_York", 1): "01:30 EDT",
        }[zone, n]
        assert shown == expected


async def test_jitter_delays_the_fire_not_the_fire_time(db: Database) -> None:
    ident = await add(db, "jittery", "0 * * * *", jitter=600)
    delay = stage.jitter_of(str(ident), T0 + timedelta(hours=1), 600)
    sent = Sent()
    assert (await fire(db, sent, T0 + timedelta(hours=1) + delay - timedelta(seconds=1))).fires == []
    result = await fire(db, sent, T0 + timedelta(hours=1) + delay)
    assert [f.fire_time for f in result.fires] == [T0 + timedelta(hours=1)]


async def test_a_crash_after_the_commit_leaves_a_job_the_stuck_sweep_publishes(db: Database) -> None:
    await add(db, "crashy", "* * * * *")
    sent = Sent()
    sent.fail = True
    with pytest.raises(ConnectionError):
        await fire(db, sent, T0 + timedelta(minutes=1))
    fires = await fires_of(db, "crashy")
    assert len(fires) == 1 and sent.messages == []
    job_id = fires[0]["job_id"]
    assert await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", job_id) == "queued"
    sent.fail = False
    assert (await fire(db, sent, T0 + timedelta(minutes=1, seconds=5))).fires == []  # the time is handled
    await asyncio.sleep(0.05)
    policy = RetryPolicy(max_attempts=3, backoff=(1.0,), delivery_limit=20)
    swept = await requeue_stuck_jobs(
        db, sent, work_queue="scrape_jobs", stale_seconds=0.01, policy=policy, include_queued=True
    )
    assert swept.requeued == [job_id]
    assert [m.message_id for m in sent.messages] == [str(job_id)]
    assert json.loads(sent.messages[0].body)["job_id"] == str(job_id)


async def test_run_now_makes_a_manual_run_and_keeps_the_next_fire(db: Database) -> None:
    await add(db, "manual", "0 6 * * MON")
    sent = Sent()
    before = await store.get_schedule(db, "manual")
    made = await stage.run_now(db, sent, TOPOLOGY, "manual", now=T0, worker="cli")
    assert made is not None and made.job is not None
    assert await stage.run_now(db, sent, TOPOLOGY, "nobody", now=T0, worker="cli") is None
    after = await store.get_schedule(db, "manual")
    assert before is not None and after is not None
    assert after["next_fire_at"] == before["next_fire_at"] and after["last_job_id"] == made.job.job_id
    assert [(f["kind"], f["job_id"]) for f in await fires_of(db, "manual")] == [("manual", made.job.job_id)]


# --- the CLI --------------------------------------------------------------------------------------------------


def test_schedules_cli(settings: Settings) -> None:
    bad = support.run_cli(settings, "schedules", "add", "x", "--cron", "61 * * * *", "--target", "https://a.test/")
    assert bad.returncode == 2 and "--cron" in bad.stderr and "Bad minute" in bad.stderr
    bad = support.run_cli(
        settings, "schedules", "add", "x", "--cron", "@daily", "--tz", "Mars/Olympus", "--target", "https://a.test/"
    )
    assert bad.returncode == 2 and "--tz" in bad.stderr and "unknown time zone" in bad.stderr
    bad = support.run_cli(settings, "schedules", "add", "x", "--cron", "@daily")
    assert bad.returncode == 2 and "nothing to scrape" in bad.stderr

    added = support.run_cli(
        settings,
        "schedules",
        "add",
        "plumbers",
        "--cron",
        "0 6 * * MON",
        "--tz",
        "Europe/Berlin",
        "--target",
        "https://plumber.test/",
        "--geography",
        "München",
        "--catch-up",
        "skip",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    shown = json.loads(added.stdout)
    assert shown["enabled"] is True and shown["time_zone"] == "Europe/Berlin"
    nxt = datetime.fromisoformat(shown["next_fire_at"]).astimezone(stage.time_zone("Europe/Berlin"))
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 6, 0)
    again = support.run_cli(settings, "schedules", "add", "plumbers", "--cron", "@daily", "--target", "https://a.test/")
    assert again.returncode == 2 and "exists" in again.stderr

    listed = json.loads(support.run_cli(settings, "schedules", "list", "--json").stdout)["schedules"]
    assert [(s["name"], s["last_fire_at"], s["next_fire_at"]) for s in listed] == [
        ("plumbers", None, shown["next_fire_at"])
    ]
    assert support.run_cli(settings, "schedules", "pause", "plumbers").returncode == 0
    assert json.loads(support.run_cli(settings, "schedules", "show", "plumbers", "--json").stdout)["enabled"] is False
    ran = support.run_cli(settings, "schedules", "run-now", "plumbers", "--json")
    assert ran.returncode == 0, ran.stderr
    job_id = json.loads(ran.stdout)["job_id"]
    assert support.run_cli(settings, "schedules", "resume", "plumbers", "--json").returncode == 0
    detail = json.loads(support.run_cli(settings, "schedules", "show", "plumbers", "--json").stdout)
    assert detail["enabled"] is True and detail["last_job_id"] == job_id and detail["last_job_status"] == "queued"
    assert detail["template"]["geography"] == "München" and "job_id" not in detail["template"]
    assert [(f["kind"], f["job_id"]) for f in detail["fires"]] == [("manual", job_id)]
    text = support.run_cli(settings, "schedules", "list")
    assert "plumbers" in text.stdout and "0 6 * * MON" in text.stdout
    assert support.run_cli(settings, "schedules", "remove", "plumbers").returncode == 0
    gone = support.run_cli(settings, "schedules", "show", "plumbers")
    assert gone.returncode == 1 and "no schedule 'plumbers'" in gone.stderr
    assert support.run_cli(settings, "schedules", "run-now", "plumbers").returncode == 1


async def test_export_new_gives_only_what_the_previous_run_did_not_find(
    settings: Settings, db: Database, tmp_path: Any
) -> None:
    """Two runs of a schedule (inline leads: A and B, then B and C): ``--new`` exports C only."""

    def lead(name: str) -> dict[str, Any]:
        return {
            "company_name": f"{name} GmbH",
            "website": f"https://{name.lower()}-example.de/",
            "emails": [f"info@{name.lower()}-example.de"],
            "country": "DE",
        }

    await add(db, "inline", "* * * * *")
    receiver_runner = support.ThreadedServer(WebhookReceiver())
    receiver: WebhookReceiver = receiver_runner.start()
    settings = settings.model_copy(update={"webhook_url": receiver.url, "webhook_secret": WEBHOOK_SECRET})
    topology = await support.declare(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        publisher = await ConfirmedPublisher.open(connection, topology.exchange)
        for n, names in enumerate((["Alpha", "Beta"], ["Beta", "Gamma"])):
            template = {"source_types": ["inline"], "leads": [lead(x) for x in names]}
            await db.execute("UPDATE schedules SET template = $1::jsonb WHERE name = 'inline'", template)
            result = await stage.fire_due(
                db, publisher.publish_many, topology, worker="test:1", limits=LIMITS, now=T0 + timedelta(minutes=n + 1)
            )
            assert len(result.fires) == 1
            await support.run_until_idle(settings, ["scrape", "normalize", "score", "notify"], idle=1.0)
    finally:
        await connection.close()
        receiver_runner.stop()

    def exported(*args: str) -> list[str]:
        out = support.run_cli(settings, "leads", "export", "--format", "jsonl", *args)
        assert out.returncode == 0, out.stderr
        return sorted(json.loads(line)["company_name"].split()[0] for line in out.stdout.splitlines())

    assert exported("--schedule", "inline") == ["Beta", "Gamma"]
    assert exported("--schedule", "inline", "--new") == ["Gamma"]
    usage = support.run_cli(settings, "leads", "export", "--new")
    assert usage.returncode == 2 and "--schedule" in usage.stderr
    missing = support.run_cli(settings, "leads", "export", "--schedule", "nobody")
    assert missing.returncode == 1 and "no completed run" in missing.stderr
    fires = await fires_of(db, "inline")
    # the schedule's job.enriched event says what is new: a count and the ids
    enriched = [w.body for w in receiver.delivered() if w.event == "job.enriched"]
    assert [e["schedule"]["new_leads"] for e in enriched] == [2, 1]
    assert enriched[1]["schedule"]["name"] == "inline"
    assert enriched[1]["schedule"]["previous_job_id"] == str(fires[0]["job_id"])
    gamma = await db.fetchval("SELECT id FROM leads WHERE company_name LIKE 'Gamma%'")
    assert enriched[1]["schedule"]["new_lead_ids"] == [gamma]
    assert all(w.signature_valid for w in receiver.delivered())


async def test_a_schedule_that_cannot_fire_does_not_stop_the_others(db: Database) -> None:
    await add(db, "broken", "* * * * *")
    await add(db, "fine", "* * * * *")
    await db.execute("""UPDATE schedules SET template = '{"source_types": ["website"]}' WHERE name = 'broken'""")
    sent = Sent()
    result = await fire(db, sent, T0 + timedelta(minutes=1))
    assert [f.schedule for f in result.fires] == ["fine"] and len(sent.messages) == 1
    assert await fires_of(db, "broken") == []
    overdue = {r["name"]: r["seconds"] for r in await store.overdue(db, T0 + timedelta(minutes=3))}
    assert overdue["broken"] == 120 and overdue["fine"] == 60  # what the alert reads
