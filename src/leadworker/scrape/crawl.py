"""The ``website`` source: crawl each target site and fold what its pages say into one lead per site.

The frontier stays on the target's registrable domain (and the one its entry page redirects to), honours
include/exclude path globs, ``max_pages`` and the maximum depth, visits each canonical URL once (fragments,
tracking parameters, session ids, default ports and trailing slashes do not make a new URL; a page's
``rel=canonical`` and redirect target count as visited) and takes contact-like pages first. robots.txt is
obeyed, and so are ``rel=nofollow``, ``<meta name=robots content=nofollow>`` and ``X-Robots-Tag``.

Rendering (the job's ``render``): ``static`` fetches over plain HTTP only; ``browser`` renders every page in
Chromium; ``auto`` fetches statically and renders a page only when script looks like it fills the page in
(an empty app mount, inline script that writes content, a same-site script that does, or a contact-like page
that shows no contact but runs script), and renders the entry and contact pages of a site that yielded no
e-mail or no phone at all. A page that fails is skipped; a site whose entry page fails yields nothing, and
the job decides what that means (see :func:`crawl_sites`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import heapq
import itertools
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urldefrag, urlencode, urlsplit, urlunsplit

import structlog
from protego import Protego

from leadworker.common.domains import country_tld, registrable_domain, site_identity, site_of
from leadworker.common.regions import region_from_geography, region_from_tld
from leadworker.contracts import LeadRecord, ScrapeJob, ThirdPartyContact
from leadworker.errors import LeadworkerError, PermanentError, TransientError, one_line
from leadworker.scrape.browser import RenderSession
from leadworker.scrape.budget import MemoryBudget
from leadworker.scrape.extract import (
    Link,
    PageFacts,
    ThirdParty,
    best_name,
    extract_page,
    infer_region,
    resolve_phones,
    resolve_third_party_phones,
    script_writes_content,
)
from leadworker.scrape.fetch import Page, StaticFetcher

log = structlog.get_logger(__name__)

CONTACT_WORDS = (
    "contact",
    "kontakt",
    "contacto",
    "contatti",
    "contato",
    "contactez",
    "impressum",
    "imprint",
    "reach-us",
    "get-in-touch",
    "find-us",
)
ABOUT_WORDS = (
    "about",
    "ueber-uns",
    "uber-uns",
    "über-uns",
    "over-ons",
    "a-propos",
    "qui-sommes",
    "chi-siamo",
    "quienes-somos",
    "team",
    "legal",
    "mentions-legales",
    "company",
    "unternehmen",
    "location",
    "locations",
    "offices",
    "privacy",
    "datenschutz",
    "reach",
    "support",
)
_CONTACT_PATTERN = re.compile("|".join(re.escape(w) for w in CONTACT_WORDS), re.IGNORECASE)
_ABOUT_PATTERN = re.compile("|".join(re.escape(w) for w in ABOUT_WORDS), re.IGNORECASE)
_TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|gclid|gclsrc|dclid|gbraid|wbraid|fbclid|msclkid|yclid|igshid|mc_cid|mc_eid|ref|ref_src|"
    r"referrer|_ga|_gl|_hs\w+|__hs\w+|hsctatracking|mkt_tok|trk|trkcampaign|sc_campaign|s_kwcid|ef_id|spm|"
    r"scid|oly_\w+|vero_\w+|wickedid|phpsessid|jsessionid|sid|sessionid|session_id|zanpid|campaignid|"
    r"adgroupid|pk_\w+|piwik_\w+|mtm_\w+|matomo_\w+)$",
    re.IGNORECASE,
)
_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)
_SKIP_EXTENSIONS = re.compile(
    r"\.(png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?|css|js|mjs|pdf|docx?|xlsx?|pptx?|zip|gz|tgz|rar|7z|mp4|"
    r"mp3|m4a|wav|ogg|webm|mov|avi|woff2?|ttf|eot|otf|xml|json|rss|atom|ics|vcf|exe|dmg|apk|iso)$",
    re.IGNORECASE,
)
_INLINE_PARSE_LIMIT = 150_000
"""Pages larger than this are parsed in a thread, so the event loop keeps serving broker heartbeats."""
_FALLBACK_RENDERS = 3
"""Pages ``render=auto`` renders on a site that showed no e-mail or no phone at all."""
SITES_AT_ONCE = 32
"""Sites of one job crawled at the same time (each with up to ``host_concurrency`` requests)."""


@functools.lru_cache(maxsize=65536)
def canonical_url(url: str) -> str:
    """Drop the fragment, tracking and session parameters, default ports and trailing slashes; lower-case
    the scheme and host; sort the query."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = _PATH_SESSION.sub("", parts.path or "/")
    path = re.sub(r"/{2,}", "/", path or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    for index_name in ("/index.html", "/index.htm", "/index.php"):
        if path.lower().endswith(index_name):
            path = path[: -len(index_name)] or "/"
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k))
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def contact_score(url: str, text: str = "") -> int:
    """0 for contact pages (visited first), 1 for about/team/legal pages, 2 for the rest."""
    path = urlsplit(url).path
    if _CONTACT_PATTERN.search(path) or _CONTACT_PATTERN.search(text):
        return 0
    if _ABOUT_PATTERN.search(path) or _ABOUT_PATTERN.search(text):
        return 1
    return 2


@dataclass
class CrawlSettings:
    max_pages: int
    max_depth: int
    include: list[str]
    exclude: list[str]
    user_agent: str
    concurrency: int = 4
    render: str = "static"
    """``static``, ``browser`` or ``auto`` (a job's ``render``)."""
    memory_bytes: int = 64 * 1024 * 1024
    """What a job keeps in memory from the pages it read (``LEADWORKER_JOB_MEMORY_BYTES``, see
    :mod:`leadworker.scrape.budget`)."""


@dataclass
class SiteResult:
    target: str
    record: LeadRecord | None
    pages: int
    error: LeadworkerError | None = None


def path_allowed(path: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(path, pattern) for pattern in include):
        return False
    return not any(fnmatch.fnmatchcase(path, pattern) for pattern in exclude)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_key(url: str) -> str:
    """What a crawl compares to stay on one business's site: its identity, else (an address) its host and any
    port other than the scheme's own (another port of an address may serve another business)."""
    identity = site_identity(url)
    if identity:
        return identity
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return host
    return host if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()) else f"{host}:{port}"


def bare_address_prefix(url: str) -> str:
    """For a site at a bare address (``http://203.0.113.5/~acme/``), the path it lives under: other paths on
    that host may be other businesses. Empty for sites with a name."""
    if site_identity(url) is not None:
        return ""
    path = urlsplit(url).path
    return path[: path.rfind("/") + 1] if path.count("/") > 1 else ""


def target_site(url: str) -> str:
    """Which site a job's target is, to crawl each site once: its identity; for a bare address, its address
    and port and the path it lives under (another port or ``~user/`` there may be another business)."""
    return site_key(url) + bare_address_prefix(url) if site_identity(url) is None else site_key(url)


class RobotsCache:
    """robots.txt per origin, fetched once per job. Unreachable or missing robots.txt allows everything."""

    def __init__(self, fetcher: StaticFetcher, user_agent: str) -> None:
        self._fetcher = fetcher
        self._user_agent = user_agent
        self._rules: dict[str, Protego | None] = {}
        self._pending: dict[str, asyncio.Future[Protego | None]] = {}

    async def _load(self, origin: str) -> Protego | None:
        try:
            page = await self._fetcher.fetch(origin + "/robots.txt", retries=0)
        except LeadworkerError:
            return None
        if page.ok and page.text:
            try:
                return Protego.parse(page.text)
            except Exception:  # a robots.txt protego cannot read allows everything, as if missing
                return None
        return None

    async def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._rules:
            pending = self._pending.get(origin)
            if pending is None:  # one fetch per origin, however many pages ask at once
                pending = asyncio.ensure_future(self._load(origin))
                self._pending[origin] = pending
            self._rules[origin] = await asyncio.shield(pending)
        rules = self._rules[origin]
        return True if rules is None else bool(rules.can_fetch(url, self._user_agent))


class ScriptScanner:
    """``render=auto``: does a same-site script write content into its page? Each script read once per job."""

    def __init__(self, fetcher: StaticFetcher) -> None:
        self._fetcher = fetcher
        self._verdicts: dict[str, asyncio.Future[bool]] = {}

    async def _read(self, url: str) -> bool:
        try:
            page = await self._fetcher.fetch(url, retries=0, any_text=True)
        except LeadworkerError:
            return False
        return page.ok and script_writes_content(page.text)

    async def writes_content(self, sources: list[str]) -> bool:
        for url in sources[:3]:
            verdict = self._verdicts.get(url)
            if verdict is None:
                verdict = asyncio.ensure_future(self._read(url))
                self._verdicts[url] = verdict
            if await asyncio.shield(verdict):
                return True
        return False


async def parse_page(page: Page, region: str | None) -> PageFacts:
    """Extract a page, in a thread when it is large."""
    if len(page.text) > _INLINE_PARSE_LIMIT:
        return await asyncio.to_thread(extract_page, page.text, page.final_url, region=region)
    return extract_page(page.text, page.final_url, region=region)


def region_hint(job: ScrapeJob, host: str) -> str | None:
    """The job's geography, else the site's country TLD."""
    return region_from_geography(job.geography) or region_from_tld(country_tld(host))


def _merge_rendered(static: PageFacts, rendered: PageFacts) -> PageFacts:
    """The rendered page, plus whatever only the static HTML had."""
    for email, url in static.emails.items():
        rendered.emails.setdefault(email, url)
    for phone, url in static.phones.items():
        rendered.phones.setdefault(phone, url)
    for network, url in static.socials.items():
        rendered.socials.setdefault(network, url)
    rendered.names = static.names + [n for n in rendered.names if n not in static.names]
    rendered.addresses += [a for a in static.addresses if a not in rendered.addresses]
    for key, value in static.postal.items():
        rendered.postal.setdefault(key, value)
    known = {link.url for link in rendered.links}
    rendered.links += [link for link in static.links if link.url not in known]
    rendered.phone_inputs.links += [x for x in static.phone_inputs.links if x not in rendered.phone_inputs.links]
    rendered.phone_inputs.foreign += [x for x in static.phone_inputs.foreign if x not in rendered.phone_inputs.foreign]
    for value, third in static.third_party.items():
        if value not in rendered.emails and value not in rendered.phones:
            rendered.third_party.setdefault(value, third)
    for domain, reason in static.credited_domains.items():
        rendered.credited_domains.setdefault(domain, reason)
    rendered.lang = rendered.lang or static.lang
    rendered.country = rendered.country or static.country
    rendered.description = rendered.description or static.description
    rendered.nofollow_page = rendered.nofollow_page or static.nofollow_page
    return rendered


@dataclass
class _Visited:
    facts: PageFacts
    static: bool
    """Fetched over plain HTTP (so a render may still add to it)."""
    depth: int
    rendered: bool
    static_page: Page | None = None
    """The page itself, kept only while a render of it may follow (it saves fetching it again)."""
    held: int = 0
    """Bytes counted for it in the job's memory budget."""

    @property
    def render_rank(self) -> tuple[bool, int, int]:
        """The order in which :meth:`SiteCrawl._render_fallback` picks pages (best first)."""
        return (self.depth > 0, contact_score(self.facts.url), self.depth)


_FACTS_BYTES = 2048
"""What the facts of a page keep besides its text, roughly (a few names, contacts and URLs)."""


def _facts_bytes(facts: PageFacts) -> int:
    return (
        _FACTS_BYTES
        + sys.getsizeof(facts.phone_inputs.text)
        + len(facts.description or "")
        + sum(len(a) for a in facts.addresses)
    )


@dataclass
class SiteCrawl:
    """One site of a job: the frontier, the pages and what they said."""

    target: str
    job: ScrapeJob
    fetcher: StaticFetcher
    robots: RobotsCache
    settings: CrawlSettings
    checkpoint: Callable[[], Awaitable[None]]
    renderer: RenderSession | None = None
    scripts: ScriptScanner | None = None
    deadline: float | None = None
    budget: MemoryBudget | None = None
    """The job's memory budget, shared by its sites; one of the site's own if None."""
    pages: int = 0
    visited: list[_Visited] = field(default_factory=list)
    entry_error: LeadworkerError | None = None

    def __post_init__(self) -> None:
        # URLs are fetched as the site wrote them (a server may answer /contact/ and not /contact); their
        # canonical form is only the key that says whether a page was seen.
        self.start_url = urldefrag(self.target.strip())[0]
        self.start = canonical_url(self.start_url)
        host = urlsplit(self.start).hostname or ""
        self.domain = registrable_domain(self.start) or host
        self.domains = {site_key(self.start)}
        """The site identities of this business (see :func:`leadworker.common.domains.site_identity`): its own domain,
        or on a shared platform its page, so that links to other businesses on the platform are not followed."""
        self.path_prefix = bare_address_prefix(self.start)
        self.region = region_hint(self.job, host)
        self.seen = {self.start}
        self._counter = itertools.count()
        self.frontier: list[tuple[int, int, int, str]] = [(0, 0, next(self._counter), self.start_url)]
        self.memory = self.budget or MemoryBudget(self.settings.memory_bytes)
        self._kept_pages: list[_Visited] = []
        self._email_seen = self._phone_seen = False

    def _on_site(self, url: str) -> bool:
        return site_key(url) in self.domains and urlsplit(url).path.startswith(self.path_prefix)

    async def run(self) -> SiteResult:
        if not await self.robots.allowed(self.start_url):
            return SiteResult(self.target, None, 0, PermanentError(f"robots.txt disallows {self.start}", kind="robots"))
        try:
            return await self._run()
        finally:
            self.memory.release(sum(v.held for v in self.visited))
            self.visited = []
            self._kept_pages = []

    async def _run(self) -> SiteResult:
        await self._crawl()
        if self.settings.render == "auto" and self.renderer is not None and self.visited:
            await self._render_fallback()
        facts = [v.facts for v in self.visited]
        if not facts:
            return SiteResult(
                self.target,
                None,
                self.pages,
                self.entry_error or PermanentError(f"{self.start} yielded no page", kind="target_unavailable"),
            )
        if self.region is None and sum(len(f.phone_inputs.text) for f in facts) > _INLINE_PARSE_LIMIT:
            # Reading a big site's phones again with the region it turned out to have: off the event loop.
            record = await asyncio.to_thread(fold_site, self.start, self.domain, facts, self.region)
        else:
            record = fold_site(self.start, self.domain, facts, self.region)
        return SiteResult(self.target, record, self.pages)

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def _crawl(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        scheduled = 0
        try:
            while self.frontier or in_flight:
                while (
                    self.frontier
                    and scheduled < self.settings.max_pages
                    and len(in_flight) < self.settings.concurrency
                    and not self._out_of_time()
                    and (not self.memory.full or scheduled == 0)
                ):
                    _, depth, _, url = heapq.heappop(self.frontier)
                    if url != self.start_url and not await self.robots.allowed(url):
                        continue
                    scheduled += 1
                    in_flight.add(asyncio.create_task(self._visit(url, depth)))
                if not in_flight:
                    if self.frontier and self.memory.full and scheduled < self.settings.max_pages:
                        self.memory.stopped(len(self.frontier))
                    break
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                await self.checkpoint()
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _fetch(self, url: str) -> Page:
        if self.settings.render == "browser" and self.renderer is not None:
            return await self.renderer.render(url)
        return await self.fetcher.fetch(url, may_follow=self.robots.allowed)

    async def _visit(self, url: str, depth: int) -> None:
        is_entry = url == self.start_url
        try:
            page = await self._fetch(url)
        except LeadworkerError as exc:  # includes ForbiddenTarget: a redirect may lead anywhere
            if is_entry:
                self.entry_error = exc
            return
        self.pages += 1
        final = canonical_url(page.final_url)
        self.seen.add(final)
        if is_entry and final != self.start and page.ok:
            # A site that moved (acme-old.test -> acme.test) is crawled where it lives now.
            self.domains.add(site_key(final))
        if not page.ok or not page.is_html:
            if is_entry:
                self.entry_error = PermanentError(f"{url} answered HTTP {page.status}", kind="target_unavailable")
            return
        if not self._on_site(final):
            return  # a link that redirected off the site: not this company's page
        if final != canonical_url(url) and not await self.robots.allowed(page.final_url):
            return  # redirected into a part of the site robots.txt keeps us out of
        try:
            facts = await parse_page(page, self.region)
        except Exception as exc:  # a page the parser chokes on fails alone
            log.warning("page could not be parsed", url=url, error=repr(exc))
            return
        rendered = page.mode == "browser"
        if (
            self.settings.render == "auto"
            and self.renderer is not None
            and not rendered
            and await self._wants_render(facts, url, is_entry)
        ):
            facts, rendered = await self._render_into(url, page, facts)
        if facts.canonical and self._on_site(facts.canonical):
            self.seen.add(canonical_url(facts.canonical))
        robots_header = page.headers.get("X-Robots-Tag", "").lower()
        follow = not (facts.nofollow_page or "nofollow" in robots_header or "none" in robots_header)
        if follow and depth < self.settings.max_depth:
            self._enqueue(facts.links, depth + 1)
        self._keep(_Visited(facts, page.mode == "static", depth, rendered), page)

    def _keep(self, visited: _Visited, page: Page) -> None:
        """Keep what the rest of the crawl needs of a page just read, and count it in the job's budget."""
        facts = visited.facts
        facts.links = []  # in the frontier now
        if self.region is not None:
            # Its phones were read with the region the whole site has; only a site whose region is still to
            # be found needs the text again (see fold_site).
            facts.phone_inputs.text = ""
        visited.held = _facts_bytes(facts)
        self.memory.hold(visited.held)
        self.visited.append(visited)
        self._email_seen = self._email_seen or bool(facts.emails)
        self._phone_seen = self._phone_seen or bool(facts.phones)
        if self._email_seen and self._phone_seen:
            self._drop_kept_pages()  # the site shows both: the render fallback will not run
        elif visited.static and self._may_render_later(visited):
            self._keep_page(visited, page)

    def _may_render_later(self, visited: _Visited) -> bool:
        """Whether :meth:`_render_fallback` may render this page (so keeping its HTML saves a fetch)."""
        return (
            self.settings.render == "auto"
            and self.renderer is not None
            and not visited.rendered
            and visited.facts.has_scripts
        )

    def _keep_page(self, visited: _Visited, page: Page) -> None:
        """Keep the HTML of the best few pages a render may want, within the budget; drop all of them as soon
        as the site shows an e-mail and a phone (then nothing is rendered)."""
        size = sys.getsizeof(page.text)
        if self.memory.try_hold(size):
            visited.static_page, visited.held = page, visited.held + size
            self._kept_pages.append(visited)
            self._kept_pages.sort(key=lambda v: v.render_rank)
        for dropped in self._kept_pages[_FALLBACK_RENDERS:]:
            self._drop_page(dropped)
        del self._kept_pages[_FALLBACK_RENDERS:]

    def _drop_page(self, visited: _Visited) -> None:
        if visited.static_page is not None:
            size = sys.getsizeof(visited.static_page.text)
            visited.static_page, visited.held = None, visited.held - size
            self.memory.release(size)

    def _drop_kept_pages(self) -> None:
        for visited in self._kept_pages:
            self._drop_page(visited)
        self._kept_pages = []

    def _enqueue(self, links: list[Link], depth: int) -> None:
        for link in links:
            if link.nofollow:
                continue
            url = urldefrag(link.url)[0]
            key = canonical_url(url)
            parts = urlsplit(key)
            if parts.scheme not in ("http", "https") or key in self.seen:
                continue
            if not self._on_site(key) or _SKIP_EXTENSIONS.search(parts.path):
                continue
            if not path_allowed(parts.path or "/", self.settings.include, self.settings.exclude):
                continue
            self.seen.add(key)
            heapq.heappush(self.frontier, (contact_score(key, link.text), depth, next(self._counter), url))

    async def _wants_render(self, facts: PageFacts, url: str, is_entry: bool) -> bool:
        if facts.needs_script:
            return True
        if not facts.has_scripts:
            return False
        found = bool(facts.emails or facts.phones)
        contact_like = contact_score(url) == 0
        if not found and (is_entry or contact_like):
            return True
        if facts.script_srcs and (contact_like or is_entry or not found) and self.scripts is not None:
            return await self.scripts.writes_content(facts.script_srcs)
        return False

    async def _render_into(self, url: str, page: Page | None, facts: PageFacts) -> tuple[PageFacts, bool]:
        assert self.renderer is not None
        try:
            rendered = await self.renderer.render(url, prefetched=page)
            rendered_facts = await parse_page(rendered, self.region)
        except LeadworkerError as exc:
            log.info("render failed; keeping the static page", url=url, error=one_line(exc), kind=exc.kind)
            return facts, False
        except Exception as exc:
            log.warning("rendered page could not be parsed", url=url, error=repr(exc))
            return facts, False
        return _merge_rendered(facts, rendered_facts), True

    async def _render_fallback(self) -> None:
        """A site with no e-mail or no phone at all: render its entry and contact pages that run script."""
        if self._email_seen and self._phone_seen:
            return
        candidates = [v for v in self.visited if not v.rendered and v.static and v.facts.has_scripts]
        candidates.sort(key=lambda v: v.render_rank)
        for visited in candidates[:_FALLBACK_RENDERS]:
            if self._out_of_time():
                break
            # A page whose HTML was not kept (the budget was full) is fetched again by the renderer.
            visited.facts, visited.rendered = await self._render_into(
                visited.facts.url, visited.static_page, visited.facts
            )
            visited.facts.links = []
            self._drop_page(visited)
            await self.checkpoint()


async def crawl_site(
    target: str,
    job: ScrapeJob,
    fetcher: StaticFetcher,
    robots: RobotsCache,
    settings: CrawlSettings,
    checkpoint: Callable[[], Awaitable[None]],
    *,
    renderer: RenderSession | None = None,
    scripts: ScriptScanner | None = None,
    deadline: float | None = None,
    budget: MemoryBudget | None = None,
) -> SiteResult:
    """Crawl one site from ``target``; return its lead (or the error that stopped the entry page).

    ``budget`` is the job's memory budget when it crawls several sites; a site of its own otherwise.
    """
    return await SiteCrawl(
        target,
        job,
        fetcher,
        robots,
        settings,
        checkpoint,
        renderer,
        scripts or ScriptScanner(fetcher),
        deadline,
        budget,
    ).run()


def fold_site(start: str, domain: str, pages: list[PageFacts], region: str | None = None) -> LeadRecord:
    """One lead from all the pages of a site; every value keeps the first URL it was found on.

    ``region`` is the job's hint; without one, the site's region is inferred from its pages and phones
    written in national format are read again with it.
    """
    site_region = region or infer_region(pages)
    emails: dict[str, str] = {}
    phones: dict[str, str] = {}
    socials: dict[str, str] = {}
    names: list[tuple[int, int, str, str]] = []
    addresses: list[tuple[str, str]] = []
    postal: dict[str, str] = {}
    description = None
    country = None
    others: dict[str, ThirdParty] = {}
    for order, facts in enumerate(pages):
        for email, url in facts.emails.items():
            emails.setdefault(email, url)
        page_phones, page_others = facts.phones, facts.third_party
        if site_region != facts.region:
            page_phones = resolve_phones(facts.phone_inputs, site_region, facts.url)
            page_others = {
                **{v: t for v, t in facts.third_party.items() if t.kind == "email"},
                **resolve_third_party_phones(facts.phone_inputs, site_region, facts.url),
            }
        for phone, url in page_phones.items():
            phones.setdefault(phone, url)
        for value, third in page_others.items():
            others.setdefault(value, third)
        for network, url in facts.socials.items():
            socials.setdefault(network, url)
        names.extend((priority, order, name, facts.url) for priority, name in facts.names)
        addresses.extend((a, facts.url) for a in facts.addresses if a not in [x for x, _ in addresses])
        for key, value in facts.postal.items():
            postal.setdefault(key, value)
        description = description or facts.description
        country = country or facts.country
    _credited(pages, domain, emails, others)
    evidence = {**emails, **phones}
    name = best_name((priority, n) for priority, _, n, _ in names)
    if name:
        evidence["company_name"] = next(url for _, _, n, url in sorted(names) if n == name)
    if addresses:
        evidence["address"] = addresses[0][1]
    site = site_of(start)
    return LeadRecord(
        company_name=name,
        website=site.url if site is not None else start,
        emails=sorted(emails),
        phones=sorted(phones),
        address=addresses[0][0] if addresses else None,
        city=postal.get("city"),
        region=postal.get("region"),
        postal_code=postal.get("postal_code"),
        country=country or postal.get("country"),
        description=description,
        socials=socials,
        source_url=start,
        evidence=evidence,
        attributes={"domain": domain, "pages": len(pages), **({"phone_region": site_region} if site_region else {})},
        third_party=[
            ThirdPartyContact(value=value, kind=third.kind, reason=third.reason, context=third.context, url=third.url)
            for value, third in sorted(others.items())
            if value not in emails and value not in phones
        ],
    )


def _credited(pages: list[PageFacts], domain: str, emails: dict[str, str], others: dict[str, ThirdParty]) -> None:
    """An address on a domain that some page of the site credits (an agency's, a host's) is that party's,
    whichever page shows it; one on the site's own domain never is."""
    credited = {d: reason for facts in pages for d, reason in facts.credited_domains.items() if d != domain}
    if not credited:
        return
    for email in [e for e in emails if registrable_domain(e.split("@")[1]) in credited]:
        reason = credited[registrable_domain(email.split("@")[1]) or ""]
        others.setdefault(
            email,
            ThirdParty(
                "email", reason, f"an address of {email.split('@')[1]}, which the site credits", emails.pop(email)
            ),
        )


async def crawl_sites(
    job: ScrapeJob,
    fetcher: StaticFetcher,
    settings: CrawlSettings,
    checkpoint: Callable[[], Awaitable[None]],
    *,
    final_attempt: bool,
    renderer: RenderSession | None = None,
    deadline: float | None = None,
) -> tuple[list[LeadRecord], int]:
    """Crawl every target site of ``job``. Returns the leads and the number of pages fetched.

    If a site's entry page failed transiently, the job is retried (:class:`TransientError`), unless this is
    its final attempt and other sites did yield leads: then those are kept. If every site failed for good,
    the job fails with the first site's reason.
    """
    robots = RobotsCache(fetcher, settings.user_agent)
    scripts = ScriptScanner(fetcher)
    budget = MemoryBudget(settings.memory_bytes)
    by_site: dict[str, str] = {}
    for target in job.targets:
        by_site.setdefault(target_site(target), target)
    slots = asyncio.Semaphore(SITES_AT_ONCE)

    async def one(target: str) -> SiteResult:
        async with slots:
            return await crawl_site(
                target,
                job,
                fetcher,
                robots,
                settings,
                checkpoint,
                renderer=renderer,
                scripts=scripts,
                deadline=deadline,
                budget=budget,
            )

    results = await asyncio.gather(*(one(t) for t in by_site.values()))
    if budget.pages_left:
        log.warning(
            "crawls stopped at the job's memory budget; pages left unread",
            pages_left=budget.pages_left,
            limit_bytes=budget.limit,
            peak_bytes=budget.peak,
        )
    records = [r.record for r in results if r.record is not None]
    pages = sum(r.pages for r in results)
    errors = [r.error for r in results if r.error is not None]
    transient = [e for e in errors if isinstance(e, TransientError)]
    if transient and (not records or not final_attempt):
        raise TransientError(
            f"{len(transient)} of {len(results)} sites failed: {one_line(transient[0])}", kind=transient[0].kind
        )
    if not records and errors:
        first = errors[0]
        raise PermanentError(one_line(first), kind=first.kind)
    return records, pages
