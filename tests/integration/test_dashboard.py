"""The dashboard in real Chromium (Playwright) against the real services, a real ``leadworker api`` process and
real workers: signing in, submitting a job with the form and watching it complete without a reload, a lead's
provenance, the CSV download, replaying a dead letter, a hostile site's markup shown as text and never run, CSRF,
scopes and sign-in redirects."""

from __future__ import annotations

import csv
import html
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

import support
from dashboard_support import chromium, serving_api, sign_in
from leadworker.config import Settings
from leadworker.demo.server import SiteServer
from leadworker.store import tokens as tokenstore
from leadworker.store.pool import Database

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 90_000


async def token(db: Database, scope: str) -> str:
    return await tokenstore.create_token(db, f"{scope}-{uuid.uuid4().hex[:6]}", scope)


class Watch:
    """What a page must not do: navigate (a reload), open a dialog, or log a CSP violation."""

    def __init__(self, page: Any) -> None:
        self.navigations: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        page.on(
            "framenavigated", lambda frame: self.navigations.append(frame.url) if frame.parent_frame is None else None
        )
        page.on("dialog", self._dialog)
        page.on("console", lambda message: self.console.append(message.text))

    def _navigated(self, frame: Any) -> None:
        if frame.parent_frame is None:
            self.navigations.append(frame.url)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()


async def test_submit_with_the_form_and_watch_it_complete_live(
    settings: Settings, db: Database, demo_site: SiteServer, spawn: support.Spawn, tmp_path: Path
) -> None:
    write = await token(db, "write")
    async with serving_api(settings) as base, chromium() as browser:
        page = await browser.new_page()
        await sign_in(page, base, write)
        # A jobs list opened before the job exists: the job's row arrives live, and follows the job.
        listing = await browser.new_page()
        await listing.context.add_cookies(await page.context.cookies())
        await listing.goto(base + "/jobs")
        watch_list = Watch(listing)
        await listing.evaluate("window.__sameDocument = true")
        await expect(listing.locator("html")).to_have_attribute("data-live", "open")

        await page.goto(base + "/jobs")
        # A bad value comes back beside its field, with what was typed kept.
        await page.fill("#targets", "ftp://nope.test/")
        await page.fill("#max_pages", "0")
        await page.fill("#geography", "Portland, US")
        await page.click("#submit button[type=submit]")
        assert await page.locator("#targets-problem").inner_text() == (
            "targets: line 1: 'ftp://nope.test/' must be an http:// or https:// URL"
        )
        assert "max_pages" in await page.locator("#max_pages-problem").inner_text()
        assert await page.input_value("#geography") == "Portland, US"
        assert await page.input_value("#targets") == "ftp://nope.test/"
        assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 0

        await page.fill("#targets", demo_site.url("acme-plumbing.test"))
        await page.fill("#max_pages", "5")
        await page.fill("#industry", "plumbing")
        await page.select_option("#render", "static")
        await page.click("#submit button[type=submit]")
        await page.wait_for_url(f"{base}/jobs/*")
        job_id = page.url.rsplit("/", 1)[1]
        criteria = await db.fetchval("SELECT criteria FROM scrape_jobs WHERE id = $1", uuid.UUID(job_id))
        assert criteria["max_pages"] == 5 and criteria["industry"] == "plumbing" and criteria["render"] == "static"
        assert await page.inner_text("#job-status") == "queued"  # no worker yet

        row_status = listing.locator(f'[data-job-status="{job_id}"]')
        await expect(row_status).to_have_text("queued", timeout=LIVE_TIMEOUT_MS)
        assert await listing.locator("tr.no-rows").count() == 0 and await listing.locator("#live-note").is_hidden()
        row_cancel = listing.locator(f'[data-job-row="{job_id}"] form[action$="/cancel"] button')
        await expect(row_cancel).to_be_enabled()

        watch = Watch(page)
        await page.evaluate("window.__sameDocument = true")
        # Waiting by locators: the page's CSP forbids eval, which wait_for_function would need.
        await expect(page.locator("html")).to_have_attribute("data-live", "open")
        worker = await spawn(settings, "--stage", "scrape,normalize,score")

        status = page.locator("#job-status")
        await expect(status).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
        await expect(row_status).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
        await expect(row_cancel).to_be_disabled()
        assert await status.get_attribute("class") == "status s-completed"
        # The timeline grew live, the counts too, and the leads appeared once enrichment scored them.
        await page.wait_for_selector("#job-leads a.lead-link", timeout=LIVE_TIMEOUT_MS)
        timeline = await page.locator("#timeline tbody tr td:nth-child(3)").all_inner_texts()
        assert timeline == ["queued", "running", "completed"]
        assert int(await page.inner_text('[data-count="found"]')) >= 1
        assert int(await page.inner_text('[data-count="pages"]')) >= 1  # every count, not only the leads'
        assert await page.evaluate("window.__sameDocument") is True  # the same document: nothing reloaded
        assert await listing.evaluate("window.__sameDocument") is True
        assert watch.navigations == [] and watch_list.navigations == []

        # The CSV download is the API's export of the job's leads.
        async with page.expect_download() as download_info:
            await page.click("#csv-download")
        download = await download_info.value
        saved = tmp_path / "leads.csv"
        await download.save_as(saved)
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
        assert [r["domain"] for r in rows] == ["acme-plumbing.test"]
        assert download.suggested_filename == f"job-{job_id}.csv"

        # The lead: every value with the page it was found on. Its link comes once it is merged; its score once
        # enrichment is done (the page says so live).
        await expect(page.locator('[data-progress="enriched_at"]')).to_have_text("yes", timeout=LIVE_TIMEOUT_MS)
        await page.click("#job-leads a.lead-link")
        await page.wait_for_url(f"{base}/leads/*")
        assert "Acme" in await page.inner_text("#lead-name")
        # The score's components: each with its points, value, weight and why, not as JSON.
        components = page.locator(".score table.components")
        assert await components.locator("th").all_text_contents() == ["component", "points", "value", "weight", "why"]
        assert await components.locator("tbody tr", has_text="contact_quality").count() == 1
        assert "{" not in await components.inner_text()
        links = page.locator("#provenance a.out")
        assert await links.count() >= 1
        for n in range(await links.count()):
            href = await links.nth(n).get_attribute("href")
            assert href is not None and href.startswith("http://acme-plumbing.test:")
            assert await links.nth(n).get_attribute("rel") == "noopener noreferrer nofollow"
        email_row = page.locator("#provenance tr", has_text="office@acme-plumbing.test")
        assert await email_row.count() >= 1
        found_on = await email_row.first.locator("a.out").get_attribute("href")
        assert found_on is not None and found_on.startswith(demo_site.url("acme-plumbing.test"))
        assert watch.dialogs == [] and not any("Content Security Policy" in c for c in watch.console)

        await worker.stop()


HOSTILE_HOST = "evil-co.test"
PAYLOADS = {
    "script": "<script>window.__pwned = 'script'; alert('script')</script>",
    "img": "<img src=x onerror=\"window.__pwned='img'; alert('img')\">",
    "svg": "<svg onload=\"window.__pwned='svg'\"></svg>",
}
HOSTILE_NAME = f"Evil {PAYLOADS['img']} Co {PAYLOADS['script']}"
# An address RFC 5322 allows unquoted that would break out of a single-quoted attribute and run a handler.
HOSTILE_EMAIL = "sales'onfocus='window.__pwned=1'autofocus='x@evil-co.test"
ORGANIZATION = {
    "@context": "https://schema.org",
    "@type": "Organization",
    "name": HOSTILE_NAME,
    "email": "info@evil-co.test",
    "telephone": "+49 30 1234567",
    "address": f"Hauptstr. 1 {PAYLOADS['svg']}, 10115 Berlin",
    "description": PAYLOADS["script"],
}


def hostile_home() -> str:
    # The title is what names the company here; the site escaped it, so its text is markup.
    title = html.escape(PAYLOADS["script"] + PAYLOADS["img"] + " Evil Co")
    return (
        f'<html lang="de"><head><title>{title}</title><script type="application/ld+json">'
        f"{json.dumps(ORGANIZATION)}</script></head><body><h1>Evil Co</h1>"
        '<p>Mail <a href="mailto:info@evil-co.test">info@evil-co.test</a>, Tel +49 30 1234567</p>'
        f'<p>Sales <a href="mailto:{html.escape(HOSTILE_EMAIL)}">write to sales</a></p></body></html>'
    )


async def test_a_hostile_sites_markup_is_shown_as_text_and_runs_nothing(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite
) -> None:
    scripted_site.page("/", hostile_home())
    cfg = settings.model_copy(update={"resolve": {**settings.resolve, HOSTILE_HOST: "127.0.0.1"}})
    reader = await token(db, "read")
    from leadworker.contracts import ScrapeJob

    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url(HOSTILE_HOST)], max_pages=1, render="static")
    # A job that fails with a long reason, for the phone's view of the jobs list below.
    failing = ScrapeJob(job_id=uuid.uuid4(), source_types=["directory:no-such-recipe"], search_query="x")
    await support.publish(cfg, db, [job, failing])
    await support.run_until_idle(cfg, ("scrape", "normalize", "score"), idle=0.8)
    lead = await db.fetchrow("SELECT id, company_name, address FROM leads WHERE domain = $1", HOSTILE_HOST)
    assert lead is not None and "<script>" in lead["company_name"] and "<img src=x onerror=" in lead["company_name"]

    async with serving_api(cfg) as base, chromium() as browser:
        page = await browser.new_page()
        watch = Watch(page)
        await sign_in(page, base, reader)
        for path in (f"/leads/{lead['id']}", f"/jobs/{job.job_id}", "/leads", f"/leads?q={HOSTILE_HOST}", "/"):
            response = await page.goto(base + path)
            assert response is not None and response.status == 200, path
            assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
            await page.wait_for_load_state("load")
            await page.wait_for_timeout(300)  # an onerror or onload would have fired by now
            assert await page.evaluate("window.__pwned") is None, path
            assert await page.locator("main img, main svg[onload], main script").count() == 0, path
        await page.goto(f"{base}/leads/{lead['id']}")
        assert await page.inner_text("#lead-name") == lead["company_name"]  # the very text, shown as text
        assert await page.title() == f"{lead['company_name']} · leadworker"
        assert await page.locator("#provenance td.value", has_text="<img src=x onerror=").count() == 1
        assert await page.locator("#provenance td.value", has_text=HOSTILE_EMAIL).count() == 1
        await page.goto(f"{base}/jobs/{job.job_id}")
        assert await page.locator("#job-leads a.lead-link").inner_text() == lead["company_name"]

        # On a laptop a failed job's timeline shows its reasons whole, without scrolling sideways.
        await page.set_viewport_size({"width": 1366, "height": 768})
        await page.goto(f"{base}/jobs/{failing.job_id}")
        assert "no directory recipe" in await page.locator("#timeline td.reason").last.inner_text()
        timeline = page.locator("div.scroll:has(> #timeline)")
        assert await timeline.evaluate("e => e.scrollWidth <= e.clientWidth"), await timeline.evaluate(
            "e => [e.scrollWidth, e.clientWidth]"
        )

        # On a phone, long scraped text and long reasons wrap in columns wide enough to read (the table
        # scrolls sideways instead), not one letter a line down a sliver of a column.
        await page.set_viewport_size({"width": 390, "height": 844})
        for path, cells in ((f"/leads/{lead['id']}", "#provenance td.value"), ("/jobs?status=failed", "td.reason")):
            await page.goto(base + path)
            widths = [box["width"] for box in [await c.bounding_box() for c in await page.locator(cells).all()] if box]
            assert widths and min(widths) >= 150, (path, widths)
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390, path
    assert watch.dialogs == []


async def test_replay_a_dead_letter(settings: Settings, db: Database) -> None:
    admin, reader = await token(db, "admin"), await token(db, "read")
    topology = await support.declare(settings)
    work = topology.work_queue("scrape")
    for message_id in ("poison-1", "poison-2"):
        await support.publish_raw(settings, work, b"not json", message_id=message_id)
    await support.run_until_idle(settings, ("scrape",), idle=0.6)
    async with serving_api(settings) as base, chromium() as browser:
        page = await browser.new_page()
        await sign_in(page, base, admin)
        await page.click("nav a[href='/dead-letters']")
        queue = page.locator(f'.dead-queue[data-queue="{work}"]')
        row = queue.locator("tr", has_text="poison-2")
        assert await row.count() == 1
        assert "invalid_message" in await row.inner_text()
        # One letter, by its row's button: the other stays parked.
        await row.get_by_role("button", name="Replay").click()
        await page.wait_for_url(f"{base}/dead-letters?*")
        assert await page.inner_text(".notice") == "replayed 1 dead letter"
        assert [m.message_id for m in await support.queue_messages(settings, work)] == ["poison-2"]
        assert [m.message_id for m in await support.queue_messages(settings, topology.dead_queue(work))] == ["poison-1"]
        # Then all of the queue.
        await queue.locator("form.replay-all button").click()
        await page.wait_for_url(f"{base}/dead-letters?*")
        assert await page.inner_text(".notice") == "replayed 1 dead letter"
        assert await support.queue_depth(settings, work) == 2
        assert await support.queue_depth(settings, topology.dead_queue(work)) == 0

        # A read token sees no dead letters: not in the menu, 403 at the address.
        other = await browser.new_page()
        await sign_in(other, base, reader)
        assert await other.locator("nav a[href='/dead-letters']").count() == 0
        response = await other.goto(base + "/dead-letters")
        assert response is not None and response.status == 403


async def test_sign_in_csrf_and_scopes(settings: Settings, db: Database) -> None:
    reader, write = await token(db, "read"), await token(db, "write")
    async with serving_api(settings) as base, chromium() as browser:
        page = await browser.new_page()
        # No cookie: every page sends the browser to the sign-in form, and back after it.
        response = await page.goto(base + "/jobs?status=failed")
        assert page.url == f"{base}/login?next=%2Fjobs%3Fstatus%3Dfailed" and response is not None
        await page.fill("#token", "lw_not-a-token")
        await page.click("form[action='/login'] button[type=submit]")
        assert "not a valid token" in await page.inner_text("#token-problem")
        await page.fill("#token", write)
        await page.click("form[action='/login'] button[type=submit]")
        await page.wait_for_url(f"{base}/jobs?status=failed")
        cookie = next(c for c in await page.context.cookies() if c["name"] == "lw_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and write not in cookie["value"]
        assert await page.evaluate("document.cookie") == ""  # nothing script can read

        # A POST without the CSRF token is refused, even with the session cookie.
        refused = await page.request.post(base + "/jobs", form={"targets": "https://a.example/"})
        assert refused.status == 403 and "CSRF" in await refused.text()
        wrong = await page.request.post(base + "/jobs", form={"targets": "https://a.example/", "csrf_token": "x"})
        assert wrong.status == 403
        assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 0

        # A read token sees no form and cannot submit, even with its own valid CSRF token.
        viewer = await browser.new_page()
        await sign_in(viewer, base, reader)
        await viewer.goto(base + "/jobs")
        assert await viewer.locator("#submit").count() == 0
        csrf_token = await viewer.get_attribute("form[action='/logout'] input[name=csrf_token]", "value")
        denied = await viewer.request.post(
            base + "/jobs", form={"targets": "https://a.example/", "csrf_token": csrf_token or ""}
        )
        assert denied.status == 403 and "needs 'write'" in html.unescape(await denied.text())
        assert await db.fetchval("SELECT count(*) FROM scrape_jobs") == 0

        # Signing out ends the session on the server: the old cookie no longer opens anything.
        await viewer.click("form[action='/logout'] button")
        await viewer.wait_for_url(f"{base}/login")
        stale = await viewer.request.get(base + "/jobs", max_redirects=0)
        assert stale.status == 303 and stale.headers["location"].startswith("/login")
        # Revoking the token ends its sessions at their next request.
        name = next(t.name for t in await tokenstore.list_tokens(db) if t.name.startswith("write-"))
        assert await tokenstore.revoke_token(db, name)
        gone = await page.request.get(base + "/", max_redirects=0)
        assert gone.status == 303


async def test_a_flood_of_new_jobs_adds_a_page_of_rows_live_then_the_note(settings: Settings, db: Database) -> None:
    """A publish of many jobs while a jobs list is open: the list takes a page's worth of rows live (one request
    each) and then only offers the fresh list, instead of a request and a row per job."""
    reader = await token(db, "read")
    from leadworker.contracts import ScrapeJob

    async with serving_api(settings) as base, chromium() as browser:
        page = await browser.new_page()
        await sign_in(page, base, reader)
        await page.goto(base + "/jobs")
        await expect(page.locator("html")).to_have_attribute("data-live", "open")
        jobs = [
            ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=[{"company_name": "A"}]) for _ in range(60)
        ]
        await support.publish(settings, db, jobs)
        await expect(page.locator("#live-note")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        await expect(page.locator("#jobs-table tbody tr[data-job-row]")).to_have_count(50)
        await page.wait_for_timeout(500)  # what was still arriving has settled
        assert await page.locator("#jobs-table tbody tr[data-job-row]").count() == 50
