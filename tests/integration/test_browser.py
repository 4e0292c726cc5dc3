"""Rendering with the real Chromium: script-injected contacts, the guard on browser requests, restarts, crashes,
hung pages, and no Chromium process left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid

import pytest

import support
from chromium import chromium_processes
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.ops.metrics import Metrics
from leadworker.scrape.browser import BrowserPool, RenderError
from leadworker.scrape.fetch import Page, StaticFetcher
from leadworker.scrape.guard import NetworkGuard
from leadworker.store.leads import job_leads
from leadworker.store.pool import Database

pytestmark = pytest.mark.browser

HOME = '<html lang="en-GB"><body><h1>Script Co</h1><a href="/contact">Contact</a><p>Tel 020 7946 0000</p></body></html>'
# The e-mail appears 400 ms after load, the phone after a fetch: a static fetch sees neither.
CONTACT = """<html><body><h1>Contact</h1><div id="box">Loading…</div><div id="more"></div>
<script>
setTimeout(function () {
  document.getElementById("box").innerHTML = "Write to <a href='mailto:" + "hello" + "@" + "script-co.test'>us</a>";
}, 400);
fetch("/api/phone.json").then(r => r.json()).then(d => { document.getElementById("more").textContent = d.phone; });
</script></body></html>"""


def metric(metrics: Metrics, name: str, **labels: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def scripted_contact_site(site: support.ScriptedSite) -> None:
    site.page("/", HOME)
    site.page("/contact", CONTACT)
    site.page("/api/phone.json", '{"phone": "+44 20 7946 0123"}')


async def test_auto_render_finds_contacts_that_script_injects(
    settings: Settings, db: Database, browser_mark: str, scripted_site: support.ScriptedSite
) -> None:
    scripted_contact_site(scripted_site)
    cfg = settings.model_copy(update={"resolve": {"script-co.test": "127.0.0.1"}})
    auto = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("script-co.test")], render="auto")
    static = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("script-co.test")], render="static")
    await support.publish(cfg, db, [auto, static])

    worker = await support.run_until_idle(cfg, idle=1.0, timeout=90)

    records = {}
    for job in (auto, static):
        row = await db.fetchrow(
            "SELECT r.record FROM raw_leads r JOIN scrape_job_leads l ON l.raw_lead_id = r.id WHERE l.job_id = $1",
            job.job_id,
        )
        assert row is not None, job.render
        records[job.render] = row["record"]
    assert records["auto"]["emails"] == ["hello@script-co.test"]
    assert set(records["auto"]["phones"]) == {"+442079460000", "+442079460123"}
    assert records["auto"]["evidence"]["hello@script-co.test"].endswith("/contact")
    assert records["static"].get("emails", []) == [] and records["static"]["phones"] == ["+442079460000"]
    assert metric(worker.metrics, "leadworker_pages_fetched_total", mode="browser", status="2xx") >= 1
    assert metric(worker.metrics, "leadworker_pages_fetched_total", mode="static", status="2xx") >= 4
    assert chromium_processes(browser_mark) == []  # the worker closed its browser on the way out


async def test_browser_requests_go_through_the_network_guard(
    browser_mark: str, scripted_site: support.ScriptedSite
) -> None:
    """A public page whose script reaches for private services: nothing private is contacted unless allowed."""
    scripted_site.page("/secret.js", "document.title = 'leaked';")
    scripted_site.page("/api", '{"secret": true}')
    port = scripted_site.port
    html = f"""<html><body><p id="state">started</p>
    <script src="http://internal.test:{port}/secret.js"></script>
    <link rel="stylesheet" href="http://metadata.test:{port}/latest/meta-data/">
    <iframe src="http://internal.test:{port}/api"></iframe>
    <script>
      Promise.allSettled([fetch("http://internal.test:{port}/api"), fetch("http://169.254.169.254/latest/meta-data/"),
                          fetch("http://10.1.2.3:{port}/api")])
        .then(() => {{ document.getElementById("state").textContent = "done"; }});
    </script></body></html>"""
    document = Page(
        url="http://shop.test/", final_url="http://shop.test/", status=200, content_type="text/html", text=html
    )
    overrides = {"shop.test": "93.184.216.34", "internal.test": "127.0.0.1", "metadata.test": "169.254.169.254"}

    async def render(allow_private: bool) -> tuple[str, list[str]]:
        cfg = Settings(
            _env_file=None,
            allow_private_networks=allow_private,
            resolve=overrides,  # type: ignore[call-arg]
            render_settle=1.0,
            page_timeout=10,
        )
        fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=allow_private, overrides=overrides))
        pool = BrowserPool(cfg, fetcher)
        try:
            async with pool.session() as session:
                page = await session.render(document.url, prefetched=document)
                return page.text, session.refused
        finally:
            await pool.close()
            await fetcher.close()

    text, refused = await render(allow_private=False)
    assert '<p id="state">done</p>' in text  # the page ran its script to the end
    assert scripted_site.hits == {}  # the private service was never contacted
    refused_text = " ".join(refused)
    for target in ("internal.test", "metadata.test", "169.254.169.254", "10.1.2.3"):
        assert target in refused_text, (target, refused)
    assert "not a public address" in refused_text

    await render(allow_private=True)  # the control: allowed, the same page does reach it
    assert scripted_site.hits.get("/secret.js") == 1 and scripted_site.hits.get("/api", 0) >= 1
    assert chromium_processes(browser_mark) == []


async def test_restarts_after_page_budget_and_after_a_crash(
    browser_mark: str, scripted_site: support.ScriptedSite
) -> None:
    slow = (
        '<html><body><p id="x">wait</p><script>fetch("/slow-ping").then(function () { setTimeout(function () {'
        'document.getElementById("x").textContent = "late@crash.test"; }, 1500); });</script></body></html>'
    )
    scripted_site.page("/slow-ping", "pong")  # its hits say when Chromium renders the slow page
    for i in range(4):
        scripted_site.page(f"/p{i}", f"<html><body>page {i} info{i}@crash.test</body></html>")
    scripted_site.page("/slow", slow)
    cfg = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve={"crash.test": "127.0.0.1"},  # type: ignore[call-arg]
        browser_restart_pages=2,
        render_settle=3.0,
        page_timeout=10,
    )
    metrics = Metrics()
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve), metrics=metrics)
    pool = BrowserPool(cfg, fetcher, metrics=metrics)
    try:
        async with pool.session() as session:
            for i in range(4):
                page = await session.render(scripted_site.url("crash.test", f"/p{i}"))
                assert f"info{i}@crash.test" in page.text
            assert metric(metrics, "leadworker_browser_restarts_total", reason="pages") >= 1

            # Kill the browser while a page renders: the render is retried once on a new browser.
            before = pool.launches
            task = asyncio.create_task(session.render(scripted_site.url("crash.test", "/slow")))
            await support.wait_for(
                lambda: scripted_site.hits.get("/slow-ping", 0) == 1, what="slow page in the browser"
            )
            kill_chromium(browser_mark)
            page = await asyncio.wait_for(task, 60)
            assert "late@crash.test" in page.text and scripted_site.hits["/slow-ping"] == 2
            assert pool.launches > before
            assert metric(metrics, "leadworker_browser_restarts_total", reason="disconnected") == 1

            # Killed between pages: the pool notices, and the next render relaunches.
            before = pool.launches
            kill_chromium(browser_mark)
            await support.wait_for(lambda: not pool.running, what="disconnect noticed")
            page = await session.render(scripted_site.url("crash.test", "/p0"))
            assert "info0@crash.test" in page.text
            assert pool.launches == before + 1
    finally:
        await pool.close()
        await fetcher.close()
    assert chromium_processes(browser_mark) == []


def kill_chromium(mark: str) -> None:
    """SIGKILL every Chromium process this test started (as the OOM killer would)."""
    victims = chromium_processes(mark)
    assert victims, "no Chromium to kill"
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_a_hung_page_fails_alone(browser_mark: str, scripted_site: support.ScriptedSite) -> None:
    scripted_site.page("/hang", "<html><body><script>while (true) {}</script></body></html>")
    scripted_site.page("/fine", "<html><body>fine@hang.test</body></html>")
    cfg = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve={"hang.test": "127.0.0.1"},  # type: ignore[call-arg]
        page_timeout=2,
        render_settle=0.5,
        browser_close_timeout=2,
        browser_pages=1,
    )
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    pool = BrowserPool(cfg, fetcher)
    try:
        async with pool.session() as session:
            with pytest.raises(RenderError):
                await session.render(scripted_site.url("hang.test", "/hang"))
            # The only page slot was given back: the next page renders.
            page = await session.render(scripted_site.url("hang.test", "/fine"))
            assert "fine@hang.test" in page.text
    finally:
        await pool.close()
        await fetcher.close()
    assert chromium_processes(browser_mark) == []


async def test_worker_shutdown_and_kill_leave_no_chromium(
    settings: Settings, db: Database, browser_mark: str, scripted_site: support.ScriptedSite
) -> None:
    scripted_contact_site(scripted_site)
    cfg = settings.model_copy(update={"resolve": {"script-co.test": "127.0.0.1"}})
    jobs = [
        ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("script-co.test")], render="browser")
        for _ in range(2)
    ]

    # SIGTERM after a job: graceful stop, the browser closed with the worker.
    await support.publish(cfg, db, jobs[:1])
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("run", "--stage", "scrape"),
        env=support.cli_env(cfg),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await support.wait_for(lambda: support.jobs_reached(db, [jobs[0].job_id]), timeout=60, what="first job completed")
    assert chromium_processes(browser_mark)  # the browser stays up between jobs
    process.terminate()
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert chromium_processes(browser_mark) == []

    # kill -9 while a job renders: Chromium follows its driver out.
    scripted_site.page("/contact", CONTACT, delay=0.5)
    await support.publish(cfg, db, jobs[1:])
    process = await asyncio.create_subprocess_exec(
        *support.leadworker_cmd("run", "--stage", "scrape"),
        env=support.cli_env(cfg),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await support.wait_for(lambda: bool(chromium_processes(browser_mark)), timeout=60, what="browser started")
    process.kill()
    await process.wait()
    await support.wait_for(
        lambda: not chromium_processes(browser_mark), timeout=30, what="no Chromium left after kill -9"
    )


async def test_an_idle_browser_is_closed_and_comes_back(browser_mark: str, scripted_site: support.ScriptedSite) -> None:
    scripted_site.page("/", "<html><body>idle@idle.test</body></html>")
    cfg = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve={"idle.test": "127.0.0.1"},  # type: ignore[call-arg]
        browser_idle_seconds=0.3,
        render_settle=0.5,
    )
    metrics = Metrics()
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    pool = BrowserPool(cfg, fetcher, metrics=metrics)
    try:
        for _ in range(2):
            async with pool.session() as session:
                page = await session.render(scripted_site.url("idle.test"))
                assert "idle@idle.test" in page.text and chromium_processes(browser_mark)
            await support.wait_for(lambda: not chromium_processes(browser_mark), timeout=20, what="idle browser closed")
            assert not pool.running
        assert pool.launches == 2
        assert metric(metrics, "leadworker_browser_restarts_total") == 0  # closing when idle is not a restart
    finally:
        await pool.close()
        await fetcher.close()


async def test_robots_txt_applies_to_requests_the_page_makes(
    settings: Settings, db: Database, browser_mark: str, scripted_site: support.ScriptedSite
) -> None:
    """A page that draws its cards from a robots-disallowed API: the browser does not fetch it, so no card that
    only a disallowed request could give is collected; an allowed API on the same page is fetched."""
    scripted_site.page("/robots.txt", "User-agent: *\nDisallow: /api/private/\n")
    scripted_site.page("/api/private/cards.json", '{"email": "hidden@robots-co.test"}')
    scripted_site.page("/api/public/cards.json", '{"email": "open@robots-co.test"}')
    scripted_site.page(
        "/",
        """<html><body><h1>Robots Co</h1><div id="cards"></div><script>
      for (const part of ["private", "public"]) {
        fetch("/api/" + part + "/cards.json").then(r => r.json()).then(d => {
          const a = document.createElement("a"); a.href = "mailto:" + d.email; a.textContent = d.email;
          document.getElementById("cards").appendChild(a);
        }, () => {});
      }
    </script></body></html>""",
    )
    cfg = settings.model_copy(update={"resolve": {"robots-co.test": "127.0.0.1"}})
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url("robots-co.test")], render="browser", max_pages=1)
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, idle=1.0, timeout=90)

    (lead,) = await job_leads(db, job.job_id)
    assert lead["record"]["emails"] == ["open@robots-co.test"]
    assert scripted_site.hits.get("/api/public/cards.json") == 1
    assert "/api/private/cards.json" not in scripted_site.hits  # the disallowed API was never requested
    assert chromium_processes(browser_mark) == []
