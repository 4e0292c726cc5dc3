"""``directory:<recipe>`` through the real worker: the bundled example recipe on the demo's sample directory,
bad and unknown recipes, and ``leadworker demo`` itself."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

import support
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.demo import DIRECTORY_HOST, DIRECTORY_RECIPE, run_demo
from leadworker.demo.server import SiteServer
from leadworker.store import jobs as jobstore
from leadworker.store.leads import job_leads
from leadworker.store.pool import Database


async def test_bundled_recipe_reads_the_sample_directory(
    settings: Settings, db: Database, demo_site: SiteServer
) -> None:
    cfg = settings.model_copy(
        update={"recipe_base_urls": {DIRECTORY_RECIPE: demo_site.url(DIRECTORY_HOST).rstrip("/")}}
    )
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=[f"directory:{DIRECTORY_RECIPE}"],
        search_query="plumbers",
        geography="Portland, US",
        max_pages=10,
    )
    await support.publish(cfg, db, [job])

    await support.run_until_idle(cfg)

    row = await jobstore.get_job(db, job.job_id)
    assert row is not None and row["status"] == "completed", dict(row or {})
    leads = await job_leads(db, job.job_id)
    assert {lead["source_type"] for lead in leads} == {f"directory:{DIRECTORY_RECIPE}"}
    records = {lead["record"]["company_name"]: lead["record"] for lead in leads}  # type: ignore[index]
    assert set(records) == {"Acme Plumbing & Heating", "BrightSmile Dental", "Nordlicht Solar GmbH"}
    acme = records["Acme Plumbing & Heating"]
    # From the listing card, the detail page, and the company's own website (follow_website).
    assert acme["categories"] == ["Plumber", "Heating"] and acme["city"] == "Portland"
    assert acme["contact_name"] == "Maria Lopez"
    assert {"office@acme-plumbing.test", "billing@acme-plumbing.test"} <= set(acme["emails"])
    assert set(acme["phones"]) == {"+15035550142", "+15035550199"}
    assert acme["evidence"]["office@acme-plumbing.test"] == demo_site.url(DIRECTORY_HOST, "/listing/acme-plumbing")
    assert acme["evidence"]["+15035550142"].startswith(demo_site.url(DIRECTORY_HOST, "/search"))
    assert acme["evidence"]["billing@acme-plumbing.test"].startswith(demo_site.url("acme-plumbing.test"))
    assert acme["attributes"]["directory"] == DIRECTORY_RECIPE and acme["attributes"]["website_crawled"]
    assert records["Nordlicht Solar GmbH"]["evidence"]["+494030708090"] == demo_site.url(
        DIRECTORY_HOST, "/search/page-2"
    )
    # 2 listing pages + 3 detail pages + the three websites (4 + 3 + 4 pages)
    assert row["pages"] == 2 + 3 + 11


@pytest.mark.parametrize(
    ("recipe", "kind", "words"),
    [
        ("search_url: not-a-url\nresults: .r\nfields: {company_name: h3}", "invalid_recipe", "absolute http(s) URL"),
        (None, "unknown_source", "no directory recipe named 'missing'"),
    ],
)
async def test_bad_recipes_fail_the_job_for_good(
    settings: Settings, db: Database, tmp_path: Path, recipe: str | None, kind: str, words: str
) -> None:
    name = "missing"
    if recipe is not None:
        name = "broken"
        (tmp_path / "broken.yaml").write_text(recipe)
    cfg = settings.model_copy(update={"recipes_dir": tmp_path})
    job = ScrapeJob(job_id=uuid.uuid4(), source_types=[f"directory:{name}"], search_query="x")
    await support.publish(cfg, db, [job])

    await support.run_until_idle(cfg)

    row = await jobstore.get_job(db, job.job_id)
    assert row is not None
    assert (row["status"], row["error_kind"], row["attempts"]) == ("failed", kind, 1)
    assert words in str(row["error"]) and "\n" not in str(row["error"])


async def test_demo_runs_website_directory_and_inline_jobs(
    settings: Settings, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_demo(settings)

    out = capsys.readouterr().out
    assert code == 0, out
    jobs_table = out.split("\njobs\n", 1)[1]
    assert re.search(r"directory:demo-directory\s+completed\s+\d+\s+3\s", jobs_table), jobs_table
    assert re.search(r"inline \(\d+ records\)\s+completed", jobs_table), jobs_table
    assert len(re.findall(r"http://\S+\.test:\d+/\s+completed", jobs_table)) == 3, jobs_table
    # render=auto rendered BrightSmile's contact page, whose booking address only script writes
    found = await db.fetchval(
        "SELECT count(*) FROM raw_leads WHERE source_type = 'website' AND record->'emails' ? $1",
        "bookings@brightsmile-dental.test",
    )
    assert found == 1
