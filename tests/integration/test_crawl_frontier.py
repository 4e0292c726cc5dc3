"""The crawl frontier over real HTTP: depth, nofollow (link, meta, header), canonical dedupe, robots.txt,
include/exclude globs, max_pages, contact pages first, redirects to another site."""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from typing import Any

from aiohttp import web

import support
from leadworker.common.domains import registrable_domain
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.scrape.crawl import CrawlSettings, RobotsCache, crawl_site, crawl_sites
from leadworker.scrape.fetch import StaticFetcher
from leadworker.scrape.guard import NetworkGuard


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


async def crawl(
    site: support.ScriptedSite,
    host: str,
    *,
    max_pages: int = 20,
    max_depth: int = 3,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    concurrency: int = 1,
) -> tuple[list[str], int]:
    cfg = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve={host: "127.0.0.1"},  # type: ignore[call-arg]
        fetch_retries=0,
    )
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    order: list[str] = []
    original = fetcher.fetch

    async def recording(url: str, **kwargs: object) -> object:
        if not url.endswith("/robots.txt"):
            order.append(url.split(str(site.port), 1)[1])
        return await original(url, **kwargs)  # type: ignore[arg-type]

    fetcher.fetch = recording  # type: ignore[method-assign]
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url(host)], max_pages=max_pages)
    settings = CrawlSettings(
        max_pages=max_pages,
        max_depth=max_depth,
        include=include or [],
        exclude=exclude or [],
        user_agent=cfg.user_agent,
        concurrency=concurrency,
        render="static",
    )

    async def nothing() -> None:
        return None

    try:
        result = await crawl_site(site.url(host), job, fetcher, RobotsCache(fetcher, cfg.user_agent), settings, nothing)
    finally:
        await fetcher.close()
    return order, result.pages


async def test_frontier_rules(scripted_site: support.ScriptedSite) -> None:
    site = scripted_site
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    site.page(
        "/",
        page(
            '<a href="/blog">Blog</a> <a href="/about-us?utm_source=nav#team">About</a> '
            '<a href="/kontakt">Kontakt</a> <a href="/ads" rel="nofollow sponsored">Ads</a> '
            '<a href="/private/staff">Staff</a> <a href="/report.pdf">PDF</a> '
            '<a href="https://elsewhere.test/">Partner</a> <a href="/Blog/">Blog again</a>'
        ),
    )
    site.page("/kontakt", page('<a href="/kontakt/anfahrt">Anfahrt</a>'))
    site.page("/kontakt/anfahrt", page('<a href="/deep/1">deeper</a>'))
    site.page("/deep/1", page('<a href="/deep/2">deeper</a>'))
    site.page("/deep/2", page("too deep to reach with max_depth=3"))
    site.page("/about-us", page('<a href="/team">Team</a>', '<meta name="robots" content="nofollow">'))
    site.page("/team", page("not followed from a nofollow page"))
    site.page(
        "/blog",
        page('<a href="/blog/post-1">Post</a> <a href="/about-us">About</a>', '<link rel="canonical" href="/blog/">'),
    )
    site.page("/blog/post-1", page("a post"))

    order, pages = await crawl(site, "frontier.test")

    about = [url for url in order if url.startswith("/about-us")]
    assert about == ["/about-us?utm_source=nav"]  # fetched as written, once: the plain link is the same page
    assert order[:3] == ["/", "/kontakt", "/kontakt/anfahrt"]  # contact pages first,
    assert order.index(about[0]) < order.index("/blog")  # then about/team/legal, then the rest
    assert "/ads" not in order and "/private/staff" not in order and "/report.pdf" not in order
    assert "/team" not in order  # its only link is on a meta-nofollow page
    assert "/deep/2" not in order and "/deep/1" in order  # depth 3 from the entry
    assert order.count("/blog") == 1 and order.count("/Blog/") == 1  # paths are case-sensitive
    assert not any("elsewhere" in url for url in order)
    assert pages == len(order)

    order, _ = await crawl(site, "frontier.test", max_pages=4)
    assert order == ["/", "/kontakt", "/kontakt/anfahrt", "/about-us?utm_source=nav"]

    order, _ = await crawl(site, "frontier.test", include=["/", "/blog*"], exclude=["/blog/post-*"])
    assert sorted(order) == ["/", "/blog"]


async def test_x_robots_tag_and_moved_entry(scripted_site: support.ScriptedSite) -> None:
    site = scripted_site

    async def no_follow_header(request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=page('<a href="/hidden">x</a>'),
            content_type="text/html",
            headers={"X-Robots-Tag": "noindex, nofollow"},
        )

    site.routes["/"] = no_follow_header
    order, _ = await crawl(site, "header.test")
    assert order == ["/"]

    # An entry that redirects to another registrable domain: that site is the one crawled.
    async def moved(request: web.Request) -> web.StreamResponse:
        if request.host.startswith("old-name.test"):
            raise web.HTTPMovedPermanently(f"http://new-name.test:{site.port}/home")
        if request.path == "/home":
            return web.Response(text=page('<a href="/contact">Contact</a>'), content_type="text/html")
        return web.Response(text=page("info@new-name.test"), content_type="text/html")

    site.routes["/"] = moved
    site.routes["/home"] = moved
    site.routes["/contact"] = moved
    cfg_hosts = {"old-name.test": "127.0.0.1", "new-name.test": "127.0.0.1"}
    settings = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve=cfg_hosts,  # type: ignore[call-arg]
        fetch_retries=0,
    )
    fetcher = StaticFetcher(settings, NetworkGuard(allow_private=True, overrides=cfg_hosts))
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("old-name.test")])

    async def nothing() -> None:
        return None

    try:
        result = await crawl_site(
            site.url("old-name.test"),
            job,
            fetcher,
            RobotsCache(fetcher, settings.user_agent),
            CrawlSettings(max_pages=5, max_depth=2, include=[], exclude=[], user_agent=settings.user_agent),
            nothing,
        )
    finally:
        await fetcher.close()
    assert result.record is not None and result.record.emails == ["info@new-name.test"]
    assert result.record.evidence["info@new-name.test"].endswith("/contact")


async def test_a_redirect_into_a_disallowed_path_is_not_read(scripted_site: support.ScriptedSite) -> None:
    site = scripted_site
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    site.page("/", page('info@robots.test <a href="/staff">Staff</a>'))

    redirected: list[str] = []

    async def to_private(request: web.Request) -> web.StreamResponse:
        redirected.append(request.path)
        raise web.HTTPFound("/private/staff")

    site.routes["/staff"] = to_private
    site.page("/private/staff", page("decoy@robots.test"))
    cfg = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve={"robots.test": "127.0.0.1"},  # type: ignore[call-arg]
        fetch_retries=0,
    )
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("robots.test")])

    async def nothing() -> None:
        return None

    try:
        result = await crawl_site(
            site.url("robots.test"),
            job,
            fetcher,
            RobotsCache(fetcher, cfg.user_agent),
            CrawlSettings(max_pages=5, max_depth=2, include=[], exclude=[], user_agent=cfg.user_agent),
            nothing,
        )
    finally:
        await fetcher.close()
    assert result.record is not None and result.record.emails == ["info@robots.test"]
    assert redirected == ["/staff"] and "/private/staff" not in site.hits  # the hop was never taken


def _huge_site(site: support.ScriptedSite, pages: int, page_bytes: int) -> None:
    """An entry page, a contact page and ``pages`` pages of ``page_bytes`` of visible text each."""
    links = " ".join(f'<a href="/p/{i}">Page {i}</a>' for i in range(pages))
    site.page("/", page(f'<h1>Bigpage Ltd</h1> <a href="/contact">Contact</a> {links}', "<title>Bigpage Ltd</title>"))
    site.page(
        "/contact",
        '<html lang="en-GB"><body><p>Write to <a href="mailto:hello@bigpage.test">hello@bigpage.'
        "test</a> or call 020 7946 0958.</p></body></html>",
    )
    filler = "<p>" + "We make very large pages about nothing in particular. " * 40 + "</p>"
    body = filler * (page_bytes // len(filler))
    for i in range(pages):
        site.page(f"/p/{i}", page(f"<h2>Page {i}</h2>{body}"))


async def _crawl_measured(site: support.ScriptedSite, host: str, **options: Any) -> tuple[Any, int]:
    """Crawl ``host`` a page at a time; return the result and the most memory Python held between pages (when
    no page is in flight: what the crawl kept of the pages it read)."""
    cfg = Settings(
        _env_file=None,
        allow_private_networks=True,
        resolve={host: "127.0.0.1"},  # type: ignore[call-arg]
        fetch_retries=0,
    )
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url(host)], max_pages=100)
    settings = CrawlSettings(
        max_pages=100, max_depth=2, include=[], exclude=[], user_agent=cfg.user_agent, concurrency=1, render="static"
    )
    held = [0]

    async def between_pages() -> None:
        held[0] = max(held[0], tracemalloc.get_traced_memory()[0] - baseline)

    registrable_domain(site.url(host))  # loads the public suffix list (3 MB) before counting
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    try:
        result = await crawl_site(
            site.url(host), job, fetcher, RobotsCache(fetcher, cfg.user_agent), settings, between_pages, **options
        )
    finally:
        tracemalloc.stop()
        await fetcher.close()
    return result, held[0]


async def test_a_site_of_huge_pages_is_read_in_bounded_memory(scripted_site: support.ScriptedSite) -> None:
    """A page is reduced to what extraction needs once read: 24 pages of 500 kB do not stay in memory until the
    site is done (they did, twice over: the HTML and the text)."""
    _huge_site(scripted_site, 24, 500_000)
    # A .co.uk site: its phone region is known, so nothing of a page but its facts outlives reading it.
    result, held = await _crawl_measured(scripted_site, "bigpage.co.uk")
    assert result.pages == 26
    assert result.record is not None
    assert result.record.emails == ["hello@bigpage.test"] and result.record.phones == ["+442079460958"]
    assert held < 3_000_000, f"{held / 1e6:.1f} MB held"


async def test_the_job_memory_budget_stops_the_crawl(scripted_site: support.ScriptedSite) -> None:
    """A .test site: its region is found from its pages, so their text is kept until the site is done. The
    job's budget bounds it; the crawl stops taking pages there, with what it read (contact pages first)."""
    from leadworker.scrape.budget import MemoryBudget

    _huge_site(scripted_site, 24, 500_000)
    budget = MemoryBudget(4_000_000)
    result, held = await _crawl_measured(scripted_site, "bigpage.test", budget=budget)
    assert result.record is not None
    assert result.record.emails == ["hello@bigpage.test"] and result.record.phones == ["+442079460958"]
    assert 3 <= result.pages < 12  # the entry, the contact page, some of the rest; then the budget was full
    assert budget.reached and budget.pages_left == 26 - result.pages
    assert budget.peak <= 4_000_000 + 600_000  # at most the page in flight when it was reached
    assert budget.held == 0  # released with the site
    assert held < 4_000_000 + 3_000_000, f"{held / 1e6:.1f} MB held"


async def test_sites_on_one_address_but_other_ports_are_each_crawled() -> None:
    """Two businesses served from one address on two ports (a staging box, a test's own sites) are two sites:
    a job naming both reads both, not the first alone."""
    servers = [support.ThreadedServer(support.ScriptedSite()) for _ in range(2)]
    sites = [server.start() for server in servers]
    try:
        for n, site in enumerate(sites):
            site.page("/", page(f"<h1>Port Co {n}</h1><p>Call +1 503 555 01{n}0, hello{n}@portco{n}.example</p>"))
        # The first links to a page of the second's port: another business, which its crawl must not read.
        other = f"http://127.0.0.1:{sites[1].port}/contact"
        sites[0].page("/", page(f'<h1>Port Co 0</h1><p>hello0@portco0.example</p><a href="{other}">Kontakt</a>'))
        sites[1].page("/contact", page("<h1>Other Co</h1><p>other@portother.example</p>"))
        cfg = Settings(_env_file=None, allow_private_networks=True, fetch_retries=0)  # type: ignore[call-arg]
        fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True))
        targets = [f"http://127.0.0.1:{site.port}/" for site in sites]
        job = ScrapeJob(job_id=uuid.uuid4(), targets=targets, max_pages=2)
        settings = CrawlSettings(
            max_pages=2, max_depth=1, include=[], exclude=[], user_agent=cfg.user_agent, concurrency=1, render="static"
        )

        async def nothing() -> None:
            return None

        try:
            records, pages = await crawl_sites(job, fetcher, settings, nothing, final_attempt=True)
        finally:
            await fetcher.close()
    finally:
        for server in servers:
            server.stop()
    assert sorted(r.source_url or "" for r in records) == sorted(targets) and pages == 2
    assert all("other@portother.example" not in r.emails for r in records)
