"""The ``leadworker`` command line, run as a user runs it (a subprocess against the real services)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.demo.server import SiteServer
from leadworker.store.pool import Database


def test_bad_arguments_exit_2_with_one_line(settings: Settings, tmp_path: Path) -> None:
    cases = [
        (["publish", "--count", "zero", "--target", "http://a.test/"], "--count"),
        (["publish", "--target", "ftp://a.test/"], "--target"),
        (["publish"], "nothing to scrape"),
        (["publish", "--source", "carrier-pigeon", "--target", "http://a.test/"], "unknown source type"),
        (["publish", "--file", str(tmp_path / "missing.jsonl")], "cannot read jobs file"),
        (["jobs", "show", "not-a-uuid"], "not a job id"),
        (["jobs", "list", "--status", "sleeping"], "--status"),
        (["run", "--stage", "paint"], "unknown stage"),
        (["dlq", "list", "--queue", "nowhere"], "unknown queue"),
        (["no-such-command"], "No such command"),
    ]
    for args, expected in cases:
        result = support.run_cli(settings, *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, result.stderr)
        assert expected in lines[0], (args, lines[0])
        assert "Traceback" not in result.stderr


def test_bad_environment_is_a_usage_error(settings: Settings) -> None:
    result = support.run_cli(settings, "jobs", "stats", LEADWORKER_RETRY_BACKOFF="soon")
    assert result.returncode == 2
    assert "LEADWORKER_RETRY_BACKOFF" in result.stderr and "comma-separated" in result.stderr


def test_unreachable_database_is_a_runtime_error_with_masked_url(settings: Settings) -> None:
    result = support.run_cli(
        settings,
        "jobs",
        "stats",
        LEADWORKER_DATABASE_URL="postgresql://lw:hunter2@127.0.0.1:1/leadworker",
    )
    assert result.returncode == 1
    assert "hunter2" not in result.stderr and "unreachable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_publish_json_wait_and_jobs_commands(settings: Settings, demo_site: SiteServer) -> None:
    result = support.run_cli(
        settings, "publish", "--target", demo_site.url("acme-plumbing.test"), "--count", "3", "--json"
    )
    assert result.returncode == 0, result.stderr
    ids = json.loads(result.stdout)["job_ids"]
    assert len(ids) == 3 and len(set(ids)) == 3

    run = support.run_cli(settings, "run", "--stage", "scrape", "--exit-when-idle", "1")
    assert run.returncode == 0, run.stderr

    listed = json.loads(support.run_cli(settings, "jobs", "list", "--json").stdout)["jobs"]
    assert {j["id"] for j in listed} >= set(ids)
    shown = json.loads(support.run_cli(settings, "jobs", "show", ids[0], "--json").stdout)
    assert shown["job"]["status"] == "completed"
    assert [e["to_status"] for e in shown["events"]] == ["queued", "running", "completed"]
    assert len(shown["leads"]) == 1
    stats = json.loads(support.run_cli(settings, "jobs", "stats", "--json").stdout)
    assert stats["by_status"]["completed"] >= 3


def test_publish_wait_follows_jobs_to_the_end(settings: Settings, demo_site: SiteServer) -> None:
    import subprocess

    worker = subprocess.Popen(
        support.leadworker_cmd("run", "--stage", "scrape"),
        env=support.cli_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = support.run_cli(
            settings,
            "publish",
            "--target",
            demo_site.url("nordlicht-solar.test"),
            "--count",
            "2",
            "--wait",
            "--json",
            "--timeout",
            "60",
        )
    finally:
        worker.terminate()
        assert worker.wait(30) == 0
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [j["status"] for j in doc["jobs"]] == ["completed", "completed"]
    assert sorted(j["new"] for j in doc["jobs"]) == [0, 1]


def test_publish_file_and_leads(settings: Settings, db: Database, tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(
        json.dumps({"source_types": ["inline"], "leads": [{"company_name": "Alpha", "emails": ["a@alpha.de"]}]})
        + "\n\n"
        + json.dumps(
            {
                "source_types": ["inline"],
                "leads": [{"company_name": "Beta", "phones": ["+49 30 1"]}],
                "job_id": str(uuid.uuid4()),
            }
        )
        + "\n"
    )
    result = support.run_cli(settings, "publish", "--file", str(jobs_file), "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["job_ids"]) == 2

    leads_file = tmp_path / "leads.jsonl"
    leads_file.write_text(
        '{"company_name": "Gamma", "website": "gamma.io", "crm_id": 7}\n'
        '{"company_name": "Delta", "emails": "d@delta.io; info@delta.io"}\n'
    )
    result = support.run_cli(settings, "publish", "--leads", str(leads_file), "--json")
    assert result.returncode == 0, result.stderr
    (inline_id,) = json.loads(result.stdout)["job_ids"]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"company_name": "ok"}\n{"nothing": "useful"}\n')
    result = support.run_cli(settings, "publish", "--leads", str(bad))
    assert result.returncode == 2 and f"{bad}:2:" in result.stderr

    assert support.run_cli(settings, "run", "--stage", "scrape", "--exit-when-idle", "1").returncode == 0
    shown = json.loads(support.run_cli(settings, "jobs", "show", inline_id, "--json").stdout)
    records = {lead["record"]["company_name"]: lead["record"] for lead in shown["leads"]}
    assert records["Gamma"]["attributes"] == {"crm_id": 7}
    assert records["Delta"]["emails"] == ["d@delta.io", "info@delta.io"]


def test_cancel(settings: Settings, demo_site: SiteServer) -> None:
    (job_id,) = json.loads(
        support.run_cli(settings, "publish", "--target", demo_site.url("acme-plumbing.test"), "--json").stdout
    )["job_ids"]
    result = support.run_cli(settings, "jobs", "cancel", job_id)
    assert result.returncode == 0 and "cancelled" in result.stdout
    again = support.run_cli(settings, "jobs", "cancel", job_id)
    assert again.returncode == 1 and "already cancelled" in again.stderr
    missing = support.run_cli(settings, "jobs", "cancel", str(uuid.uuid4()))
    assert missing.returncode == 1 and "no job" in missing.stderr


def test_dlq_list_replay_purge(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    import asyncio

    topology = Topology.from_settings(settings)
    queue = topology.work_queue("scrape")
    poison_id = uuid.uuid4()
    body = json.dumps({"job_id": str(poison_id), "source_types": ["website"], "targets": [], "max_pages": 1}).encode()
    assert support.run_cli(settings, "topology", "declare").returncode == 0

    async def put() -> None:
        await support.publish_raw(settings, queue, b"\xff\xfe not utf-8", message_id="bin-1")
        await support.publish_raw(settings, queue, body, message_id=str(poison_id))

    asyncio.run(put())
    assert support.run_cli(settings, "run", "--stage", "scrape", "--exit-when-idle", "1").returncode == 0

    listed = json.loads(support.run_cli(settings, "dlq", "list", "--queue", "scrape", "--json").stdout)
    letters = {d["message_id"]: d for d in listed["dead_letters"]}
    assert set(letters) == {"bin-1", str(poison_id)}
    assert "not UTF-8" in letters["bin-1"]["reason"]
    assert "needs at least one target" in letters[str(poison_id)]["reason"]
    # listing leaves them in place
    again = json.loads(support.run_cli(settings, "dlq", "list", "--json").stdout)
    assert len(again["dead_letters"]) == 2

    replay = support.run_cli(settings, "dlq", "replay", "--queue", "scrape_jobs", "--limit", "1")
    assert replay.returncode == 0 and "replayed 1" in replay.stdout
    purge = support.run_cli(settings, "dlq", "purge", "--queue", "scrape")
    assert purge.returncode == 0 and "purged 1" in purge.stdout
    assert json.loads(support.run_cli(settings, "dlq", "list", "--json").stdout)["dead_letters"] == []


def test_db_migrate_is_idempotent_and_creates_the_database(settings: Settings) -> None:
    import asyncio

    name = f"lw_cli_{uuid.uuid4().hex[:8]}"
    url = support.database_url_for(support.ADMIN_DATABASE_URL, name)
    try:
        first = support.run_cli(settings, "db", "migrate", LEADWORKER_DATABASE_URL=url)
        assert first.returncode == 0 and "applied" in first.stdout, first.stderr
        second = support.run_cli(settings, "db", "migrate", LEADWORKER_DATABASE_URL=url)
        assert second.returncode == 0 and "up to date" in second.stdout
    finally:
        asyncio.run(support.drop_database(support.ADMIN_DATABASE_URL, name))


def test_topology_declare_lists_every_queue(settings: Settings) -> None:
    result = support.run_cli(settings, "topology", "declare")
    assert result.returncode == 0, result.stderr
    prefix = settings.queue_prefix
    for name in (
        "scrape_jobs",
        "scrape_jobs.retry.1",
        "scrape_jobs.retry.3",
        "scrape_jobs.dead",
        "leads.normalize",
        "jobs.notify.dead",
    ):
        assert f"  {prefix}{name}" in result.stdout
    assert "(quorum)" in result.stdout
