"""The crawl frontier over real HTTP: depth, nofollow (link, meta, header), canonical dedupe, robots.txt,
include/exclude globs, max_pages, contact pages first, redirects to another site."""

from __future__ import annotations

import uuid

from aiohttp import web

import support
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.scrape.crawl import CrawlSettings, RobotsCache, crawl_site
from leadworker.scrape.fetch import StaticFetcher
from leadworker.scrape.guard import NetworkGuard


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


async def crawl(site: support.ScriptedSite, host: str, *, max_pages: int = 20, max_depth: int = 3,
                include: list[str] | None = None, exclude: list[str] | None = None,
                concurrency: int = 1) -> tuple[list[str], int]:
    cfg = Settings(_env_file=None, allow_private_networks=True, resolve={host: "127.0.0.1"},  # type: ignore[call-arg]
                   fetch_retries=0)
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    order: list[str] = []
    original = fetcher.fetch

    async def recording(url: str, **kwargs: object) -> object:
        if not url.endswith("/robots.txt"):
            order.append(url.split(str(site.port), 1)[1])
        return await original(url, **kwargs)  # type: ignore[arg-type]

    fetcher.fetch = recording  # type: ignore[method-assign]
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url(host)], max_pages=max_pages)
    settings = CrawlSettings(max_pages=max_pages, max_depth=max_depth, include=include or [], exclude=exclude or [],
                             user_agent=cfg.user_agent, concurrency=concurrency, render="static")

    async def nothing() -> None:
        return None

    try:
        result = await crawl_site(site.url(host), job, fetcher, RobotsCache(fetcher, cfg.user_agent), settings,
                                  nothing)
    finally:
        await fetcher.close()
    return order, result.pages


async def test_frontier_rules(scripted_site: support.ScriptedSite) -> None:
    site = scripted_site
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    site.page("/", page('<a href="/blog">Blog</a> <a href="/about-us?utm_source=nav#team">About</a> '
                        '<a href="/kontakt">Kontakt</a> <a href="/ads" rel="nofollow sponsored">Ads</a> '
                        '<a href="/private/staff">Staff</a> <a href="/report.pdf">PDF</a> '
                        '<a href="https://elsewhere.test/">Partner</a> <a href="/Blog/">Blog again</a>'))
    site.page("/kontakt", page('<a href="/kontakt/anfahrt">Anfahrt</a>'))
    site.page("/kontakt/anfahrt", page('<a href="/deep/1">deeper</a>'))
    site.page("/deep/1", page('<a href="/deep/2">deeper</a>'))
    site.page("/deep/2", page("too deep to reach with max_depth=3"))
    site.page("/about-us", page('<a href="/team">Team</a>', '<meta name="robots" content="nofollow">'))
    site.page("/team", page("not followed from a nofollow page"))
    site.page("/blog", page('<a href="/blog/post-1">Post</a> <a href="/about-us">About</a>',
                            '<link rel="canonical" href="/blog/">'))
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
        return web.Response(text=page('<a href="/hidden">x</a>'), content_type="text/html",
                            headers={"X-Robots-Tag": "noindex, nofollow"})

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
    settings = Settings(_env_file=None, allow_private_networks=True, resolve=cfg_hosts,  # type: ignore[call-arg]
                        fetch_retries=0)
    fetcher = StaticFetcher(settings, NetworkGuard(allow_private=True, overrides=cfg_hosts))
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("old-name.test")])

    async def nothing() -> None:
        return None

    try:
        result = await crawl_site(site.url("old-name.test"), job, fetcher, RobotsCache(fetcher, settings.user_agent),
                                  CrawlSettings(max_pages=5, max_depth=2, include=[], exclude=[],
                                                user_agent=settings.user_agent), nothing)
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
    cfg = Settings(_env_file=None, allow_private_networks=True, resolve={"robots.test": "127.0.0.1"},  # type: ignore[call-arg]
                   fetch_retries=0)
    fetcher = StaticFetcher(cfg, NetworkGuard(allow_private=True, overrides=cfg.resolve))
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[site.url("robots.test")])

    async def nothing() -> None:
        return None

    try:
        result = await crawl_site(site.url("robots.test"), job, fetcher, RobotsCache(fetcher, cfg.user_agent),
                                  CrawlSettings(max_pages=5, max_depth=2, include=[], exclude=[],
                                                user_agent=cfg.user_agent), nothing)
    finally:
        await fetcher.close()
    assert result.record is not None and result.record.emails == ["info@robots.test"]
    assert redirected == ["/staff"] and "/private/staff" not in site.hits  # the hop was never taken
