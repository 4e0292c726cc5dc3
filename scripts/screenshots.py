"""Regenerate the dashboard screenshots of the README (docs/dashboard-*.png) with realistic demo data.

    python scripts/screenshots.py            # needs PostgreSQL, RabbitMQ and Chromium, as `make test` does

A throwaway database and queue prefix of its own: the demo's jobs (three company sites, the sample directory, a
CRM import) run through a real worker; a day of history is added by running more inline jobs and some that fail
(an unknown directory recipe), whose times are then spread over the last 24 hours so the charts have a shape.
Then `leadworker api` serves the dashboard and Chromium photographs the overview and a job page (laptop and
phone). Everything it made is removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
# The `leadworker api` it starts runs this checkout too, whatever the interpreter has installed.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))

import support  # noqa: E402
from dashboard_support import chromium, serving_api, sign_in  # noqa: E402
from leadworker.contracts import LeadRecord, ScrapeJob  # noqa: E402
from leadworker.demo import DIRECTORY_HOST, DIRECTORY_RECIPE, demo_jobs  # noqa: E402
from leadworker.demo.server import SiteServer  # noqa: E402
from leadworker.store import tokens  # noqa: E402
from leadworker.store.migrate import migrate  # noqa: E402
from leadworker.store.pool import Database  # noqa: E402
from leadworker.worker import AVAILABLE_STAGES  # noqa: E402

DOCS = ROOT / "docs"
HISTORY_JOBS = 140
FAILING_JOBS = 9


def history(rng: random.Random) -> list[ScrapeJob]:
    jobs = []
    for n in range(HISTORY_JOBS):
        lead = LeadRecord(company_name=f"Sample Trade {n}", website=f"https://sample-{n}.example/", country="US")
        jobs.append(ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[lead], user_id="crm-import"))
    for _ in range(FAILING_JOBS):
        jobs.append(
            ScrapeJob(
                job_id=uuid.uuid4(),
                source_types=["directory:retired-directory"],
                search_query=rng.choice(["plumbers", "dentists", "roofers"]),
                user_id="directory-demo",
            )
        )
    return jobs


async def spread_over_the_day(db: Database, job_ids: list[uuid.UUID], rng: random.Random) -> None:
    """Move finished jobs back in time: busier in the last hour, a working-day hump before it."""
    for job_id in job_ids:
        minutes = rng.uniform(1, 60) if rng.random() < 0.35 else rng.triangular(60, 1440, 500)
        took = rng.uniform(2, 40)
        await db.execute(
            """UPDATE scrape_jobs SET created_at = now() - make_interval(mins => $2),
                      started_at = now() - make_interval(mins => $2) + make_interval(secs => 1),
                      completed_at = now() - make_interval(mins => $2) + make_interval(secs => $3),
                      updated_at = now() - make_interval(mins => $2) + make_interval(secs => $3)
                WHERE id = $1""",
            job_id,
            minutes,
            took,
        )


async def main() -> int:
    rng = random.Random(14)
    admin_url = support.ADMIN_DATABASE_URL
    name = f"lw_screens_{uuid.uuid4().hex[:8]}"
    url = support.database_url_for(admin_url, name)
    server = SiteServer(support.DEMO_SITE)
    await server.start()
    settings = support.test_settings(
        url,
        resolve={h: "127.0.0.1" for h in server.hosts},
        recipe_base_urls={DIRECTORY_RECIPE: server.url(DIRECTORY_HOST).rstrip("/")},
        max_attempts=1,
    )
    await migrate(url)
    db = await Database.connect(url, min_size=1, max_size=3)
    try:
        demo = demo_jobs(server)
        past = history(rng)
        await support.publish(settings, db, past)
        await support.run_until_idle(settings, list(AVAILABLE_STAGES), idle=1.5, timeout=300)
        await spread_over_the_day(db, [j.job_id for j in past], rng)
        await support.publish(settings, db, demo)
        await support.run_until_idle(settings, list(AVAILABLE_STAGES), idle=1.5, timeout=300)
        token = await tokens.create_token(db, "screenshots", "admin")
        api_settings = settings.model_copy(update={"recipe_base_urls": {}})  # the API runs no recipe
        worker = support.running_worker(settings, list(AVAILABLE_STAGES))
        async with worker, serving_api(api_settings) as base, chromium() as browser:
            if True:
                page = await browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
                await sign_in(page, base, token)
                await page.screenshot(path=str(DOCS / "dashboard-overview.png"), full_page=True)
                job = demo[0].job_id  # the acme-plumbing.test site
                await page.goto(f"{base}/jobs/{job}")
                await page.wait_for_selector("#job-leads a.lead-link")
                await page.screenshot(path=str(DOCS / "dashboard-job.png"), full_page=True)
                phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
                await phone.context.add_cookies(await page.context.cookies())
                await phone.goto(f"{base}/jobs/{job}")
                await phone.screenshot(path=str(DOCS / "dashboard-phone.png"))
        print(f"wrote {', '.join(p.name for p in sorted(DOCS.glob('dashboard-*.png')))} in {DOCS}")
        return 0
    finally:
        await db.close()
        await server.stop()
        await support.delete_queues(settings)
        await support.drop_database(admin_url, name)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
