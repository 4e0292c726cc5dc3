"""The dashboard's pages over HTTP (in process, real PostgreSQL and RabbitMQ): keyset pages, filter and form
errors named by field, a form sent twice makes one job, the charts drawn from finished jobs, purge asks for a
confirmation, and none of it in the API's OpenAPI schema."""

from __future__ import annotations

import asyncio
import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import httpx

import support
from leadworker.api.app import create_app
from leadworker.broker import dlq
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store import tokens as tokenstore
from leadworker.store.migrate import load_migrations
from leadworker.store.pool import Database

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
INLINE = {"source_types": ["inline"], "leads": [{"company_name": "Acme", "website": "acme.example"}]}


@asynccontextmanager
async def signed_in(settings: Settings, db: Database, scope: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in to the dashboard (session cookie held), and the session's CSRF token."""
    app = create_app(settings)
    value = await tokenstore.create_token(db, f"{scope}-{uuid.uuid4().hex[:6]}", scope)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dash.test") as client:
            form = await client.get("/login")
            signin_csrf = CSRF.search(form.text)
            assert signin_csrf is not None
            answer = await client.post("/login", data={"csrf_token": signin_csrf.group(1), "token": value})
            assert answer.status_code == 303, answer.text
            page = await client.get("/jobs")
            csrf = CSRF.search(page.text)
            assert csrf is not None
            client.headers["Authorization"] = f"Bearer {value}"  # for the API calls; pages use the cookie
            yield client, csrf.group(1)


def problems(page: httpx.Response) -> list[str]:
    return [html.unescape(p) for p in re.findall(r'class="problem"[^>]*>([^<]+)<', page.text)]


async def test_pages_are_out_of_the_schema_and_carry_the_csp(settings: Settings, db: Database) -> None:
    async with signed_in(settings, db, "admin") as (client, _):
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if not p.startswith("/api/") and p not in ("/healthz", "/readyz", "/metrics")]
        for path in ("/", "/jobs", "/leads", "/dead-letters", "/workers", "/login"):
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
            assert "<script>" not in page.text and " on" + "load=" not in page.text  # no inline script of ours
        assert (await client.get("/static/app.js")).headers["content-type"].startswith("text/javascript")
        # The icon every page links, and the one a browser asks for by itself: no 404 in the console.
        icon = re.search(r'<link rel="icon" href="([^"]+)"', page.text)
        assert icon is not None
        for path in (icon.group(1), "/favicon.ico"):
            answer = await client.get(path, follow_redirects=True)
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml", path
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dash.test") as anonymous:
            for path in ("/", "/jobs", "/live/events", f"/jobs/{uuid.uuid4()}/leads.csv", f"/jobs/{uuid.uuid4()}/row"):
                answer = await anonymous.get(path)
                assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path


async def test_jobs_in_keyset_pages_and_filters_named(settings: Settings, db: Database) -> None:
    async with signed_in(settings, db, "write") as (client, _):
        batch = await client.post("/api/v1/jobs/batch", json={"jobs": [INLINE] * 120})
        assert batch.status_code == 202, batch.text
        ids = {j["job_id"] for j in batch.json()["jobs"]}
        seen: list[str] = []
        url = "/jobs?status=queued"
        pages = 0
        while url:
            page = await client.get(url)
            assert page.status_code == 200
            rows = re.findall(r'data-job-row="([0-9a-f-]{36})"', page.text)
            assert len(rows) <= 50, url
            assert rows, (url, problems(page))
            seen += rows
            pages += 1
            following = re.search(r'rel="next" href="([^"]+)"', page.text)
            url = html.unescape(following.group(1)) if following else ""
        assert (pages, len(seen)) == (3, 120) and set(seen) == ids
        sideways = await client.get("/jobs?status=sideways")
        assert sideways.status_code == 422 and "status: 'sideways' is not a job status" in problems(sideways)
        assert any(p.startswith("since: 'yesterday'") for p in problems(await client.get("/jobs?since=yesterday")))
        assert any(p.startswith("cursor:") for p in problems(await client.get("/jobs?cursor=garbage")))
        leads = await client.get("/leads?min_score=lots&country=USA")
        assert leads.status_code == 422
        assert {p.split(":")[0] for p in problems(leads)} == {"min_score", "country"}


async def test_a_form_sent_twice_makes_one_job(settings: Settings, db: Database) -> None:
    async with signed_in(settings, db, "write") as (client, csrf):
        form = {"csrf_token": csrf, "targets": "https://a.example/", "idempotency_key": "k" * 32, "max_pages": "3"}
        first = await client.post("/jobs", data=form)
        again = await client.post("/jobs", data=form)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 1
        topology = await support.declare(settings)
        assert await support.queue_depth(settings, topology.work_queue("scrape")) == 1
        bad = await client.post("/jobs", data={**form, "idempotency_key": "other", "max_pages": "many"})
        assert bad.status_code == 422
        assert any(p.startswith("max_pages:") for p in problems(bad))
        assert 'value="many"' in bad.text  # what was typed, kept


async def test_overview_charts_and_purge_confirmation(settings: Settings, db: Database) -> None:
    async with signed_in(settings, db, "admin") as (client, csrf):
        assert (await client.post("/api/v1/jobs/batch", json={"jobs": [INLINE] * 3})).status_code == 202
        failing = {"source_types": ["directory:no-such-recipe"], "search_query": "plumbers"}
        assert (await client.post("/api/v1/jobs", json=failing)).status_code == 202
        await support.run_until_idle(settings, ("scrape",), idle=0.6)
        overview = await client.get("/")
        assert overview.status_code == 200
        assert overview.text.count('class="bar completed"') == 2  # the hour's bucket and the day's
        assert overview.text.count('class="bar failed"') == 2
        assert "75.0 % of 4 finished jobs succeeded" in overview.text
        assert "no-such-recipe" in overview.text  # the latest failure with its reason
        letters = await client.get("/dead-letters")
        assert letters.text.count("directory:no-such-recipe") + letters.text.count("no-such-recipe") >= 1
        unconfirmed = await client.post("/dead-letters/purge", data={"csrf_token": csrf, "queue": "scrape"})
        assert unconfirmed.status_code == 422 and "confirm" in unconfirmed.text
        purged = await client.post(
            "/dead-letters/purge", data={"csrf_token": csrf, "queue": "scrape", "confirm": "yes"}
        )
        assert purged.status_code == 303 and purged.headers["location"] == "/dead-letters?queue=scrape&purged=1"
        shown = await client.get(purged.headers["location"])
        assert "purged 1 dead letter" in shown.text
        assert "purged 1" not in (await client.get("/dead-letters?purged=<b>1</b>")).text  # only a number is shown


async def test_cancel_and_retry_buttons(settings: Settings, db: Database) -> None:
    async with signed_in(settings, db, "write") as (client, csrf):
        job_id = (await client.post("/api/v1/jobs", json=INLINE)).json()["job_id"]
        page = await client.get(f"/jobs/{job_id}")
        assert f'action="/jobs/{job_id}/cancel"' in page.text
        cancelled = await client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
        assert cancelled.status_code == 303 and cancelled.headers["location"] == f"/jobs/{job_id}"
        assert await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", uuid.UUID(job_id)) == "cancelled"
        again = await client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
        assert again.status_code == 409 and "only a queued or running job can be cancelled" in html.unescape(again.text)
        retried = await client.post(f"/jobs/{job_id}/retry", data={"csrf_token": csrf})
        assert retried.status_code == 303
        assert await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", uuid.UUID(job_id)) == "queued"
        assert (await client.post(f"/jobs/{job_id}/retry", data={"csrf_token": csrf})).status_code == 409
        missing = await client.post(f"/jobs/{uuid.uuid4()}/cancel", data={"csrf_token": csrf})
        assert missing.status_code == 404
        assert (await client.get("/jobs/not-a-job/leads.csv")).status_code == 404
        assert (await client.post(f"/jobs/{job_id}/cancel")).status_code == 403  # no CSRF token
        await support.run_until_idle(settings, ("scrape",), idle=0.6)
        assert await support.jobs_reached(db, [uuid.UUID(job_id)], "completed")


async def test_a_replay_moves_the_letters_parked_when_it_began_and_no_more(settings: Settings) -> None:
    """A worker that fails a replayed message again parks it at the back of the dead queue while the replay
    still runs: "Replay all" must not take it again (and again), nor a letter parked meanwhile."""
    topology = await support.declare(settings)
    work = topology.work_queue("scrape")
    dead = topology.dead_queue(work)
    await support.publish_raw(settings, dead, b"not json", message_id=str(uuid.uuid4()))
    parked_meanwhile: list[str] = []

    async def fails_again(_: uuid.UUID) -> None:
        if not parked_meanwhile:
            parked_meanwhile.append(str(uuid.uuid4()))
            await support.publish_raw(settings, dead, b"not json", message_id=parked_meanwhile[0])

    connection = await aio_pika.connect(settings.amqp_url)
    try:
        moved = await asyncio.wait_for(dlq.replay_dead(connection, topology, [dead], None, on_job=fails_again), 30)
    finally:
        await connection.close()
    assert moved == 1
    assert await support.queue_depth(settings, work) == 1
    assert [m.message_id for m in await support.queue_messages(settings, dead)] == parked_meanwhile


async def test_a_job_whose_row_the_worker_made_has_its_page(settings: Settings, db: Database) -> None:
    """A producer may publish straight to the broker: the worker then makes the job's row, when it claims the
    job or when it fails it at once (an unknown source, an invalid message). Its criteria are a JSON object
    like a submitted job's, and its page and its API answer show them."""
    topology = await support.declare(settings)
    ran = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[{"company_name": "Raw Co"}])
    unknown = ScrapeJob(job_id=uuid.uuid4(), source_types=["directory:no-such-recipe"], search_query="x")
    invalid_id = uuid.uuid4()
    invalid = {"version": 1, "job_id": str(invalid_id), "targets": ["https://a.example/"], "max_pages": 0}
    bodies = [(ran.job_id, ran.model_dump_json()), (unknown.job_id, unknown.model_dump_json())]
    for job_id, body in [*bodies, (invalid_id, json.dumps(invalid))]:
        await support.publish_raw(settings, topology.work_queue("scrape"), body.encode(), message_id=str(job_id))
    await support.run_until_idle(settings, ("scrape",), idle=0.6)
    async with signed_in(settings, db, "read") as (client, _):
        for job_id, status, sources in (
            (ran.job_id, "completed", "inline"),
            (unknown.job_id, "failed", "directory:no-such-recipe"),
            (invalid_id, "failed", None),
        ):
            row = await db.fetchrow("SELECT status, jsonb_typeof(criteria) kind FROM scrape_jobs WHERE id = $1", job_id)
            assert row is not None and (row["status"], row["kind"]) == (status, "object")
            page = await client.get(f"/jobs/{job_id}")
            assert page.status_code == 200, page.text[:300]
            shown = (await client.get(f"/api/v1/jobs/{job_id}")).json()["criteria"]
            if sources:
                assert f"<dd>{sources}</dd>" in page.text and shown["source_types"] == [sources]
            else:
                assert "<dd>https://a.example/</dd>" in page.text and shown == invalid


async def test_criteria_stored_as_text_before_are_read_and_made_objects(settings: Settings, db: Database) -> None:
    """Rows an older worker wrote (before migration 107, or during a rolling upgrade) are shown all the same,
    and the migration turns them into objects."""
    job = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[{"company_name": "Old Co"}])
    await db.execute(
        "INSERT INTO scrape_jobs (id, status, criteria) VALUES ($1, 'failed', $2::jsonb)",
        job.job_id,
        job.model_dump_json(),  # what the worker wrote: the codec made the text a JSON string
    )
    async with signed_in(settings, db, "write") as (client, csrf):
        page = await client.get(f"/jobs/{job.job_id}")
        assert page.status_code == 200 and "<dd>inline</dd>" in page.text, page.text[:300]
        assert (await client.get(f"/api/v1/jobs/{job.job_id}")).json()["criteria"] == job.criteria()
        retried = await client.post(f"/jobs/{job.job_id}/retry", data={"csrf_token": csrf})
        assert retried.status_code == 303, retried.text[:300]
        assert await db.fetchval("SELECT status FROM scrape_jobs WHERE id = $1", job.job_id) == "queued"
    migration = next(m for m in load_migrations() if m.name == "107_job_criteria_objects")
    await db.execute(migration.sql)
    assert await db.fetchval("SELECT criteria FROM scrape_jobs WHERE id = $1", job.job_id) == job.criteria()
