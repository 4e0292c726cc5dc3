"""``leadworker demo``: the real pipeline, end to end, on a bundled sample site served on 127.0.0.1.

Migrates the database, serves three small company sites and a sample business directory (resolved to
127.0.0.1 through the resolver override), publishes a ``website`` job per site, a ``directory:demo-directory``
job that reads the directory with the bundled example recipe (and crawls each result's website), and an
``inline`` job with CRM records, runs a worker with every stage until it is idle, and prints the jobs, the
canonical leads they were merged into (scored and segmented) and the signed webhooks a local receiver got.
The demo uses its own queue prefix (``demo.``) so it never touches a production topology on the same broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from leadworker.common.text_table import table_lines
from leadworker.common.webhook_events import destination_secret
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.demo.server import SiteServer
from leadworker.ops.serving import serve_app

DEMO_DIR = Path(__file__).parent
SITE_DIR = DEMO_DIR / "site"
LEADS_FILE = DEMO_DIR / "leads.jsonl"

_GEOGRAPHY = {
    "acme-plumbing.test": ("Portland, US", "plumbing"),
    "brightsmile-dental.test": ("London, United Kingdom", "dentistry"),
    "nordlicht-solar.test": ("Hamburg, Germany", "solar"),
}
DIRECTORY_HOST = "bizdirectory.test"
DIRECTORY_RECIPE = "demo-directory"


def demo_jobs(server: SiteServer) -> list[ScrapeJob]:
    jobs = []
    for host in server.hosts:
        if host not in _GEOGRAPHY:
            continue
        geography, industry = _GEOGRAPHY[host]
        jobs.append(
            ScrapeJob(
                job_id=uuid.uuid4(),
                source_types=["website"],
                targets=[server.url(host)],
                max_pages=10,
                geography=geography,
                industry=industry,
                keywords=[industry] if industry else [],
            )
        )
    jobs.append(
        ScrapeJob(
            job_id=uuid.uuid4(),
            source_types=[f"directory:{DIRECTORY_RECIPE}"],
            search_query="local services",
            max_pages=10,
            user_id="directory-demo",
        )
    )
    leads = [
        LeadRecord.model_validate(json.loads(line))
        for line in LEADS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    jobs.append(ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=leads, user_id="crm-import"))
    return jobs


class DemoWebhookReceiver:
    """Receives the demo's webhooks on 127.0.0.1 and checks their signatures as the README shows, with the key
    of its own URL (what ``leadworker webhooks secret URL`` prints for it)."""

    def __init__(self, master_secret: str) -> None:
        self.master_secret = master_secret
        """What the worker has as ``LEADWORKER_WEBHOOK_SECRET``."""
        self.secret = ""
        """This destination's key, known once the receiver knows its URL."""
        self.events: list[tuple[str, str, bool]] = []
        """``(event, job id, signature valid)``"""
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner, port = await serve_app(app)
        self.url = f"http://127.0.0.1:{port}/webhook"
        self.secret = destination_secret(self.master_secret, self.url)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Leadworker-Timestamp", "0")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        valid = (
            hmac.compare_digest(expected, request.headers.get("X-Leadworker-Signature", ""))
            and abs(time.time() - int(timestamp)) < 300
        )
        job_id = str(json.loads(body).get("job", {}).get("id"))
        self.events.append((request.headers.get("X-Leadworker-Event", "?"), job_id, valid))
        return web.Response(text="ok")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _print_next_steps(base: Settings) -> None:
    print("next: leadworker leads export --format jsonl --min-score 80 | head -1;  leadworker leads show ID")
    address = f"http://{base.api_host}:{base.api_port}"
    print(
        f"dashboard and HTTP API: leadworker tokens create me --scope admin; leadworker api  -> open {address}/ "
        f"and sign in with the token (jobs, leads, dead letters, workers, live status: see the README's Dashboard "
        f"section); the API's docs are at {address}/docs"
    )


async def run_demo(base: Settings, *, serve: bool = False) -> int:
    """Run the demo; return the exit code (0 if every job completed)."""
    from leadworker.broker.producer import publish_jobs
    from leadworker.ops.connections import database, publishing
    from leadworker.store.jobs import job_outcomes
    from leadworker.store.lead_export import leads_of_jobs
    from leadworker.store.migrate import migrate
    from leadworker.worker import AVAILABLE_STAGES, Worker

    server = SiteServer(SITE_DIR)
    await server.start()
    receiver = DemoWebhookReceiver(secrets.token_hex(16))
    await receiver.start()
    settings = base.model_copy(
        update={
            "queue_prefix": base.queue_prefix or "demo.",
            "allow_private_networks": True,
            "resolve": {**base.resolve, **{h: "127.0.0.1" for h in server.hosts}},
            "metrics_port": 0,
            "retry_backoff": [1.0, 2.0, 5.0],
            # The sample sites' .test names exist only in the override above: DNS would call their e-mails invalid.
            "verify_emails": base.verify_emails and bool(base.dns_servers),
            "webhook_url": receiver.url,
            "webhook_secret": receiver.master_secret,
            # The bundled recipe points at bizdirectory.test; the demo serves it on a port of its own.
            "recipe_base_urls": {**base.recipe_base_urls, DIRECTORY_RECIPE: server.url(DIRECTORY_HOST).rstrip("/")},
        }
    )
    try:
        print(f"sample sites on 127.0.0.1:{server.port}: {', '.join(server.hosts)}")
        applied = await migrate(settings.session_database_url)
        if applied:
            print(f"database migrated: {', '.join(applied)}")
        jobs = demo_jobs(server)
        worker = Worker(settings, list(AVAILABLE_STAGES), exit_when_idle=1.5)
        async with database(settings) as db:
            async with publishing(settings, worker.topology) as (_, topology, publisher):
                await publish_jobs(db, publisher, topology, jobs)
            print(f"published {len(jobs)} jobs; running the worker until it is idle...\n")
            await worker.run()

            outcomes = await job_outcomes(db, [job.job_id for job in jobs])
            found = await leads_of_jobs(db, [job.job_id for job in jobs])
        rows: list[list[Any]] = []
        for job in jobs:
            row = outcomes[job.job_id]
            label = (
                job.targets[0]
                if job.targets
                else f"inline ({len(job.leads)} records)"
                if job.leads
                else ", ".join(job.source_types)
            )
            rows.append(
                [
                    str(job.job_id)[:8],
                    label,
                    row["status"],
                    row.get("pages"),
                    row.get("found"),
                    row.get("new"),
                    row.get("duplicates"),
                    row.get("error") or "",
                ]
            )
        all_completed = all(row["status"] == "completed" for row in outcomes.values())
        lead_rows = [
            [
                lead["id"],
                lead["company_name"] or "",
                "\n".join(lead["emails"]),
                "\n".join(lead["phones"]),
                lead["country"] or "",
                lead["sources"],
                lead["score"],
                lead["segment"] or "",
            ]
            for lead in found
        ]
        print("jobs")
        print_table(rows, ["job", "target", "status", "pages", "found", "new", "dup", "error"])
        print("\ncanonical leads (merged across jobs and sources; score for the latest job that scored them)")
        print_table(
            _flatten(lead_rows), ["lead", "company", "emails", "phones", "country", "sources", "score", "segment"]
        )
        ours = {str(job.job_id) for job in jobs}
        events = [(event, ok) for event, job_id, ok in receiver.events if job_id in ours]
        valid = sum(1 for _, ok in events if ok)
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(_count(e for e, _ in events).items()))
        print(f"\nwebhooks received: {len(events)} ({kinds}); {valid} with a valid signature")
        _print_next_steps(base)
        if serve:
            print(f"\nserving the sample sites until interrupted (resolve: {server.resolve_override()})")
            await asyncio.Event().wait()
        return 0 if all_completed else 1
    finally:
        await receiver.stop()
        await server.stop()


def print_table(rows: list[list[Any]], headers: list[str]) -> None:
    for line in table_lines(rows, headers):
        print(line)


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _flatten(rows: list[list[Any]]) -> list[list[Any]]:
    """One table line per e-mail/phone so that multi-valued cells stay readable."""
    out: list[list[Any]] = []
    for row in rows:
        parts = [str(cell).split("\n") if isinstance(cell, str) else [cell] for cell in row]
        height = max(len(p) for p in parts)
        for i in range(height):
            out.append([p[i] if i < len(p) else ("" if i else None) for p in parts])
    return out
