"""The ``directory:<recipe>`` source: listing sites (yellow pages, maps, trade registers) read by a recipe.

A recipe is a YAML or JSON file, validated when it is loaded (an error names the file and the field, on one
line). It says where the search is (``search_url``, a template filled from the job's ``search_query``,
``geography``, ``industry`` and ``keywords``), which element is one result (``results``), how to read each
field of a lead from it (``fields``), where the next page is (``next_page``), which link leads to a result's
own detail page (``detail_link``, read with ``detail_fields``), how many listing pages to read at most
(``max_pages``), and whether to crawl each result's website as the ``website`` source would
(``follow_website``). Example (the one ``leadworker demo`` uses ships in ``scrape/recipes/``)::

    name: demo-directory
    base_url: http://bizdirectory.test
    search_url: "{base_url}/search?q={query}&where={geography}"
    results: "article.listing"
    fields:
      company_name: "h2 a"
      phones: {selector: ".phone", all: true}
      website: "a.website::attr(href)"
      address: ".address"
      categories: {selector: ".tag", all: true}
    detail_link: "h2 a::attr(href)"
    detail_fields:
      emails: {selector: "a[href^='mailto:']::attr(href)", all: true}
    next_page: "a[rel=next]::attr(href)"
    max_pages: 5
    follow_website: true

A field is a CSS selector (its text), ``selector::attr(name)`` (an attribute) or ``selector::text``, or an
object ``{selector, attribute, all, pattern}`` (``all`` keeps every match, ``pattern`` a regular expression
whose first group, or whole match, is kept; it runs with a time bound: see :mod:`leadworker.scrape.patterns`).

``render`` (``auto`` by default) renders a listing page only when its cards look drawn by script
(:mod:`leadworker.scrape.script_drawn`); ``results_json`` reads results the page carries as JSON
(:mod:`leadworker.scrape.embedded_json`); ``actions`` (scroll, click, wait for) run in the browser before a
listing page is read. The README's "Directory recipes" section lists every key with an example.
Recipes are found by name in ``LEADWORKER_RECIPES_DIR`` and then among the bundled ones;
``LEADWORKER_RECIPE_BASE_URLS`` (``name=url,...``) points a recipe's ``{base_url}`` at a mirror or staging copy.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus, urljoin, urlsplit

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from selectolax.lexbor import LexborHTMLParser

from leadworker.common.domains import country_tld
from leadworker.common.geo import region_from_place
from leadworker.common.regions import region_from_name, region_from_tld
from leadworker.config import Settings
from leadworker.contracts import LeadField, LeadRecord, ScrapeJob, describe_validation_error
from leadworker.errors import LeadworkerError, PermanentError, one_line
from leadworker.scrape.browser import BrowserUnavailable, PageAction, RenderError, RenderSession
from leadworker.scrape.budget import MemoryBudget
from leadworker.scrape.contacts import clean_email, find_emails, find_phones, parse_phone_value
from leadworker.scrape.crawl import CrawlSettings, RobotsCache, ScriptScanner, crawl_site
from leadworker.scrape.embedded_json import LD_JSON, item_values, json_items
from leadworker.scrape.extract import social_network
from leadworker.scrape.fetch import Page, StaticFetcher
from leadworker.scrape.patterns import PatternClock, check_pattern
from leadworker.scrape.script_drawn import listing_needs_rendering

log = structlog.get_logger(__name__)

BUNDLED_RECIPES = Path(__file__).parent / "recipes"
RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_TEMPLATE_KEYS = frozenset({"base_url", "query", "geography", "industry", "keywords"})
_SHORTHAND = re.compile(r"^(?P<css>.*?)(?:::(?:attr\((?P<attr>[\w:-]+)\)|(?P<text>text)))?$", re.DOTALL)
_DETAILS_AT_ONCE = 4
_MIN_PHONE_DIGITS = 6
_RESULT_BYTES = 1024
"""What one listing result keeps besides its values, roughly."""
_WEBSITES_AT_ONCE = 4

_LIST_FIELDS = frozenset({"emails", "phones", "categories", "socials"})


class FieldSelector(BaseModel):
    """How to read one field from a result (or detail page)."""

    model_config = ConfigDict(extra="forbid")

    selector: str = Field(min_length=1)
    attribute: str | None = None
    """Read this attribute instead of the text."""
    all: bool = False
    """Keep every match (for list fields), not just the first."""
    pattern: str | None = None
    """A regular expression applied to each value; its first group (or the whole match) is kept."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return check_pattern(value) if value is not None else None

    @classmethod
    def parse(cls, value: Any) -> Any:
        """``"css"``, ``"css::text"`` or ``"css::attr(name)"`` as a :class:`FieldSelector`."""
        if isinstance(value, str):
            match = _SHORTHAND.match(value.strip())
            assert match is not None
            return {"selector": match.group("css").strip(), "attribute": match.group("attr")}
        if isinstance(value, dict) and isinstance(value.get("selector"), str) and "::" in value["selector"]:
            shorthand = cls.parse(value["selector"])
            return {
                **value,
                "selector": shorthand["selector"],
                "attribute": value.get("attribute") or shorthand["attribute"],
            }
        return value


def _check_css(selector: str) -> str:
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except Exception as exc:
        raise ValueError(f"{selector!r} is not a CSS selector ({exc})") from None
    return selector


class JsonResults(BaseModel):
    """Where a listing page carries its results as JSON (see :mod:`leadworker.scrape.embedded_json`)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(LD_JSON, min_length=1)
    """CSS selector of the script element(s) holding the JSON; JSON-LD by default."""
    path: str | None = None
    """Dotted path to the list of results in that JSON; without it, every schema.org business in it."""
    fields: dict[LeadField, str] = Field(default_factory=dict)
    """Each field's dotted path within one result; without them, schema.org's names."""

    @classmethod
    def parse(cls, value: Any) -> Any:
        """``ld+json`` (or ``true``) as the JSON-LD default."""
        return {} if value in ("ld+json", True) else value


class RecipeAction(BaseModel):
    """One step a rendered listing page needs before its cards are read: exactly one of ``scroll``, ``click``,
    ``wait_for`` (a CSS selector; ``scroll: window`` scrolls the page)."""

    model_config = ConfigDict(extra="forbid")

    scroll: str | None = None
    click: str | None = None
    wait_for: str | None = None
    max: int = Field(10, ge=1, le=100)
    """Scrolls or clicks at most."""
    each: bool = False
    """``click``: click every match once ("show number") instead of the first one again and again ("more")."""
    timeout: float = Field(5.0, gt=0, le=30)
    """Seconds a click or a wait may take."""

    @model_validator(mode="after")
    def _one_kind(self) -> RecipeAction:
        given = [k for k in ("scroll", "click", "wait_for") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("an action is exactly one of scroll, click or wait_for")
        selector = getattr(self, given[0])
        if selector != "window":
            _check_css(selector)
        return self

    def page_action(self, results: str) -> PageAction:
        kind: Literal["scroll", "click", "wait_for"] = (
            "scroll" if self.scroll else "click" if self.click else "wait_for"
        )
        selector = self.scroll or self.click or self.wait_for or ""
        return PageAction(
            kind=kind,
            selector=selector,
            max=self.max,
            each=self.each,
            timeout=self.timeout,
            count=results if kind == "scroll" else None,
        )


class Recipe(BaseModel):
    """A directory recipe (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    base_url: str | None = None
    search_url: str = Field(min_length=1)
    results: str = Field(min_length=1, description="CSS selector of one result card")
    fields: dict[LeadField, FieldSelector] = Field(min_length=1)
    next_page: FieldSelector | None = None
    detail_link: FieldSelector | None = None
    detail_fields: dict[LeadField, FieldSelector] = Field(default_factory=dict)
    max_pages: int = Field(5, ge=1, le=1000)
    follow_website: bool = False
    country: str | None = Field(None, description="region hint for phones (ISO code or country name)")
    render: Literal["auto", "static", "browser"] = "auto"
    """``auto``: fetch statically, render a listing page whose cards look drawn by script."""
    results_json: JsonResults | None = None
    actions: list[RecipeAction] = Field(default_factory=list, max_length=10)
    """Steps a listing page needs in the browser (scroll a results pane, click "more", "show number")."""

    @field_validator("results_json", mode="before")
    @classmethod
    def _results_json_shorthand(cls, value: Any) -> Any:
        return JsonResults.parse(value)

    @field_validator("fields", "detail_fields", mode="before")
    @classmethod
    def _shorthand_fields(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: FieldSelector.parse(v) for k, v in value.items()}
        return value

    @field_validator("next_page", "detail_link", mode="before")
    @classmethod
    def _shorthand_links(cls, value: Any) -> Any:
        return FieldSelector.parse(value) if value is not None else None

    @field_validator("results")
    @classmethod
    def _results_css(cls, value: str) -> str:
        return _check_css(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and region_from_name(value) is None:
            raise ValueError(f"{value!r} is not a country name or ISO code")
        return value

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        unknown = set(_PLACEHOLDER.findall(self.search_url)) - _TEMPLATE_KEYS
        if unknown:
            raise ValueError(
                f"search_url has unknown placeholders {sorted(unknown)}; use {', '.join(sorted(_TEMPLATE_KEYS))}"
            )
        if "{base_url}" in self.search_url and not self.base_url:
            raise ValueError("search_url uses {base_url} but the recipe has no base_url")
        if "{base_url}" not in self.search_url and urlsplit(self.search_url).scheme not in ("http", "https"):
            raise ValueError("search_url must be an absolute http(s) URL or start with {base_url}")
        for selector in [
            *self.fields.values(),
            *self.detail_fields.values(),
            *(s for s in (self.next_page, self.detail_link) if s is not None),
        ]:
            _check_css(selector.selector)
        if self.detail_fields and self.detail_link is None:
            raise ValueError("detail_fields need a detail_link")
        return self

    def search_url_for(self, job: ScrapeJob, base_url: str | None = None) -> str:
        """The first listing page of ``job``'s search."""
        values = {
            "base_url": (base_url or self.base_url or "").rstrip("/"),
            "query": quote_plus(job.search_query or ""),
            "geography": quote_plus(job.geography or ""),
            "industry": quote_plus(job.industry or ""),
            "keywords": quote_plus(" ".join(job.keywords)),
        }
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.search_url)


# --- finding and loading recipes -------------------------------------------------------------------------


def recipe_dirs(settings: Settings) -> list[Path]:
    """Where recipes are looked up, in order: ``LEADWORKER_RECIPES_DIR``, then the bundled ones."""
    dirs = [settings.recipes_dir] if settings.recipes_dir is not None else []
    return [*dirs, BUNDLED_RECIPES]


def available_recipes(settings: Settings) -> list[str]:
    names: set[str] = set()
    for folder in recipe_dirs(settings):
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in RECIPE_SUFFIXES)
    return sorted(names)


def load_recipe_file(path: Path) -> Recipe:
    """Read and validate one recipe file; a :class:`PermanentError` (kind ``invalid_recipe``) says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PermanentError(f"recipe {path}: cannot be read: {exc}", kind="invalid_recipe") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise PermanentError(
            f"recipe {path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", kind="invalid_recipe"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PermanentError(f"recipe {path}: not YAML ({problem}{where})", kind="invalid_recipe") from None
    if not isinstance(data, dict):
        raise PermanentError(
            f"recipe {path}: expected a mapping of recipe fields, got {type(data).__name__}", kind="invalid_recipe"
        )
    data.setdefault("name", path.stem)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise PermanentError(f"recipe {path}: {describe_validation_error(exc)}", kind="invalid_recipe") from None


def find_recipe(name: str, settings: Settings) -> Recipe:
    """The recipe called ``name``; a clear :class:`PermanentError` if there is none or it is invalid."""
    for folder in recipe_dirs(settings):
        for suffix in RECIPE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return load_recipe_file(path)
    known = ", ".join(available_recipes(settings)) or "none"
    where = " or ".join(str(d) for d in recipe_dirs(settings))
    raise PermanentError(f"no directory recipe named {name!r} in {where} (available: {known})", kind="unknown_source")


# --- reading results -------------------------------------------------------------------------------------


def _values(node: Any, spec: FieldSelector, base_url: str, clock: PatternClock) -> list[str]:
    matches = node.css(spec.selector) if spec.all else [m for m in [node.css_first(spec.selector)] if m]
    values: list[str] = []
    for match in matches:
        if spec.attribute:
            raw = match.attributes.get(spec.attribute) or ""
            if spec.attribute in ("href", "src", "action", "data-href", "data-url"):
                raw = raw.strip()
                if raw and not raw.lower().startswith(("mailto:", "tel:", "javascript:")):
                    raw = urljoin(base_url, raw)
        else:
            raw = match.text(separator=" ", deep=True) or ""
        raw = " ".join(raw.split())
        if spec.pattern:
            raw = clock.search(spec.pattern, raw)
        if raw:
            values.append(raw)
    return values


def read_fields(
    node: Any,
    fields: Mapping[LeadField, FieldSelector],
    page_url: str,
    region: str | None,
    into: dict[str, Any],
    evidence: dict[str, str],
    clock: PatternClock | None = None,
    unreadable: list[str] | None = None,
) -> None:
    """Read ``fields`` from ``node`` into a lead's data, each value's evidence being ``page_url``.

    ``clock`` bounds the time of the fields' patterns; a run passes its own, shared by every result it reads.
    """
    clock = clock or PatternClock()
    store_fields(
        {name: _values(node, spec, page_url, clock) for name, spec in fields.items()},
        page_url,
        region,
        into,
        evidence,
        unreadable,
    )


def listing_region(data: Mapping[str, Any]) -> str | None:
    """The country a listing names for itself: its ``country`` field, else the place its address names."""
    country = data.get("country")
    if isinstance(country, str) and (code := region_from_name(country)):
        return code
    address = data.get("address")
    return region_from_place(address) if isinstance(address, str) else None


def store_fields(
    values: Mapping[str, list[str]],
    page_url: str,
    region: str | None,
    into: dict[str, Any],
    evidence: dict[str, str],
    unreadable: list[str] | None = None,
) -> None:
    """Put one result's raw ``values`` (by field) into a lead's data. Phones are read last, in the region the
    result names for itself (its country or address), else ``region``; phones that cannot be read are
    appended to ``unreadable``."""
    for name, found in values.items():
        if found and name != "phones":
            _store(name, found, page_url, into, evidence)
    phones = values.get("phones") or []
    if phones:
        phone_region = listing_region(into) or region
        for value in phones:
            read = [p for p in [parse_phone_value(value, phone_region)] if p] or list(find_phones(value, phone_region))
            if not read and sum(ch.isdigit() for ch in value) >= _MIN_PHONE_DIGITS:
                # Kept as written: the normalize stage reads it with what it knows of the lead, or counts it
                # in the job's invalid_phones with its reason.
                read = [value[:40]]
                if unreadable is not None:
                    unreadable.append(value)
            for phone in read:
                if phone not in into.setdefault("phones", []):
                    into["phones"].append(phone)
                    evidence.setdefault(phone, page_url)


def _store(name: str, values: list[str], page_url: str, into: dict[str, Any], evidence: dict[str, str]) -> None:
    if name == "emails":
        _store_emails(values, page_url, into, evidence)
    elif name == "socials":
        for value in values:
            network = social_network(value)
            if network:
                into.setdefault("socials", {}).setdefault(network, value)
    elif name == "categories":
        for value in values:
            if value not in into.setdefault("categories", []):
                into["categories"].append(value)
    elif name == "website":
        website = urljoin(page_url, values[0])
        if urlsplit(website).scheme in ("http", "https") and name not in into:
            into["website"] = website
            evidence.setdefault("website", page_url)
    elif name not in into:
        into[name] = values[0][:1000]
        evidence.setdefault(name, page_url)


def _store_emails(values: list[str], page_url: str, into: dict[str, Any], evidence: dict[str, str]) -> None:
    """The addresses of ``mailto:`` hrefs and of text, each once."""
    for value in values:
        for candidate in [value.removeprefix("mailto:").split("?")[0], *find_emails(value)]:
            email = clean_email(candidate)
            if email and email not in into.setdefault("emails", []):
                into["emails"].append(email)
                evidence.setdefault(email, page_url)


@dataclass
class _ListingPage:
    """A listing page as read: the answer, its parsed tree, and the results its JSON carries."""

    page: Page
    tree: LexborHTMLParser
    items: list[Mapping[str, Any]]


class DirectoryRun:
    """One job's run of one recipe."""

    def __init__(
        self,
        recipe: Recipe,
        job: ScrapeJob,
        fetcher: StaticFetcher,
        settings: Settings,
        checkpoint: Callable[[], Awaitable[None]],
        *,
        renderer: RenderSession | None = None,
        deadline: float | None = None,
    ) -> None:
        self.recipe = recipe
        self.job = job
        self.fetcher = fetcher
        self.settings = settings
        self.checkpoint = checkpoint
        self.renderer = renderer
        self.deadline = deadline
        self.pages = 0
        self.robots = RobotsCache(fetcher, settings.user_agent)
        self.clock = PatternClock(recipe=recipe.name)
        self.memory = MemoryBudget(settings.job_memory_bytes)
        """What the run keeps: its results, then the pages of the websites it crawls (see scrape.budget)."""
        host = urlsplit(recipe.base_url or recipe.search_url).hostname or ""
        self.region = (
            region_from_place(job.geography)
            or (region_from_name(recipe.country) if recipe.country else None)
            or region_from_tld(country_tld(host))
        )
        self.unreadable_phones: list[str] = []
        """Phone values of results that could not be read in any region the run knew."""
        self.rendered_because: dict[str, int] = {}
        """Listing pages ``render=auto`` rendered, by the sign that made it (see scrape.script_drawn)."""
        self.mode = self._render_mode()
        self.actions = [action.page_action(recipe.results) for action in recipe.actions]
        if self.actions and self.mode == "static":
            raise PermanentError(
                f"recipe {recipe.name!r} has actions, which need the browser, but the job or the recipe says "
                "render=static; use render=auto or browser",
                kind="invalid_recipe",
            )

    def _render_mode(self) -> Literal["static", "auto", "browser"]:
        if self.renderer is None or self.job.render == "static" or self.recipe.render == "static":
            return "static"
        if self.job.render == "browser" or self.recipe.render == "browser":
            return "browser"
        return "auto"

    async def _get(self, url: str) -> Page:
        """A detail page: rendered only when the run renders everything."""
        if not await self.robots.allowed(url):
            raise PermanentError(f"robots.txt disallows {url}", kind="robots")
        page = await self.fetcher.fetch(url)
        if self.mode == "browser" and self.renderer is not None:
            page = await self._rendered(url, page, ()) or page
        self.pages += 1
        return page

    async def _rendered(self, url: str, static: Page, actions: Sequence[PageAction]) -> Page | None:
        """``static`` rendered (with ``actions``), or ``None`` when the browser failed: the static answer then
        stands, and the render session counts the page as degraded."""
        assert self.renderer is not None
        try:
            return await self.renderer.render(url, prefetched=static, actions=actions)
        except (RenderError, BrowserUnavailable) as exc:
            log.warning("a listing page could not be rendered; its static cards are kept", url=url, error=one_line(exc))
            return None

    async def _listing(self, url: str) -> _ListingPage:
        """A listing page as the recipe needs it: static, rendered, or static and then rendered when its cards
        look drawn by script (``render=auto``)."""
        if not await self.robots.allowed(url):
            raise PermanentError(f"robots.txt disallows {url}", kind="robots")
        page = await self.fetcher.fetch(url)
        self.pages += 1
        if not page.ok or not page.is_html or self.mode == "static":
            return await self._read(page)
        if self.mode == "browser" or self.actions:
            return await self._read(await self._rendered(url, page, self.actions) or page)
        static = await self._read(page)
        if static.items:
            return static  # the page's own data has the results: nothing to draw
        tree = static.tree
        cards = len(tree.css(self.recipe.results))
        next_node = tree.css_first(self.recipe.next_page.selector) if self.recipe.next_page else None
        reason = listing_needs_rendering(
            tree, page.text, cards, next_node=next_node, has_next_url=bool(self._next_url(tree, page))
        )
        if reason is None:
            return static
        self.rendered_because[reason] = self.rendered_because.get(reason, 0) + 1
        log.info("listing page looks drawn by script; rendering it", url=url, reason=reason, static_cards=cards)
        rendered_page = await self._rendered(url, page, ())
        if rendered_page is None:
            return static
        rendered = await self._read(rendered_page)
        if len(rendered.tree.css(self.recipe.results)) + len(rendered.items) >= cards:
            return rendered
        return static

    async def _read(self, page: Page) -> _ListingPage:
        """``page`` parsed, with the JSON results it carries (read once)."""
        tree = await self._parse(page)
        return _ListingPage(page, tree, self._json_results(tree))

    def _json_results(self, tree: LexborHTMLParser) -> list[Mapping[str, Any]]:
        spec = self.recipe.results_json
        return json_items(tree, spec.source, spec.path) if spec is not None else []

    def _next_url(self, tree: LexborHTMLParser, page: Page) -> str | None:
        if self.recipe.next_page is None:
            return None
        links = _values(tree, self.recipe.next_page, page.final_url, self.clock)
        next_url = links[0] if links else None
        return next_url if next_url and urlsplit(next_url).scheme in ("http", "https") else None

    @staticmethod
    async def _parse(page: Page) -> LexborHTMLParser:
        if len(page.text) > 150_000:
            return await asyncio.to_thread(LexborHTMLParser, page.text)
        return LexborHTMLParser(page.text)

    async def run(self) -> list[LeadRecord]:
        base = self.settings.recipe_base_urls.get(self.recipe.name)
        url: str | None = self.recipe.search_url_for(self.job, base)
        limit = min(self.recipe.max_pages, self.job.max_pages)
        seen_pages: set[str] = set()
        found: list[tuple[dict[str, Any], dict[str, str], str | None]] = []
        keys: set[tuple[str, str]] = set()
        while url and len(seen_pages) < limit and url not in seen_pages:
            if self.memory.full:
                self.memory.stopped(1)
                log.warning(
                    "directory run stopped at the job's memory budget",
                    results=len(found),
                    limit_bytes=self.memory.limit,
                )
                break
            seen_pages.add(url)
            first = len(seen_pages) == 1
            try:
                listing = await self._listing(url)
            except LeadworkerError:
                if first:
                    raise
                break  # a later listing page failed: keep what the earlier ones gave
            page = listing.page
            if not page.ok:
                if first:
                    raise PermanentError(f"{url} answered HTTP {page.status}", kind="target_unavailable")
                break
            for data, evidence, detail in self._results(listing):
                key = (str(data.get("company_name", "")).casefold(), str(data.get("website", detail or "")))
                if not any(key) or key in keys:
                    continue
                keys.add(key)
                data["source_url"] = detail or page.final_url
                found.append((data, evidence, detail))
                self.memory.hold(_RESULT_BYTES + sum(len(str(v)) for v in data.values()))
            url = self._next_url(listing.tree, page)
            await self.checkpoint()
            if self.deadline is not None and time.monotonic() >= self.deadline:
                break
        if self.recipe.detail_fields:
            await self._read_details(found)
        self._report_unreadable_phones()
        records = [r for r in (self._record(data, evidence) for data, evidence, _ in found) if r is not None]
        if self.recipe.follow_website:
            records = await self._follow_websites(records)
        return records

    def _results(self, listing: _ListingPage) -> Iterator[tuple[dict[str, Any], dict[str, str], str | None]]:
        """Each result of a listing page: its cards, then the results its JSON carries."""
        page = listing.page
        for card in listing.tree.css(self.recipe.results):
            data: dict[str, Any] = {}
            evidence: dict[str, str] = {}
            read_fields(
                card,
                self.recipe.fields,
                page.final_url,
                self.region,
                data,
                evidence,
                self.clock,
                self.unreadable_phones,
            )
            detail = None
            if self.recipe.detail_link is not None:
                links = _values(card, self.recipe.detail_link, page.final_url, self.clock)
                detail = links[0] if links else None
            yield data, evidence, detail
        spec = self.recipe.results_json
        if spec is None:
            return
        paths: dict[str, str] = {str(name): path for name, path in spec.fields.items()}
        for item in listing.items:
            data, evidence = {}, {}
            store_fields(
                item_values(item, paths or None), page.final_url, self.region, data, evidence, self.unreadable_phones
            )
            yield data, evidence, None

    def _report_unreadable_phones(self) -> None:
        if self.unreadable_phones:
            log.warning(
                "listing phones could not be read: no region known for their national format",
                recipe=self.recipe.name,
                job_id=str(self.job.job_id),
                count=len(self.unreadable_phones),
                sample=self.unreadable_phones[:3],
                geography=self.job.geography,
            )

    async def _read_details(self, found: list[tuple[dict[str, Any], dict[str, str], str | None]]) -> None:
        slots = asyncio.Semaphore(_DETAILS_AT_ONCE)

        async def one(data: dict[str, Any], evidence: dict[str, str], detail: str) -> None:
            async with slots:
                try:
                    page = await self._get(detail)
                except LeadworkerError as exc:
                    log.info("directory detail page failed", url=detail, error=one_line(exc))
                    return
                if not page.ok or not page.is_html:
                    return
                tree = await self._parse(page)
                read_fields(tree, self.recipe.detail_fields, page.final_url, self.region, data, evidence, self.clock)

        await asyncio.gather(*(one(d, e, link) for d, e, link in found if link))

    def _record(self, data: dict[str, Any], evidence: dict[str, str]) -> LeadRecord | None:
        data.setdefault("attributes", {})["directory"] = self.recipe.name
        data["evidence"] = evidence
        try:
            return LeadRecord.model_validate(data)
        except ValidationError as exc:
            log.info("directory result skipped", reason=describe_validation_error(exc))
            return None

    async def _follow_websites(self, records: list[LeadRecord]) -> list[LeadRecord]:
        crawl = CrawlSettings(
            max_pages=self.job.max_pages,
            max_depth=self.job.max_depth if self.job.max_depth is not None else self.settings.max_depth,
            include=self.job.include_paths,
            exclude=self.job.exclude_paths,
            user_agent=self.settings.user_agent,
            concurrency=self.settings.host_concurrency,
            render=self.job.render if self.renderer is not None else "static",
            memory_bytes=self.settings.job_memory_bytes,
        )
        scripts = ScriptScanner(self.fetcher)
        slots = asyncio.Semaphore(_WEBSITES_AT_ONCE)

        async def one(record: LeadRecord) -> LeadRecord:
            if not record.website:
                return record
            async with slots:
                result = await crawl_site(
                    record.website,
                    self.job,
                    self.fetcher,
                    self.robots,
                    crawl,
                    self.checkpoint,
                    renderer=self.renderer,
                    scripts=scripts,
                    deadline=self.deadline,
                    budget=self.memory,
                )
            self.pages += result.pages
            if result.record is None:
                log.info(
                    "directory result's website yielded nothing",
                    website=record.website,
                    error=one_line(result.error) if result.error else None,
                )
                return record
            return merge_records(record, result.record)

        return list(await asyncio.gather(*(one(r) for r in records)))


def merge_records(listing: LeadRecord, site: LeadRecord) -> LeadRecord:
    """A directory result completed by its website's crawl: lists united, the listing's fields first."""
    data = listing.model_dump()
    crawled = site.model_dump()
    for name in ("emails", "phones", "categories"):
        data[name] = data[name] + [v for v in crawled[name] if v not in data[name]]
    for name, value in crawled.items():
        if name in ("emails", "phones", "categories", "evidence", "attributes", "source_url", "socials"):
            continue
        if not data.get(name) and value:
            data[name] = value
    data["socials"] = {**crawled["socials"], **data["socials"]}
    data["evidence"] = {**crawled["evidence"], **data["evidence"]}
    data["attributes"] = {**crawled["attributes"], **data["attributes"], "website_crawled": True}
    return LeadRecord.model_validate(data)


async def run_directory(
    name: str,
    job: ScrapeJob,
    fetcher: StaticFetcher,
    settings: Settings,
    checkpoint: Callable[[], Awaitable[None]],
    *,
    renderer: RenderSession | None = None,
    deadline: float | None = None,
) -> tuple[list[LeadRecord], int]:
    """Run the recipe ``name`` for ``job``: its leads and the number of pages fetched."""
    recipe = find_recipe(name, settings)
    run = DirectoryRun(recipe, job, fetcher, settings, checkpoint, renderer=renderer, deadline=deadline)
    records = await run.run()
    return records, run.pages


__all__ = [
    "BUNDLED_RECIPES",
    "DirectoryRun",
    "FieldSelector",
    "Recipe",
    "available_recipes",
    "find_recipe",
    "load_recipe_file",
    "merge_records",
    "read_fields",
    "run_directory",
]
