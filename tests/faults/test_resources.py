"""Resources running out under a worker, for real: a full disk under its log and under Chromium's profile
(a 1 MB tmpfs, filled), Chromium killed while it renders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadworld import LoadWorld

import support
from chromium import chromium_processes
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database
from support import WorkerProcess, jobs_reached


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (needs root), filled to the last byte by the file ``filler`` (delete it to free the disk)."""
    if os.geteuid() != 0:
        pytest.fail("the disk-full tests mount a tmpfs: run them as root", pytrace=False)
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mount)], check=True)
    try:
        with (mount / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_under_the_log_loses_lines_not_work(
    fault_settings: Settings, db: Database, world: LoadWorld, full_disk: Path, tmp_path: Path
) -> None:
    """The worker's log (stderr, as journald's or NSSM's file would take it) is on a full disk: the lines are
    lost, the jobs are done all the same and the worker keeps running; once there is space again, logging
    resumes."""
    log = full_disk / "worker.log"
    worker = await WorkerProcess.start(fault_settings, tmp_path, "--stage", "scrape", stderr_path=log)
    try:
        first = world.jobs()[:20]
        await support.publish(fault_settings, db, first)
        await support.wait_for(
            lambda: jobs_reached(db, [j.job_id for j in first]),
            timeout=60,
            what="jobs done while the log's disk is full",
        )
        assert worker.returncode is None
        assert log.stat().st_size == 0, "the disk is full: nothing could be written"

        (full_disk / "filler").unlink()
        later = world.jobs()[20:25]
        await support.publish(fault_settings, db, later)
        await support.wait_for(
            lambda: jobs_reached(db, [j.job_id for j in later]), timeout=60, what="jobs done once the disk has space"
        )
        assert await worker.stop() == 0
    finally:
        worker.kill()
    completed = {line["job_id"] for line in worker.events("job completed")}
    assert {str(j.job_id) for j in later} <= completed, "logging resumes once there is space"


SCRIPTED = """<html><body><h1>Script Co</h1><div id="box">Loading…</div><script>
fetch("/ping").then(function () {
  setTimeout(function () {
    document.getElementById("box").innerHTML = "Write to <a href='mailto:" + "hello" + "@" + "script-co.test'>us</a>";
  }, 1500);
});
</script></body></html>"""
"""A page whose contact only a browser sees, 1.5 s after it asked the site for /ping (the site's hits say when
Chromium is rendering it)."""


def script_co(site: support.ScriptedSite, settings: Settings) -> tuple[Settings, ScrapeJob]:
    site.page("/", SCRIPTED)
    site.page("/ping", "pong")
    cfg = settings.model_copy(
        update={"resolve": {"script-co.test": "127.0.0.1"}, "render_settle": 3.0, "metrics_port": support.free_port()}
    )
    return cfg, ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("script-co.test")], render="browser", max_pages=1)


async def found_emails(db: Database, job: ScrapeJob) -> set[str]:
    rows = await db.fetch(
        """SELECT r.record->'emails' AS emails FROM scrape_job_leads l
                               JOIN raw_leads r ON r.id = l.raw_lead_id WHERE l.job_id = $1""",
        job.job_id,
    )
    return {email for row in rows for email in row["emails"]}


async def test_a_full_disk_under_the_browser_profile(
    fault_settings: Settings,
    db: Database,
    full_disk: Path,
    scripted_site: support.ScriptedSite,
    browser_mark: str,
    spawn: support.Spawn,
) -> None:
    """Chromium's profile, cache and temporary files (TMPDIR and HOME of the worker) are on a full disk: it
    renders all the same (what it needs of them it keeps in memory) and the job finds what only a browser
    sees; the worker goes on."""
    cfg, job = script_co(scripted_site, fault_settings)
    await support.publish(cfg, db, [job])
    worker = await spawn(
        cfg,
        "--stage",
        "scrape",
        TMPDIR=str(full_disk),
        HOME=str(full_disk),
        XDG_CACHE_HOME=str(full_disk),
        XDG_CONFIG_HOME=str(full_disk),
    )
    await support.wait_for(lambda: jobs_reached(db, [job.job_id]), timeout=60, what="the rendered job done")
    assert await found_emails(db, job) == {"hello@script-co.test"}
    assert any(name.startswith("playwright_chromiumdev_profile") for name in os.listdir(full_disk))  # it was
    assert os.statvfs(full_disk).f_bavail == 0, "the disk stayed full"
    assert worker.returncode is None
    assert await worker.stop() == 0
    assert chromium_processes(browser_mark) == []


async def test_chromium_killed_mid_render(
    fault_settings: Settings, db: Database, scripted_site: support.ScriptedSite, browser_mark: str, spawn: support.Spawn
) -> None:
    """Every Chromium process of the worker is killed (-9, as the OOM killer does) while it renders a page:
    the render is tried once more on a fresh browser, the job finds what only the browser sees, the restart
    is counted, and the worker goes on."""
    cfg, job = script_co(scripted_site, fault_settings)
    await support.publish(cfg, db, [job])
    worker = await spawn(cfg, "--stage", "scrape")
    await support.wait_for(lambda: scripted_site.hits.get("/ping", 0) == 1, timeout=60, what="page rendering")
    victims = chromium_processes(browser_mark)
    assert victims
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    await support.wait_for(lambda: jobs_reached(db, [job.job_id]), timeout=60, what="the job done")
    assert await found_emails(db, job) == {"hello@script-co.test"}
    assert scripted_site.hits["/ping"] == 2, "rendered again on a fresh browser"
    assert not set(victims) & set(chromium_processes(browser_mark))
    families = await asyncio.to_thread(support.scrape_metrics, f"http://127.0.0.1:{cfg.metrics_port}/metrics")
    assert support.sample_value(families, "leadworker_browser_restarts_total", reason="disconnected") == 1
    assert await db.fetchval("SELECT attempts FROM scrape_jobs WHERE id = $1", job.job_id) == 1  # no retry tier
    assert worker.returncode is None
    assert await worker.stop() == 0
    assert chromium_processes(browser_mark) == []
