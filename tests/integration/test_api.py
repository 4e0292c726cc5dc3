"""The HTTP API against the real PostgreSQL and RabbitMQ: tokens and scopes, submitting (idempotently, through the
network guard, with the broker down), following a job to its end under a real worker, downloading its leads,
the error shape, the body limit, and ``leadworker api`` / ``leadworker tokens`` run as a user runs them."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import support
from leadworker.api.app import create_app
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.demo.server import SiteServer
from leadworker.store import tokens as tokenstore
from leadworker.store.pool import Database


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app, its lifespan run, behind an in-process transport."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


async def token(db: Database, scope: str) -> dict[str, str]:
    value = await tokenstore.create_token(db, f"{scope}-{uuid.uuid4().hex[:6]}", scope)
    return {"Authorization": f"Bearer {value}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, object] = body["error"]
    return error


async def test_health_tokens_and_scopes(settings: Settings, db: Database) -> None:
    read, write = await token(db, "read"), await token(db, "write")
    cache_seconds = 0.5
    async with api_client(settings.model_copy(update={"api_token_cache_seconds": cache_seconds})) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["database"] and ready.json()["broker"], ready.text
        assert_error(await client.get("/api/v1/jobs"), 401, "unauthorized")
        assert_error(await client.get("/api/v1/jobs", headers={"Authorization": "Bearer lw_nope"}), 401)
        assert (await client.get("/api/v1/jobs", headers=read)).status_code == 200
        assert_error(
            await client.post("/api/v1/jobs", headers=read, json={"targets": ["https://a.test/"]}), 403, "forbidden"
        )
        names = [t.name for t in await tokenstore.list_tokens(db)]
        assert await tokenstore.revoke_token(db, next(n for n in names if n.startswith("read-")))
        await asyncio.sleep(cache_seconds)  # the bound on how long an API process may still trust it
        assert_error(await client.get("/api/v1/jobs", headers=read), 401)
        assert (await client.get("/api/v1/jobs", headers=write)).status_code == 200
        used = {t.name: t.last_used_at for t in await tokenstore.list_tokens(db)}
        assert all(used.values())
        metrics = (await client.get("/metrics")).text
    assert 'leadworker_api_requests_total{method="GET",route="/api/v1/jobs",status="401"} 3.0' in metrics
    assert 'route="/api/v1/jobs",status="200"' in metrics and "leadworker_api_request_seconds_bucket" in metrics


async def test_submit_idempotently_follow_and_download(settings: Settings, db: Database, demo_site: SiteServer) -> None:
    write = await token(db, "write")
    body = {
        "targets": [demo_site.url("acme-plumbing.test")],
        "max_pages": 5,
        "industry": "plumbing",
        "geography": "Portland, US",
        "user_id": "u-1",
    }
    async with api_client(settings) as client:
        first = await client.post("/api/v1/jobs", headers={**write, "Idempotency-Key": "k-1"}, json=body)
        assert first.status_code == 202, first.text
        job_id = first.json()["job_id"]
        assert first.headers["location"] == f"/api/v1/jobs/{job_id}" and first.json()["status"] == "queued"
        again = await client.post("/api/v1/jobs", headers={**write, "Idempotency-Key": "k-1"}, json=body)
        assert again.status_code == 200 and again.json()["job_id"] == job_id
        given = await client.post("/api/v1/jobs", headers=write, json={**body, "job_id": job_id})
        assert given.status_code == 200 and given.json()["job_id"] == job_id
        assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 1
        topology = await support.declare(settings)
        assert await support.queue_depth(settings, topology.work_queue("scrape")) == 1  # one message, not three

        await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
        shown = (await client.get(f"/api/v1/jobs/{job_id}", headers=write)).json()
        assert shown["status"] == "completed" and shown["counts"]["found"] >= 1
        assert shown["enrichment"]["enriched_at"] is not None
        assert [e["to_status"] for e in shown["events"]] == ["queued", "running", "completed"]

        download = await client.get(f"/api/v1/jobs/{job_id}/leads", params={"format": "csv"}, headers=write)
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert [r["domain"] for r in rows] == ["acme-plumbing.test"]
        lines = (
            await client.get(f"/api/v1/jobs/{job_id}/leads", params={"format": "jsonl"}, headers=write)
        ).text.splitlines()
        assert [json.loads(line)["domain"] for line in lines] == ["acme-plumbing.test"]

        leads = (
            await client.get("/api/v1/leads", params={"job_id": job_id, "q": "ACME", "country": "us"}, headers=write)
        ).json()
        assert [lead["domain"] for lead in leads["leads"]] == ["acme-plumbing.test"] and leads["next"] is None
        lead_id = leads["leads"][0]["lead_id"]
        assert (await client.get("/api/v1/leads", params={"q": "nobody-such"}, headers=write)).json()["leads"] == []
        detail = (await client.get(f"/api/v1/leads/{lead_id}", headers=write)).json()
        assert detail["lead"]["domain"] == "acme-plumbing.test" and detail["values"] and detail["scores"]
        assert_error(await client.get("/api/v1/leads/999999", headers=write), 404)
        exported = await client.get("/api/v1/leads/export", params={"format": "jsonl"}, headers=write)
        assert [json.loads(line)["lead_id"] for line in exported.text.splitlines()] == [lead_id]

        listed = (
            await client.get("/api/v1/jobs", params={"status": "completed", "user_id": "u-1"}, headers=write)
        ).json()
        assert [j["job_id"] for j in listed["jobs"]] == [job_id] and listed["next"] is None
        assert_error(await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=write), 409, "conflict")


async def test_record_a_leads_outcome(settings: Settings, db: Database) -> None:
    """``POST /api/v1/leads/{id}/outcome``: write scope, 201 then 200 for a repeat, the survivor of a merged-away
    id, 404 for an unknown lead, 422 naming the field."""
    read, write = await token(db, "read"), await token(db, "write")
    survivor = await db.fetchval("INSERT INTO leads (company_name) VALUES ('Acme') RETURNING id")
    gone = await db.fetchval(
        "INSERT INTO leads (company_name, merged_into) VALUES ('Acme 2', $1) RETURNING id", survivor
    )
    at = "2026-04-01T09:30:00+02:00"
    async with api_client(settings) as client:
        url = f"/api/v1/leads/{gone}/outcome"
        first = await client.post(url, headers=write, json={"outcome": "won", "at": at, "note": "signed"})
        assert first.status_code == 201, first.text
        assert first.json() == {"lead_id": survivor, "given_lead_id": gone, "outcome": "won", "created": True}
        again = await client.post(url, headers=write, json={"outcome": "won", "at": at})
        assert again.status_code == 200 and again.json()["created"] is False
        now = await client.post(f"/api/v1/leads/{survivor}/outcome", headers=write, json={"outcome": "contacted"})
        assert now.status_code == 201, now.text
        assert_error(await client.post(url, headers=read, json={"outcome": "won"}), 403, "forbidden")
        assert_error(await client.post("/api/v1/leads/999999/outcome", headers=write, json={"outcome": "won"}), 404)
        for body, field in (
            ({"outcome": "maybe"}, "outcome"),
            ({"outcome": "won", "at": "yesterday"}, "at"),
            ({"outcome": "won", "note": "a\x00b"}, "note"),
            ({"outcome": "won", "at": "1900-01-01T00:00:00Z"}, "at"),
            ({"outcome": "won", "colour": "red"}, "colour"),
        ):
            error = assert_error(await client.post(url, headers=write, json=body), 422)
            assert field in str(error["fields"]) or field in str(error["message"]), (body, error)
        detail = (await client.get(f"/api/v1/leads/{gone}", headers=read)).json()
    assert [o["outcome"] for o in detail["outcomes"]] == ["contacted", "won"]
    assert detail["outcomes"][1]["source"].startswith("api:write-") and detail["outcomes"][1]["note"] == "signed"


async def test_list_pages_cancel_and_retry(settings: Settings, db: Database) -> None:
    write = await token(db, "write")
    inline = {"source_types": ["inline"], "leads": [{"company_name": "Acme"}]}
    async with api_client(settings) as client:
        batch = await client.post("/api/v1/jobs/batch", headers=write, json={"jobs": [inline] * 5})
        assert batch.status_code == 202, batch.text
        ids = [j["job_id"] for j in batch.json()["jobs"]]
        assert len(set(ids)) == 5 and all(j["created"] for j in batch.json()["jobs"])
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/jobs", params=params, headers=write)).json()
            seen += [j["job_id"] for j in page["jobs"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids) and len(seen) == 5
        assert_error(await client.get("/api/v1/jobs", params={"cursor": "garbage"}, headers=write), 422)

        cancelled = await client.post(f"/api/v1/jobs/{ids[0]}/cancel", headers=write)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        retried = await client.post(f"/api/v1/jobs/{ids[0]}/retry", headers=write)
        assert retried.status_code == 200 and retried.json()["status"] == "queued"
        assert_error(await client.post(f"/api/v1/jobs/{ids[1]}/retry", headers=write), 409)
        assert_error(await client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=write), 404, "not_found")
        await support.run_until_idle(settings, ("scrape",), idle=0.6)
        assert await support.jobs_reached(db, [uuid.UUID(i) for i in ids], "completed")


async def test_bad_input_is_a_4xx_naming_the_field(database_url: str, db: Database) -> None:
    cfg = support.test_settings(database_url, allow_private_networks=False, api_max_body_bytes=4096)
    write = await token(db, "write")
    try:
        async with api_client(cfg) as client:
            private = await client.post(
                "/api/v1/jobs",
                headers=write,
                json={"targets": ["https://ok.example/", "http://127.0.0.1:8080/admin", "http://localhost/"]},
            )
            error = assert_error(private, 422, "forbidden_target")
            assert set(error["fields"]) == {"targets.1", "targets.2"}  # type: ignore[arg-type]
            bad = await client.post(
                "/api/v1/jobs", headers=write, json={"targets": ["https://a.example/"], "max_pages": 0}
            )
            assert "max_pages" in assert_error(bad, 422, "invalid")["fields"]  # type: ignore[operator]
            assert_error(
                await client.post(
                    "/api/v1/jobs", headers={**write, "Content-Type": "application/json"}, content=b"{not json"
                ),
                422,
            )
            big = {"source_types": ["inline"], "leads": [{"company_name": "x" * 100}] * 100}
            assert_error(await client.post("/api/v1/jobs", headers=write, json=big), 413, "too_large")
            assert_error(await client.get("/api/v1/nothing", headers=write), 404)
            # What PostgreSQL cannot store or compare is the client's input, never a 500:
            nul = await client.post(
                "/api/v1/jobs",
                headers=write,
                json={"source_types": ["inline"], "leads": [{"company_name": "a\u0000b"}]},
            )
            assert "leads.0.company_name" in assert_error(nul, 422)["fields"]  # type: ignore[operator]
            assert_error(await client.get("/api/v1/jobs", params={"user_id": "a\x00"}, headers=write), 422)
            assert_error(
                await client.get("/api/v1/jobs", params={"since": "0001-01-01T00:00:00+14:00"}, headers=write), 422
            )
            assert_error(await client.get("/api/v1/jobs/not-a-uuid", headers=write), 422)
            assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 0
    finally:
        await support.delete_queues(cfg)


async def test_broker_down_is_503_and_the_row_waits(database_url: str, db: Database) -> None:
    cfg = support.test_settings(database_url, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    write = await token(db, "write")
    async with api_client(cfg) as client:
        answer = await client.post(
            "/api/v1/jobs",
            headers={**write, "Idempotency-Key": "down"},
            json={"source_types": ["inline"], "leads": [{"company_name": "Acme"}]},
        )
        assert_error(answer, 503, "unavailable")
        assert (await client.get("/readyz")).status_code == 503
    assert await db.fetchval("SELECT status FROM scrape_jobs") == "queued"


async def test_a_connection_the_broker_closed_is_opened_again_not_a_503(
    settings: Settings, db: Database, private_rabbit: support.PrivateRabbit
) -> None:
    # The node closing the API's connection (a node of a cluster stopped or killed) leaves an aio-pika
    # connection whose is_closed stays False: the next submission must still go to a fresh connection,
    # not fail with a 503 and leave its job to the stuck-job sweep minutes later.
    cfg = settings.model_copy(update={"amqp_url": private_rabbit.url()})
    queue = Topology.from_settings(cfg).work_queue("scrape")
    write = await token(db, "write")
    body = {"source_types": ["inline"], "leads": [{"company_name": "Acme"}]}
    try:
        async with api_client(cfg) as client:
            assert (await client.post("/api/v1/jobs", headers=write, json=body)).status_code == 202
            await asyncio.to_thread(private_rabbit.close_connections, "node going away")
            await asyncio.sleep(0.5)  # the close reaches the client
            answer = await client.post("/api/v1/jobs", headers=write, json=body)
            assert answer.status_code == 202, answer.text
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["broker"] is True, ready.text
        assert await support.queue_depth(cfg, queue) == 2, "both jobs' messages are in the work queue"
    finally:
        await support.delete_queues(cfg)


async def test_a_broker_that_confirms_nothing_is_a_503_in_bounded_time(
    settings: Settings, db: Database, private_rabbit: support.PrivateRabbit
) -> None:
    # A memory alarm blocks every publisher (as quorum queues without a majority confirm nothing): the request
    # must not hang until the broker recovers. It answers 503 and the job waits, stored, for the sweep.
    cfg = settings.model_copy(update={"amqp_url": private_rabbit.url(), "api_confirm_timeout": 1.5})
    write = await token(db, "write")
    job_id = uuid.uuid4()
    body = {"source_types": ["inline"], "leads": [{"company_name": "Acme"}]}
    try:
        async with api_client(cfg) as client:
            assert (await client.post("/api/v1/jobs", headers=write, json=body)).status_code == 202
            await asyncio.to_thread(private_rabbit.ctl, "set_vm_memory_high_watermark", "0.000001")
            await support.wait_for(
                lambda: "memory" in private_rabbit.ctl("eval", "rabbit_alarm:get_alarms()."), timeout=30, what="alarm"
            )
            started = asyncio.get_running_loop().time()
            blocked = {**body, "job_id": str(job_id)}
            answer = await asyncio.wait_for(client.post("/api/v1/jobs", headers=write, json=blocked), 30)
            assert answer.status_code == 503, answer.text
            assert "not confirmed within 1.5 s" in answer.json()["error"]["message"]
            assert asyncio.get_running_loop().time() - started < 10
        assert await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", job_id) == "queued"
    finally:
        await asyncio.to_thread(private_rabbit.ctl, "set_vm_memory_high_watermark", "0.4")
        await support.wait_for(
            lambda: "memory" not in private_rabbit.ctl("eval", "rabbit_alarm:get_alarms()."), timeout=30, what="clear"
        )
        await support.delete_queues(cfg)


async def test_api_and_tokens_commands(settings: Settings) -> None:
    created = await asyncio.to_thread(support.run_cli, settings, "tokens", "create", "ci", "--scope", "admin", "--json")
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    assert issued["name"] == "ci" and issued["scope"] == "admin" and issued["token"].startswith("lw_")
    listed = await asyncio.to_thread(support.run_cli, settings, "tokens", "list", "--json")
    assert issued["token"] not in listed.stdout and json.loads(listed.stdout)[0]["name"] == "ci"
    port = support.free_port()
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("api", "--port", str(port)),
        env=support.cli_env(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await support.wait_for(lambda: _answers(base + "/healthz"), timeout=30, what="api up")
        async with httpx.AsyncClient(base_url=base) as client:
            spec = (await client.get("/openapi.json")).json()
            assert "/api/v1/jobs" in spec["paths"] and (await client.get("/docs")).status_code == 200
            auth = {"Authorization": f"Bearer {issued['token']}"}
            assert (await client.get("/api/v1/jobs", headers=auth)).json() == {"jobs": [], "next": None}
            revoked = await asyncio.to_thread(support.run_cli, settings, "tokens", "revoke", "ci")
            assert revoked.returncode == 0, revoked.stderr
            bound = settings.api_token_cache_seconds
            assert f"within {bound:g} s" in revoked.stderr

            async def refused() -> bool:
                return (await client.get("/api/v1/jobs", headers=auth)).status_code == 401

            # The API process trusted the token it had seen valid for at most the cache's seconds.
            await support.wait_for(refused, timeout=bound + 1, interval=0.2, what="the revoked token refused")
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()


def _answers(url: str) -> bool:
    try:
        return support.http_get(url)[0] == 200
    except OSError:
        return False


async def test_schemathesis_finds_no_server_error(settings: Settings, db: Database, tmp_path: Path) -> None:
    """A bounded schemathesis run against the served /openapi.json, with an admin token: no 5xx, every response
    as the schema says (the error shape included)."""
    admin = (await token(db, "admin"))["Authorization"]
    port = support.free_port()
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("api", "--port", str(port)),
        env=support.cli_env(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await support.wait_for(lambda: _answers(base + "/healthz"), timeout=30, what="api up")
        run = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "13",
            # one worker: schemathesis 4's coverage phase is not thread-safe (hypothesis' lambda cache)
            "--header",
            f"Authorization: {admin}",
            "--workers",
            "1",
            "--exclude-path",
            "/api/v1/events",  # a stream that never ends; test_event_stream covers it
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await asyncio.wait_for(run.communicate(), 240)
        (tmp_path / "schemathesis.out").write_bytes(output)
        assert run.returncode == 0, output.decode()[-12000:]
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def test_operations_dead_letters_queues_and_stats(settings: Settings, db: Database) -> None:
    admin, write = await token(db, "admin"), await token(db, "write")
    async with api_client(settings) as client:
        queues = await client.get("/api/v1/queues", headers=write)  # declares the topology through the API
        assert queues.status_code == 200, queues.text
        topology = await support.declare(settings)
        await support.publish_raw(settings, topology.work_queue("scrape"), b"not json", message_id="poison-1")
        await support.run_until_idle(settings, ("scrape",), idle=0.6)
        assert_error(await client.get("/api/v1/dead-letters", headers=write), 403, "forbidden")
        listed = (await client.get("/api/v1/dead-letters", params={"queue": "scrape"}, headers=admin)).json()
        assert [d["message_id"] for d in listed["dead_letters"]] == ["poison-1"]
        assert listed["dead_letters"][0]["kind"] == "invalid_message"
        scrape = next(
            q
            for q in (await client.get("/api/v1/queues", headers=write)).json()["queues"]
            if q["queue"] == topology.work_queue("scrape")
        )
        assert scrape["dead_letters"] == 1
        assert_error(await client.get("/api/v1/dead-letters", params={"queue": "nope"}, headers=admin), 422)
        replayed = await client.post("/api/v1/dead-letters/replay", json={"queue": "scrape"}, headers=admin)
        assert replayed.json() == {"replayed": 1}
        assert await support.queue_depth(settings, topology.work_queue("scrape")) == 1
        await support.run_until_idle(settings, ("scrape",), idle=0.6)
        purged = await client.post("/api/v1/dead-letters/purge", json={"queue": "scrape"}, headers=admin)
        assert purged.json() == {"purged": 1}
        stats = (await client.get("/api/v1/stats", params={"since": "1h"}, headers=write)).json()
        assert stats["window_seconds"] == 3600 and "by_status" in stats
        assert_error(await client.get("/api/v1/stats", params={"since": "soon"}, headers=write), 422)


async def test_workers_register_and_are_listed(settings: Settings, db: Database) -> None:
    read = await token(db, "read")
    async with api_client(settings) as client, support.running_worker(settings, ("scrape", "normalize")):
        listed = (await client.get("/api/v1/workers", headers=read)).json()["workers"]
        await support.wait_for(lambda: _registered(client, read), timeout=10, what="worker registered")
        listed = (await client.get("/api/v1/workers", headers=read)).json()["workers"]
        assert len(listed) == 1 and listed[0]["state"] == "running" and listed[0]["pid"] == os.getpid()
        assert listed[0]["stages"] == ["scrape", "normalize"] and listed[0]["version"]
        shown = await asyncio.to_thread(support.run_cli, settings, "workers", "--json")
        assert shown.returncode == 0, shown.stderr
        assert [w["pid"] for w in json.loads(shown.stdout)["workers"]] == [os.getpid()]
    async with api_client(settings) as client:
        assert (await client.get("/api/v1/workers", headers=read)).json()["workers"] == []
        stopped = (await client.get("/api/v1/workers", params={"include_stopped": "true"}, headers=read)).json()
        assert [w["state"] for w in stopped["workers"]] == ["stopped"]


async def _registered(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    return bool((await client.get("/api/v1/workers", headers=headers)).json()["workers"])


@pytest.mark.pgbouncer
async def test_event_stream_shows_transitions_and_resumes(settings: Settings, db: Database) -> None:
    """Over TCP (uvicorn): a job's transitions arrive as they commit (LISTEN/NOTIFY), and a client that
    reconnects with Last-Event-ID gets the events it missed, once."""
    read, write = await token(db, "read"), await token(db, "write")
    port = support.free_port()
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("api", "--port", str(port)),
        env=support.cli_env(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await support.wait_for(lambda: _answers(base + "/healthz"), timeout=30, what="api up")
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert_error(await client.get("/api/v1/events"), 401)
            assert_error(await client.get("/api/v1/events", headers={**read, "Last-Event-ID": "x"}), 422)
            seen: list[tuple[int, str]] = []
            async with client.stream("GET", "/api/v1/events", headers=read) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                submitted = await client.post(
                    "/api/v1/jobs",
                    headers=write,
                    json={"source_types": ["inline"], "leads": [{"company_name": "Acme", "website": "acme.example"}]},
                )
                job_id = submitted.json()["job_id"]
                worker = asyncio.create_task(
                    support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
                )
                progress: list[dict[str, Any]] = []
                async for event in _events(stream):
                    assert event["data"]["job_id"] == job_id
                    if event["event"] == "job.progress":  # enrichment progress: no id, not resumable
                        progress.append(event["data"])
                        if event["data"]["enriched_at"] is not None:
                            break
                        continue
                    seen.append((int(event["id"]), event["event"]))
                await worker
            assert [name for _, name in seen] == ["job.queued", "job.running", "job.completed"]
            assert progress[-1]["scored"] == 1 and progress[-1]["normalized"] == 1
            first = seen[0][0]
            async with client.stream(
                "GET", "/api/v1/events", params={"job_id": job_id}, headers={**read, "Last-Event-ID": str(first)}
            ) as resumed:
                again = []
                async for event in _events(resumed):
                    again.append(int(event["id"]))
                    if len(again) == 2:
                        break
            assert again == [i for i, _ in seen[1:]]
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The server-sent events of a streamed response: ``{"id", "event", "data"}`` (comments skipped)."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            event[field] = json.loads(value) if field == "data" else value


async def test_retry_takes_the_parked_message_instead_of_duplicating_it(settings: Settings, db: Database) -> None:
    admin = await token(db, "admin")
    async with api_client(settings) as client:
        submitted = await client.post(
            "/api/v1/jobs",
            headers=admin,
            json={"source_types": ["directory:no-such-recipe"], "search_query": "plumbers"},
        )
        job_id = submitted.json()["job_id"]
        await support.run_until_idle(settings, ("scrape",), idle=0.6)
        shown = (await client.get(f"/api/v1/jobs/{job_id}", headers=admin)).json()
        assert shown["status"] == "failed", shown
        parked = (await client.get("/api/v1/dead-letters", params={"queue": "scrape"}, headers=admin)).json()
        assert [d["message_id"] for d in parked["dead_letters"]] == [job_id]
        retried = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=admin)
        assert retried.status_code == 200 and retried.json()["status"] == "queued" and retried.json()["attempts"] == 0
        topology = await support.declare(settings)
        work = topology.work_queue("scrape")
        assert await support.queue_depth(settings, topology.dead_queue(work)) == 0
        assert await support.queue_depth(settings, work) == 1


async def test_inbound_webhook_becomes_one_inline_job(settings: Settings, db: Database, tmp_path: Path) -> None:
    sources = tmp_path / "inbound.yaml"
    sources.write_text(
        "hubspot:\n  secret: s3cret-s3cret-s3cret\n  signature_header: X-Signature\n  event_id: eventId\n"
        "  fields:\n    company_name: properties.company\n    emails: properties.email\n"
        "    website: properties.website\n"
    )
    cfg = settings.model_copy(update={"inbound_sources": sources})
    event = {
        "eventId": 4711,
        "properties": {
            "company": "Acme Plumbing",
            "email": "info@acme.example",
            "website": "acme.example",
            "ignored": "x",
        },
    }
    body = json.dumps(event).encode()
    signature = hmac.new(b"s3cret-s3cret-s3cret", body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    async with api_client(cfg) as client:
        assert_error(await client.post("/api/v1/inbound/hubspot", content=body, headers=headers), 401)
        assert_error(
            await client.post("/api/v1/inbound/hubspot", content=body, headers={**headers, "X-Signature": "0" * 64}),
            401,
        )
        assert_error(await client.post("/api/v1/inbound/nope", content=body, headers=headers), 404)
        first = await client.post(
            "/api/v1/inbound/hubspot", content=body, headers={**headers, "X-Signature": f"sha256={signature}"}
        )
        assert first.status_code == 202, first.text
        job = first.json()
        assert job["criteria"]["source_types"] == ["inline"]
        assert job["criteria"]["leads"][0]["company_name"] == "Acme Plumbing"
        repeat = await client.post(
            "/api/v1/inbound/hubspot", content=body, headers={**headers, "X-Signature": signature}
        )
        assert repeat.status_code == 200 and repeat.json()["job_id"] == job["job_id"]
        no_id = json.dumps({"properties": {"company": "x"}}).encode()
        signed = hmac.new(b"s3cret-s3cret-s3cret", no_id, hashlib.sha256).hexdigest()
        assert_error(
            await client.post("/api/v1/inbound/hubspot", content=no_id, headers={**headers, "X-Signature": signed}), 422
        )
    assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 1
    await support.run_until_idle(settings, ("scrape",), idle=0.6)
    assert await support.jobs_reached(db, [uuid.UUID(job["job_id"])], "completed")


async def test_export_takes_the_filters_of_the_list(settings: Settings, db: Database) -> None:
    """``/leads/export`` selects what ``GET /leads`` lists for the same filters (country and q included), a
    page at a time (pages of two here: none lost, none twice)."""
    from leadworker.store.lead_export import stream_lead_pages

    def lead(name: str, country: str, email: str, website: str | None = None) -> dict[str, Any]:
        return {"company_name": name, "country": country, "emails": [email], "website": website}

    first = {
        "source_types": ["inline"],
        "leads": [
            lead("Acme Plumbing", "US", "info@acme-plumbing.example", "acme-plumbing.example"),
            lead("Berliner Klempner", "DE", "post@klempner-berlin.example", "klempner-berlin.example"),
            lead("Hamburg Heizung", "DE", "hallo@heizung-hh.example", "heizung-hh.example"),
            lead("Zeta Roofing", "US", "zeta.roofing@gmail.com"),
        ],
    }
    second = {"source_types": ["inline"], "leads": [lead("Munich Plumbing 50%_off", "DE", "x@plumb-muc.example")]}
    read = await token(db, "write")
    async with api_client(settings) as client:
        jobs = []
        for body in (first, second):
            answer = await client.post("/api/v1/jobs", headers=read, json=body)
            assert answer.status_code == 202, answer.text
            jobs.append(answer.json()["job_id"])
        await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)

        async def names(path: str, params: dict[str, Any]) -> list[str]:
            if path == "/api/v1/leads":
                answer = await client.get(path, params={**params, "limit": 500}, headers=read)
                assert answer.status_code == 200, answer.text
                return [row["company_name"] for row in answer.json()["leads"]]
            answer = await client.get(path, params={**params, "format": "jsonl"}, headers=read)
            assert answer.status_code == 200, answer.text
            return [json.loads(line)["company_name"] for line in answer.text.splitlines()]

        everyone = await names("/api/v1/leads", {})
        assert len(everyone) == 5, everyone
        segment = (await client.get("/api/v1/leads", headers=read)).json()["leads"][0]["segment"]
        cases: list[tuple[dict[str, Any], set[str] | None]] = [
            ({"country": "de"}, {"Berliner Klempner", "Hamburg Heizung", "Munich Plumbing 50%_off"}),
            ({"q": "PLUMB"}, {"Acme Plumbing", "Munich Plumbing 50%_off"}),
            ({"q": "gmail"}, {"Zeta Roofing"}),
            ({"q": "heizung-hh"}, {"Hamburg Heizung"}),
            ({"q": "50%_"}, {"Munich Plumbing 50%_off"}),
            ({"q": "g Berlin"}, set()),  # spans the name and the domain: not in any one of them
            ({"country": "us", "q": "acme"}, {"Acme Plumbing"}),
            ({"job_id": jobs[1]}, {"Munich Plumbing 50%_off"}),
            ({"job_id": jobs[0], "country": "DE", "q": "berlin"}, {"Berliner Klempner"}),
            ({"segment": segment}, None),
            ({"min_score": 1}, None),
        ]
        for params, expected in cases:
            listed = await names("/api/v1/leads", params)
            exported = await names("/api/v1/leads/export", params)
            assert sorted(exported) == sorted(listed), params
            if expected is not None:
                assert set(listed) == expected, params
        assert_error(await client.get("/api/v1/leads/export", params={"q": "a\x00"}, headers=read), 422)
        assert_error(await client.get("/api/v1/leads", params={"q": "Klempner\nklempner"}, headers=read), 422)
        assert_error(await client.get("/api/v1/leads/export", params={"country": "DEU"}, headers=read), 422)

    paged = [r["company_name"] async for page in stream_lead_pages(db, country="DE", batch=2) for r in page]
    assert paged == [n for n in everyone if n in {"Berliner Klempner", "Hamburg Heizung", "Munich Plumbing 50%_off"}]
    assert [r["company_name"] async for page in stream_lead_pages(db, batch=2) for r in page] == everyone


async def test_stop_signal_ends_open_event_streams(settings: Settings, db: Database) -> None:
    """SIGTERM with an event stream open: the stream ends and the process exits 0 at once, not after the
    shutdown grace (30 s here) that uvicorn gives requests in flight."""
    read = await token(db, "read")
    port = support.free_port()
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("api", "--port", str(port)),
        env={**support.cli_env(settings), "LEADWORKER_SHUTDOWN_GRACE": "30"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await support.wait_for(lambda: _answers(base + "/healthz"), timeout=30, what="api up")
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as client,
            client.stream("GET", "/api/v1/events", headers=read) as stream,
        ):
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(": leadworker job events")
            stopped = asyncio.get_running_loop().time()
            process.terminate()
            rest = [line async for line in lines]  # the stream ends (it would wait on the server otherwise)
            assert all(not line or line.startswith(":") for line in rest), rest
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, stderr.decode()
        assert asyncio.get_running_loop().time() - stopped < 10
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
