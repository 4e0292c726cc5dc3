"""Running leadworker like production: logs, metrics, health and readiness, systemd notify, multiprocess
metrics, ``jobs stats`` — each against a real ``leadworker run`` process and the real services."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import statistics
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import values as prometheus_values

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.ops import multiproc
from leadworker.ops.health import aggregate_server
from leadworker.ops.metrics import Metrics
from leadworker.store import jobs as jobstore
from leadworker.store.migrate import migrate
from leadworker.store.pool import Database

FAMILIES = {family.name for family in Metrics().registry.collect()}
"""Every family a worker exports (computed at import, before any test switches on multiprocess mode)."""


def inline_job(*companies: str) -> ScrapeJob:
    return ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["inline"],
        leads=[
            LeadRecord(company_name=name, emails=[f"info@{name.lower().replace(' ', '')}.test"]) for name in companies
        ],
    )


async def wait_http(url: str, status: int, *, timeout: float = 60, what: str = "") -> str:
    body = ""

    async def check() -> bool:
        nonlocal body
        try:
            code, body = await asyncio.to_thread(support.http_get, url, 2.0)
        except OSError:
            return False
        return code == status

    await support.wait_for(check, timeout=timeout, interval=0.1, what=what or f"{url} answering {status}")
    return body


# --- a worker with passwords in both URLs, on a broker of its own ------------------------------------------


async def test_running_worker_metrics_logs_readiness_and_no_secrets(
    private_rabbit: support.PrivateRabbit, scripted_site: support.ScriptedSite, tmp_path: Path
) -> None:
    mq_secret = f"mq-S3cret-{uuid.uuid4().hex[:10]}"
    pg_secret = f"pg-S3cret-{uuid.uuid4().hex[:10]}"
    user = f"lw-{uuid.uuid4().hex[:6]}"
    private_rabbit.add_user(user, mq_secret)
    scripted_site.page("/", "<html><title>Retry Co</title><body>sales@retry-co.test</body></html>", statuses=[503])
    with support.PrivatePostgres(password=pg_secret) as postgres:
        database_url = postgres.url("leadworker")
        await migrate(database_url)  # creates it; the password is checked for real (scram-sha-256)
        port = support.free_port()
        cfg = support.test_settings(
            database_url,
            amqp_url=private_rabbit.url(user, mq_secret),
            metrics_port=port,
            resolve={"retry-co.test": "127.0.0.1"},
        )
        db = await Database.connect(database_url, min_size=1, max_size=2)
        try:
            await _exercise_worker(
                cfg, db, private_rabbit, scripted_site, tmp_path, port, secrets=(mq_secret, pg_secret)
            )
        finally:
            await db.close()


async def _exercise_worker(
    cfg: Settings,
    db: Database,
    rabbit: support.PrivateRabbit,
    site: support.ScriptedSite,
    tmp_path: Path,
    port: int,
    *,
    secrets: tuple[str, ...],
) -> None:
    topology = Topology.from_settings(cfg)
    queue = topology.work_queue("scrape")
    # The batch: four inline jobs (6 records, 4 distinct), one job that is cancelled before it is consumed,
    # one website job whose first fetch gets a 503 (retried once), one message with an unknown source type.
    inline = [inline_job("Alpha", "Beta"), inline_job("Alpha", "Gamma"), inline_job("Delta"), inline_job("Alpha")]
    cancelled = inline_job("Never")
    retried = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("retry-co.test")], max_pages=1)
    await support.publish(cfg, db, [*inline, cancelled, retried])
    assert (await jobstore.cancel_job(db, cancelled.job_id))[0]
    dead_id = uuid.uuid4()
    await support.publish_raw(
        cfg,
        queue,
        json.dumps(
            {"job_id": str(dead_id), "source_types": ["carrier-pigeon"], "targets": ["http://x.test/"]}
        ).encode(),
        message_id=str(dead_id),
    )
    deliveries = len(inline) + 1 + 2 + 1

    worker = await support.WorkerProcess.start(
        cfg, tmp_path, "--stage", "scrape", LEADWORKER_DB_POOL_MAX=str(cfg.db_pool_max)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{base}/readyz", 200, what="worker ready")
        families: dict[str, Any] = {}

        async def all_settled() -> bool:
            nonlocal families
            families = await asyncio.to_thread(support.scrape_metrics, f"{base}/metrics")
            count = support.sample_value(families, "leadworker_handler_duration_seconds_count", stage="scrape")
            return count == deliveries

        await support.wait_for(all_settled, timeout=60, interval=0.2, what="every delivery settled")
        rows = {r["id"]: dict(r) for r in await db.fetch("SELECT * FROM scrape_jobs")}

        # -- metrics: every family is exported, and the values are those of the batch -----------------------
        assert set(families) >= FAMILIES, FAMILIES - set(families)

        def value(sample: str, **labels: str) -> float | None:
            return support.sample_value(families, sample, **labels)

        assert value("leadworker_deliveries_total", queue=queue, outcome="ack") == len(inline) + 1 + 1
        assert value("leadworker_deliveries_total", queue=queue, outcome="retry") == 1
        assert value("leadworker_deliveries_total", queue=queue, outcome="dead") == 1
        assert value("leadworker_deliveries_total", queue=queue, outcome="requeued") == 0
        assert value("leadworker_dead_letters_total", queue=queue, kind="unknown_source") == 1
        completed = [r for r in rows.values() if r["status"] == "completed"]
        assert len(completed) == len(inline) + 1
        assert rows[dead_id]["status"] == "failed" and rows[cancelled.job_id]["status"] == "cancelled"
        assert value("leadworker_jobs_finished_total", status="completed") == len(completed)
        assert value("leadworker_jobs_finished_total", status="failed") == 1
        found, new, duplicates = (sum(r[k] for r in completed) for k in ("found", "new", "duplicates"))
        assert (found, new, duplicates) == (6 + 1, 4 + 1, 2)
        assert value("leadworker_leads_total", result="found") == found
        assert value("leadworker_leads_total", result="new") == new
        assert value("leadworker_leads_total", result="duplicate") == duplicates
        assert value("leadworker_handler_duration_seconds_bucket", stage="scrape", le="+Inf") == deliveries
        assert value("leadworker_in_flight", stage="scrape") == 0
        assert value("leadworker_broker_connected") == 1
        assert value("leadworker_database_available") == 1
        assert value("leadworker_db_pool_connections", state="max") == cfg.db_pool_max
        in_use, idle = (value("leadworker_db_pool_connections", state=state) for state in ("in_use", "idle"))
        assert in_use == 0, "every delivery settled: no pooled connection is held"
        assert idle is not None and 1 <= idle <= cfg.db_pool_max
        rss = value("leadworker_resident_memory_bytes")
        assert rss is not None and rss > 20 * 1024 * 1024
        lag = value("leadworker_event_loop_lag_seconds")
        assert lag is not None and 0 <= lag < 60
        for family in families.values():  # Prometheus conventions: namespace, _total on counters, base units
            assert family.name.startswith("leadworker_"), family.name
            if family.type == "counter":
                assert all(s.name == family.name + "_total" for s in family.samples), family.name

        status, body = await asyncio.to_thread(support.http_get, f"{base}/healthz")
        assert status == 200 and json.loads(body)["alive"] is True

        # -- readiness follows the broker ---------------------------------------------------------------------
        await asyncio.to_thread(rabbit.stop_app)
        try:
            body = await wait_http(f"{base}/readyz", 503, what="not ready while the broker is stopped")
            report = json.loads(body)
            assert report["ready"] is False and "broker not connected" in report["problems"]
            assert report["checks"]["broker_connected"] is False
            status, _ = await asyncio.to_thread(support.http_get, f"{base}/healthz")
            assert status == 200  # alive all along: nothing for a supervisor to restart
            families = await asyncio.to_thread(support.scrape_metrics, f"{base}/metrics")
            assert support.sample_value(families, "leadworker_broker_connected") == 0
        finally:
            await asyncio.to_thread(rabbit.start_app)
        await wait_http(f"{base}/readyz", 200, what="ready again after the broker is back")
        after = inline_job("Epsilon")
        await support.publish(cfg, db, [after])
        await support.wait_for(
            lambda: support.jobs_reached(db, [after.job_id]),
            timeout=30,
            what="a job published after the outage completes",
        )
    finally:
        code = await worker.stop()
    assert code == 0, worker.output()[-3000:]

    # -- no secret anywhere in what the process printed ---------------------------------------------------------
    output = worker.output()
    for secret in secrets:
        assert secret not in output
    assert "***@" in output  # the URLs are logged, masked

    # -- logs: JSON lines; job_id, queue, attempt and worker on every line about a job --------------------------
    lines = worker.logs()
    assert len(lines) == len([ln for ln in worker.err_path.read_text().splitlines() if ln.strip()])
    worker_id = f"{socket.gethostname()}:{worker.pid}"
    assert all(line.get("worker") == worker_id for line in lines)
    about_jobs = [line for line in lines if "job_id" in line or "message_id" in line]
    for line in about_jobs:
        assert {"job_id", "queue", "attempt", "worker"} <= set(line), line
        assert line["queue"] == queue
    by_job: dict[str, list[dict[str, Any]]] = {}
    for line in about_jobs:
        by_job.setdefault(line["job_id"], []).append(line)

    def events(job_id: uuid.UUID) -> list[tuple[str, int]]:
        return [(line["event"], line["attempt"]) for line in by_job[str(job_id)]]

    for job in [*inline, after]:
        assert events(job.job_id) == [("job started", 1), ("job completed", 1)]
        done = by_job[str(job.job_id)][-1]
        assert {"seconds", "pages", "found", "new", "duplicates"} <= set(done)
    assert events(retried.job_id) == [("job started", 1), ("retrying", 1), ("job started", 2), ("job completed", 2)]
    assert "seconds" in by_job[str(retried.job_id)][1]
    assert events(cancelled.job_id) == [("job skipped", 1)]
    assert events(dead_id) == [("dead-lettered", 1)]
    assert by_job[str(dead_id)][0]["kind"] == "unknown_source" and "seconds" in by_job[str(dead_id)][0]


async def test_metrics_port_in_use_is_a_clear_failure(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = await support.WorkerProcess.start(
            settings.model_copy(update={"metrics_port": port}), tmp_path, "--stage", "scrape"
        )
        code = await worker.wait(60)
    assert code == 1
    errors = [line for line in worker.logs() if line["level"] == "error"]
    assert len(errors) == 1 and f"cannot serve metrics on 127.0.0.1:{port}" in errors[0]["error"]


# --- --processes N: one port for the metrics of several worker processes -------------------------------------


async def test_multiprocess_metrics_and_readiness_from_two_worker_processes(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left over from a previous run")
    # What the supervisor does before it starts children (undone afterwards: this is the test process).
    monkeypatch.setattr(prometheus_values, "ValueClass", prometheus_values.ValueClass)
    monkeypatch.setenv(multiproc.ENV, "")
    multiproc.prepare_multiprocess_dir(directory)
    assert os.environ[multiproc.ENV] == str(directory) and not list(directory.iterdir())

    cfg = settings.model_copy(update={"prefetch": 1})
    children = [
        await support.WorkerProcess.start(cfg, tmp_path, "--stage", "scrape", PROMETHEUS_MULTIPROC_DIR=str(directory))
        for _ in range(2)
    ]
    expected = 2
    server = aggregate_server(directory, host="127.0.0.1", port=0, expected=lambda: expected)
    port = await server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        body = await wait_http(f"{base}/readyz", 200, what="both worker processes ready")
        assert sorted(w["pid"] for w in json.loads(body)["workers"]) == sorted(c.pid for c in children)

        jobs = [inline_job(f"Multi {i}", "Shared Lead") for i in range(12)]
        await support.publish(cfg, db, jobs)
        await support.wait_for(
            lambda: support.jobs_reached(db, [j.job_id for j in jobs]), timeout=60, what="every job completed"
        )
        rows = [dict(r) for r in await db.fetch("SELECT found, new, duplicates FROM scrape_jobs")]
        queue = Topology.from_settings(cfg).work_queue("scrape")

        families: dict[str, Any] = {}

        async def settled() -> bool:
            nonlocal families
            families = await asyncio.to_thread(support.scrape_metrics, f"{base}/metrics")
            return support.sample_value(families, "leadworker_deliveries_total", queue=queue, outcome="ack") == 12

        await support.wait_for(settled, timeout=30, what="aggregated acks")
        # In multiprocess mode a family is listed once some process recorded a sample of it; those whose label
        # values only exist after an event (dead letters by kind, pages by mode and status...) come later.
        recorded = {
            "deliveries",
            "handler_duration_seconds",
            "in_flight",
            "jobs_finished",
            "leads",
            "broker_connected",
            "database_available",
            "db_pool_connections",
            "event_loop_lag_seconds",
            "resident_memory_bytes",
        }
        assert set(families) >= {f"leadworker_{name}" for name in recorded}, set(families)
        per_process = _acks_per_process(directory, queue)
        assert set(per_process) == {c.pid for c in children} and all(per_process.values()), per_process
        assert sum(per_process.values()) == 12

        def value(sample: str, **labels: str) -> float | None:
            return support.sample_value(families, sample, **labels)

        assert value("leadworker_jobs_finished_total", status="completed") == 12
        assert value("leadworker_leads_total", result="found") == sum(r["found"] for r in rows) == 24
        assert value("leadworker_leads_total", result="new") == sum(r["new"] for r in rows) == 13
        assert value("leadworker_handler_duration_seconds_count", stage="scrape") == 12
        assert value("leadworker_broker_connected") == 1  # livemin: every process connected
        assert value("leadworker_in_flight", stage="scrape") == 0
        both_rss = value("leadworker_resident_memory_bytes")
        assert both_rss is not None and both_rss > 2 * 20 * 1024 * 1024

        # One child stops; the supervisor reaps it and calls child_exited.
        assert await children[0].stop() == 0
        multiproc.child_exited(children[0].pid, directory)
        body = await wait_http(f"{base}/readyz", 503, what="not ready with one of two processes")
        assert "1 of 2 worker processes reporting" in json.loads(body)["problems"]
        families = await asyncio.to_thread(support.scrape_metrics, f"{base}/metrics")
        assert value("leadworker_deliveries_total", queue=queue, outcome="ack") == 12  # counters survive
        one_rss = value("leadworker_resident_memory_bytes")
        assert one_rss is not None and 0 < one_rss < both_rss  # the dead process's live gauges are gone
        expected = 1
        await wait_http(f"{base}/readyz", 200, what="ready with the one process now expected")
        status, body = await asyncio.to_thread(support.http_get, f"{base}/healthz")
        assert status == 200 and [w["pid"] for w in json.loads(body)["workers"]] == [children[1].pid]
    finally:
        await server.stop()
        for child in children:
            await child.stop()


def _acks_per_process(directory: Path, queue: str) -> dict[int, float]:
    from prometheus_client.multiprocess import MultiProcessCollector

    result = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(file)]):
            for s in metric.samples:
                if s.name == "leadworker_deliveries_total" and s.labels == {"queue": queue, "outcome": "ack"}:
                    result[pid] = s.value
    return result


# --- systemd: the notify protocol over a real NOTIFY_SOCKET ----------------------------------------------


async def test_systemd_notify_ready_watchdog_stopping(settings: Settings, tmp_path: Path) -> None:
    name = f"lw-notify-{uuid.uuid4().hex[:8]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)  # the abstract namespace, as systemd uses it
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    queue = Topology.from_settings(settings).work_queue("scrape")
    received: list[str] = []

    async def next_message(timeout: float = 30) -> str:
        data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
        received.append(data.decode())
        return received[-1]

    worker = await support.WorkerProcess.start(
        settings, tmp_path, "--stage", "scrape", NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="400000"
    )
    try:
        while "READY=1" not in (message := await next_message()).split("\n"):
            assert "STOPPING=1" not in message
        # READY means consuming: the consumer is registered at the broker when the datagram arrives.
        assert await support.consumer_count(settings, queue) == 1
        assert any(line.startswith("STATUS=consuming") for line in message.split("\n")), message
        pings = 0
        while pings < 3:
            if await next_message() == "WATCHDOG=1":
                pings += 1
        worker.terminate()
        while "STOPPING=1" not in (await next_message()).split("\n"):
            pass
        assert await worker.wait(60) == 0
    finally:
        worker.kill()
        sock.close()
    stopping_at = next(i for i, m in enumerate(received) if "STOPPING=1" in m.split("\n"))
    assert not any("READY=1" in m.split("\n") for m in received[stopping_at:]), received


# --- jobs stats --json equals the database ----------------------------------------------------------------


async def test_jobs_stats_json_equals_the_database(settings: Settings, db: Database) -> None:
    topology = Topology.from_settings(settings)
    queue = topology.work_queue("scrape")
    done = [inline_job(f"Stats {i}", "Stats Shared") for i in range(6)]
    cancelled = inline_job("Stats Cancelled")
    await support.publish(settings, db, [*done, cancelled])
    await jobstore.cancel_job(db, cancelled.job_id)
    await support.publish_raw(settings, queue, b"{not json", message_id="broken-1")
    await support.run_until_idle(settings)
    # One completed job finished two hours ago: outside a 1h window, still counted by status.
    await db.execute(
        "UPDATE scrape_jobs SET completed_at = now() - interval '2 hours', "
        "started_at = now() - interval '2 hours 1 second' WHERE id = $1",
        done[0].job_id,
    )
    waiting = [inline_job("Stats Waiting A"), inline_job("Stats Waiting B")]
    await support.publish(settings, db, waiting)

    result = await asyncio.to_thread(support.run_cli, settings, "jobs", "stats", "--since", "1h", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)

    rows = [dict(r) for r in await db.fetch("SELECT * FROM scrape_jobs")]
    by_status = {s.value: sum(1 for r in rows if r["status"] == s.value) for s in jobstore.JobStatus}
    assert doc["by_status"] == by_status and doc["total"] == len(rows) == 9
    start = datetime.fromisoformat(doc["window_start"])
    assert doc["window_seconds"] == 3600
    finished = [r for r in rows if r["completed_at"] is not None and r["completed_at"] >= start]
    completed = [r for r in finished if r["status"] == "completed"]
    durations = [(r["completed_at"] - r["started_at"]).total_seconds() for r in completed]
    latencies = [(r["completed_at"] - r["created_at"]).total_seconds() for r in completed]
    window = doc["window"]
    assert window["created"] == sum(1 for r in rows if r["created_at"] >= start) == 9
    assert window["finished"] == len(finished) == 6
    assert window["completed"] == len(completed) == 5
    assert window["failed"] == sum(1 for r in finished if r["status"] == "failed") == 0
    assert window["cancelled"] == 1
    assert window["throughput_per_minute"] == round(5 * 60 / 3600, 4)
    assert window["success_rate"] == 1.0
    assert window["duration_seconds"]["mean"] == pytest.approx(statistics.fmean(durations), abs=0.002)
    assert window["duration_seconds"]["p95"] == pytest.approx(percentile(durations, 0.95), abs=0.002)
    assert window["latency_seconds"]["mean"] == pytest.approx(statistics.fmean(latencies), abs=0.002)
    assert window["latency_seconds"]["p95"] == pytest.approx(percentile(latencies, 0.95), abs=0.002)

    assert doc["broker"] == {"reachable": True}
    scrape = next(q for q in doc["queues"] if q["queue"] == queue)
    assert scrape == {
        "queue": queue,
        "stage": "scrape",
        "messages_ready": 2,
        "consumers": 0,
        "retry_waiting": 0,
        "dead_letters": 1,
    }
    assert scrape["messages_ready"] == await support.queue_depth(settings, queue)
    assert doc["dead_letters"][queue] == await support.queue_depth(settings, topology.dead_queue(queue)) == 1

    text = await asyncio.to_thread(support.run_cli, settings, "jobs", "stats", "--since", "90m")
    assert text.returncode == 0 and "throughput" in text.stdout and queue in text.stdout
    for bad in ("1x", "0s", "-5m", "soon"):
        result = await asyncio.to_thread(support.run_cli, settings, "jobs", "stats", "--since", bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "--since" in result.stderr


def percentile(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
