"""Extraction: contacts and company facts from one HTML page, each value with the URL it was found on.

Sources, most trusted first: JSON-LD and microdata Organization/LocalBusiness (name, email, telephone,
address, sameAs), ``mailto:`` and ``tel:`` links, Cloudflare-protected addresses, then the visible text
(e-mails, including obfuscations, and phones through phonenumbers' matcher; see :mod:`.contacts`). Text
that a visitor does not see is left out: scripts, styles, ``hidden`` and ``display:none`` elements (spam
traps, and the "null" spans some sites insert into addresses); text reversed with CSS is read the right
way round. The text is read as a visitor reads it, a line per block (:mod:`.layout`).

Contacts that the page shows for someone else (a web agency's credit, the hosting company, a partner, an
example in a blog post: see :mod:`.thirdparty`) are kept apart in :attr:`PageFacts.third_party`, with the
reason, and never among the company's own.

Phones depend on a region hint for national formats, and a site's region may only become clear from all
its pages; so a page keeps its raw phone inputs (:class:`PhoneInputs`) and :func:`resolve_phones` can parse
them again once the site's region is known (:func:`infer_region`).

This is pure CPU work; callers run large pages in a thread so that the event loop keeps answering broker
heartbeats.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from leadworker.common.domains import registrable_domain
from leadworker.common.regions import region_from_lang, region_from_name
from leadworker.scrape.contacts import (
    COMMON_REGIONS,
    clean_email,
    decode_cfemail,
    deobfuscate,
    find_emails,
    find_phones,
    format_phone,
    national_candidates,
    parse_phone_value,
    region_of_phone,
    score_regions,
)
from leadworker.scrape.layout import layout_text
from leadworker.scrape.thirdparty import Attribution, attribute, blank

__all__ = [
    "ForeignText",
    "Link",
    "PageFacts",
    "PhoneInputs",
    "ThirdParty",
    "best_name",
    "clean_email",
    "extract_page",
    "find_emails",
    "find_phones",
    "format_phone",
    "infer_region",
    "parse_tel_link",
    "resolve_phones",
    "resolve_third_party_phones",
    "script_writes_content",
    "social_network",
]

# --- socials ---------------------------------------------------------------------------------------------

_SOCIAL_HOSTS = {
    "linkedin.com": "linkedin",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "instagram.com": "instagram",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "github.com": "github",
    "xing.com": "xing",
    "tiktok.com": "tiktok",
    "pinterest.com": "pinterest",
}
_SOCIAL_NOISE = re.compile(
    r"/(sharer|share|sharearticle|share-offsite|intent|dialog|plugins|hashtag|search|login|signup|home|"
    r"embed|tr|watch|p|reel|status|explore)(\b|/|\.php|$)",
    re.I,
)


@functools.lru_cache(maxsize=16384)
def social_network(url: str) -> str | None:
    """The network of a profile URL (``linkedin``...), or ``None`` for share buttons and other pages."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for prefix in ("www.", "m.", "mobile.", "de.", "uk.", "fr.", "nl."):
        if host.startswith(prefix):
            host = host[len(prefix) :]
            break
    network = _SOCIAL_HOSTS.get(host)
    if network is None:
        return None
    path = parts.path.rstrip("/")
    if not path or _SOCIAL_NOISE.search(path):
        return None
    return network


# --- the page --------------------------------------------------------------------------------------------

ORG_TYPES = frozenset(
    {
        "organization",
        "localbusiness",
        "corporation",
        "store",
        "professionalservice",
        "restaurant",
        "medicalbusiness",
        "legalservice",
        "homeandconstructionbusiness",
        "automotivebusiness",
        "financialservice",
        "foodestablishment",
        "lodgingbusiness",
        "ngo",
        "educationalorganization",
        "sportsorganization",
        "dentist",
        "physician",
        "attorney",
        "plumber",
        "electrician",
        "hotel",
        "realestateagent",
        "accountingservice",
        "insuranceagency",
        "travelagency",
        "onlinebusiness",
        "generalcontractor",
        "roofingcontractor",
        "hvacbusiness",
        "housepainter",
        "locksmith",
        "movingcompany",
        "healthandbeautybusiness",
        "dayspa",
        "hairsalon",
        "beautysalon",
        "autorepair",
        "autodealer",
        "cafeorcoffeeshop",
        "bakery",
        "barorpub",
        "medicalclinic",
        "optician",
        "pharmacy",
        "veterinarycare",
        "employmentagency",
        "itservice",
        "notary",
        "lawfirm",
        "bankorcreditunion",
        "childcare",
        "gym",
        "healthclub",
        "sportsactivitylocation",
        "entertainmentbusiness",
        "shoppingcenter",
        "emergencyservice",
    }
)
_ADDRESS_TYPES = frozenset({"postaladdress", "place"})

_REFRESH_URL = re.compile(r"url\s*=\s*(\S+)", re.I)
_SCRIPT_REDIRECT = re.compile(
    r"location(?:\.href)?\s*=\s*[\"']([^\"'\s]+)[\"']|location\.(?:replace|assign)\(\s*[\"']([^\"'\s]+)[\"']"
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_REVERSED_STYLE = re.compile(r"direction\s*:\s*rtl", re.I)
_SCRIPT_WRITES = re.compile(
    r"innerHTML|outerHTML|insertAdjacent(?:HTML|Text)|document\.write|textContent|innerText|createTextNode|"
    r"\.html\(|\.text\(|\bfetch\(|XMLHttpRequest|\$\.(?:get|ajax|getJSON|post)\b|axios|mailto|"
    r"fromCharCode|atob\(|\.reverse\(\)|decodeURIComponent\(|unescape\(|ReactDOM|createRoot|Vue|"
    r"customElements\.define|attachShadow"
)
_ANALYTICS_HOSTS = re.compile(
    r"google-analytics|googletagmanager|gtag|doubleclick|facebook\.net|hotjar|clarity\.ms|plausible|"
    r"matomo|piwik|segment|cookiebot|onetrust|usercentrics|consent|recaptcha|hcaptcha|cloudflareinsights",
    re.I,
)


@dataclass
class Link:
    url: str
    text: str
    nofollow: bool


@dataclass(frozen=True)
class ThirdParty:
    """A contact a page shows for someone else, and why it is theirs (see :mod:`.thirdparty`)."""

    kind: str
    """``email`` or ``phone``."""
    reason: str
    """``credit``, ``hosting``, ``partner``, ``example`` (or ``shared``, decided across sites)."""
    context: str
    """The words that decided."""
    url: str
    """The page it was found on."""


@dataclass(frozen=True)
class ForeignText:
    """Text and ``tel:`` links of a page that show someone else's phones."""

    text: str
    links: tuple[str, ...]
    reason: str
    context: str


@dataclass
class PhoneInputs:
    """What a page offers as phones before a region decides national formats."""

    links: list[str] = field(default_factory=list)
    """The company's ``tel:`` hrefs and structured ``telephone`` values."""
    text: str = ""
    """The visible text, without what it shows for someone else."""
    foreign: list[ForeignText] = field(default_factory=list)
    """What it shows for someone else."""


@dataclass
class PageFacts:
    """What one page says about the company, each value mapped to the URL it was found on."""

    url: str
    emails: dict[str, str] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    names: list[tuple[int, str]] = field(default_factory=list)
    """Company name candidates with a priority (lower is better)."""
    socials: dict[str, str] = field(default_factory=dict)
    addresses: list[str] = field(default_factory=list)
    postal: dict[str, str] = field(default_factory=dict)
    """Structured address parts: city, region, postal_code, country."""
    links: list[Link] = field(default_factory=list)
    lang: str | None = None
    country: str | None = None
    description: str | None = None
    needs_script: bool = False
    """Strong sign that script fills the page in (an empty app mount, script that writes contacts...)."""
    has_scripts: bool = False
    script_srcs: list[str] = field(default_factory=list)
    """External scripts other than analytics (``render=auto`` may read them to decide)."""
    nofollow_page: bool = False
    noindex: bool = False
    canonical: str | None = None
    """The page's ``<link rel=canonical>``, absolute."""
    region: str | None = None
    """The region hint the phones were parsed with."""
    phone_inputs: PhoneInputs = field(default_factory=PhoneInputs)
    third_party: dict[str, ThirdParty] = field(default_factory=dict)
    """Contacts the page shows for someone else (never also in ``emails`` or ``phones``)."""
    credited_domains: dict[str, str] = field(default_factory=dict)
    """Other registrable domains the page credits (an agency's, a host's), with the reason: an address on
    one of them is that party's on every page of the site."""


_JSON_WRAPPERS = re.compile(
    r"^\s*(?:<!--|//\s*<!\[CDATA\[|/\*\s*<!\[CDATA\[\s*\*/)|(?:-->|//\s*\]\]>|/\*\s*\]\]>\s*\*/)\s*$"
)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _load_jsonld(text: str) -> Any:
    """JSON-LD as sites write it: wrapped in comments or CDATA, with the odd trailing comma."""
    text = _JSON_WRAPPERS.sub("", text.strip())
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            return json.loads(attempt, strict=False)
        except ValueError:
            continue
    return None


def _walk_jsonld(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 8:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk_jsonld(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in (
            "@graph",
            "mainEntity",
            "mainEntityOfPage",
            "publisher",
            "provider",
            "author",
            "brand",
            "organizer",
            "parentOrganization",
            "subOrganization",
            "department",
            "seller",
            "about",
            "itemListElement",
            "item",
            "location",
            "contactPoint",
        ):
            if key in data:
                yield from _walk_jsonld(data[key], depth + 1)


def _types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type", [])
    values = value if isinstance(value, list) else [value]
    return {str(v).rsplit("/", 1)[-1].lower() for v in values}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# A root-relative or absolute http(s) href in the plain form most links have: no dot segments, no params,
# no fragment, no whitespace. urljoin's answer for it is known without running urljoin (a fifth of the
# extraction of a page went there): the base's origin plus the href, or the href itself.
_PLAIN_PATH = r"(?:/(?!/)[A-Za-z0-9\-._~/%!$&'()*+,=:@]*)"
_PLAIN_QUERY = r"(?:\?[^\s#]+)?"
_PLAIN_ROOTED = re.compile(_PLAIN_PATH + _PLAIN_QUERY)
_PLAIN_ABSOLUTE = re.compile(r"https?://[A-Za-z0-9.\-_:@]+" + _PLAIN_PATH + "?" + _PLAIN_QUERY)


@functools.lru_cache(maxsize=65536)
def _absolute(base: str, href: str) -> str:
    """``urljoin(base, href)``, cached: the pages of a site repeat their navigation."""
    if "/." not in href:
        if href[:1] == "/":
            origin = _origin(base)
            if origin is not None and _PLAIN_ROOTED.fullmatch(href):
                return origin + href
        elif href[:4] == "http" and _origin(base) is not None and _PLAIN_ABSOLUTE.fullmatch(href):
            return href
    return urljoin(base, href)


@functools.lru_cache(maxsize=4096)
def _origin(base: str) -> str | None:
    """``scheme://netloc`` of an http(s) ``base`` that urljoin would keep as it is, else ``None``."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or not base.startswith(parts.scheme):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _clean(text: Any) -> str:
    return " ".join(str(text).split())


def _address_parts(value: Any) -> tuple[str | None, dict[str, str]]:
    """``(address line, parts)`` of a schema.org address (text or PostalAddress)."""
    if isinstance(value, str):
        return (_clean(value) or None), {}
    if not isinstance(value, dict):
        return None, {}
    country = value.get("addressCountry")
    if isinstance(country, dict):
        country = country.get("name") or country.get("identifier")
    parts: dict[str, str] = {}
    for key, name in (("addressLocality", "city"), ("addressRegion", "region"), ("postalCode", "postal_code")):
        if value.get(key):
            parts[name] = _clean(value[key])
    if country:
        parts["country"] = _clean(country)
    line = [value.get(k) for k in ("streetAddress", "postalCode", "addressLocality", "addressRegion")]
    line.append(country)
    text = ", ".join(_clean(p) for p in line if p and not isinstance(p, (dict, list)))
    return (text or None), parts


def _remove_invisible(tree: LexborHTMLParser) -> None:
    """Drop what a visitor does not see; read CSS-reversed text the right way round."""
    hidden: list[Any] = []
    reversed_nodes: list[Any] = []
    for node in tree.css("[hidden], [style]"):
        style = node.attributes.get("style") or ""
        if "hidden" in node.attributes or _HIDDEN_STYLE.search(style):
            hidden.append(node)
        elif _REVERSED_STYLE.search(style) and "bidi-override" in style.lower():
            reversed_nodes.append(node)
    if not hidden and not reversed_nodes:
        return
    hidden_ids = {node.mem_id for node in hidden}

    def inside_hidden(node: Any) -> bool:
        parent = node.parent
        while parent is not None:
            if parent.mem_id in hidden_ids:
                return True
            parent = parent.parent
        return False

    # Children of a removed node are gone with it: touch only the outermost ones.
    for node in reversed_nodes:
        if not inside_hidden(node):
            node.replace_with((node.text(deep=True) or "")[::-1])
    for node in hidden:
        if not inside_hidden(node):
            node.decompose()


def script_writes_content(source: str) -> bool:
    """True if script text looks like it writes content into the page (not just analytics)."""
    return bool(_SCRIPT_WRITES.search(source[:500_000]))


_INERT_SCRIPT_TYPES = frozenset(
    {
        "application/ld+json",
        "application/json",
        "text/template",
        "text/x-template",
        "importmap",
        "speculationrules",
        "text/plain",
    }
)
"""Script element types that hold data, not code."""
_APP_MOUNTS = ("#root", "#app", "#__next", "#__nuxt", "[data-reactroot]", "[ng-app]", "[x-data]")
_CONTACT_SLOTS = (
    "[data-contact], [data-email], [data-phone], [data-tel], [data-mail], .js-contact, .js-email, .js-phone"
)


def _script_signals(tree: LexborHTMLParser, site: str | None) -> tuple[bool, bool, list[str]]:
    """``(has scripts, strong sign that script renders content, same-site script URLs)``, read before
    scripts are stripped."""
    scripts = tree.css("script")
    if not scripts:
        return False, False, []
    runs, strong, sources = _read_script_tags(scripts)
    strong = strong or _noscript_asks_for_script(tree) or _empty_app_mount(tree) or _empty_contact_slot(tree)
    return runs, strong, sources


def _read_script_tags(scripts: list[Any]) -> tuple[bool, bool, list[str]]:
    """``(any runs, an inline one writes content, the URLs of the external ones but analytics)``."""
    strong = False
    runs = False
    sources: list[str] = []
    for node in scripts:
        kind = (node.attributes.get("type") or "").lower()
        if kind in _INERT_SCRIPT_TYPES:
            continue
        runs = True
        src = node.attributes.get("src")
        if src:
            if not _ANALYTICS_HOSTS.search(src):
                sources.append(src)
            continue
        body = node.text() or ""
        if body and not _ANALYTICS_HOSTS.search(body[:400]) and _SCRIPT_WRITES.search(body):
            strong = True
    return runs, strong, sources


def _noscript_asks_for_script(tree: LexborHTMLParser) -> bool:
    return any("javascript" in (node.text() or "").lower() for node in tree.css("noscript"))


def _empty_app_mount(tree: LexborHTMLParser) -> bool:
    """A single-page app's mount point with (almost) nothing in it yet."""
    for selector in _APP_MOUNTS:
        mount = tree.css_first(selector)
        if mount is not None and len((mount.text() or "").strip()) < 40:
            return True
    return False


def _empty_contact_slot(tree: LexborHTMLParser) -> bool:
    """An element named for a contact that script fills in, still empty."""
    return any(len((node.text() or "").strip()) < 3 for node in tree.css(_CONTACT_SLOTS))


def parse_tel_link(href: str, region: str | None) -> str | None:
    """A phone from a ``tel:`` link (kept for callers of the first version)."""
    return parse_phone_value(href, region or "US")


def resolve_phones(inputs: PhoneInputs, region: str | None, url: str) -> dict[str, str]:
    """Parse a page's phone inputs with ``region`` as the hint for national formats: the company's phones."""
    phones: dict[str, str] = {}
    for raw in inputs.links:
        phone = parse_phone_value(raw, region)
        if phone:
            phones.setdefault(phone, url)
    for phone in find_phones(inputs.text, region):
        phones.setdefault(phone, url)
    return phones


def resolve_third_party_phones(inputs: PhoneInputs, region: str | None, url: str) -> dict[str, ThirdParty]:
    """Parse the phones a page shows for someone else with ``region`` as the hint for national formats."""
    phones: dict[str, ThirdParty] = {}
    for foreign in inputs.foreign:
        found = [parse_phone_value(raw, region) for raw in foreign.links]
        found += list(find_phones(foreign.text, region)) if foreign.text else []
        for phone in found:
            if phone:
                phones.setdefault(phone, ThirdParty("phone", foreign.reason, foreign.context, url))
    return phones


def _email_from_href(href: str) -> list[str]:
    target = unquote(href.split(":", 1)[1])
    if target.startswith("?"):  # mailto:?to=a@b
        match = re.search(r"(?:^|[?&])to=([^&]+)", target)
        target = match.group(1) if match else ""
    addresses = target.split("?")[0]
    return [deobfuscate(a) for a in re.split(r"[,;]", addresses) if a.strip()]


@dataclass(slots=True)
class _Page:
    """One page's parsed state as the passes of :func:`extract_page` read and leave it."""

    tree: LexborHTMLParser
    url: str
    site: str | None
    """The page's registrable domain."""
    base: str = ""
    """What relative links resolve against: the page's URL or its ``<base href>``."""
    structured_emails: list[str] = field(default_factory=list)
    """``email`` values of JSON-LD and microdata, cleaned only once all are in."""
    structured_phones: list[str] = field(default_factory=list)
    phone_links: list[str] = field(default_factory=list)
    """``tel:`` and ``callto:`` hrefs."""
    mailto_links: list[str] = field(default_factory=list)
    visible: str = ""
    """The text a visitor reads, a line per block (once :func:`_read_visible_text` has run)."""
    others: Attribution = field(default_factory=Attribution)
    """What the visible text shows for someone else."""
    own_text: str = ""
    """``visible`` without what it shows for someone else."""


def extract_page(html: str, url: str, *, region: str | None = None) -> PageFacts:
    """Everything :class:`PageFacts` holds, from one page's HTML. ``region`` hints national phone formats."""
    facts = PageFacts(url=url, region=region)
    page = _Page(LexborHTMLParser(html), url, registrable_domain(url), base=url)
    for run in _PASSES:
        run(page, facts)
    return facts


def _read_head(page: _Page, facts: PageFacts) -> None:
    """``lang``, the robots meta, ``<base href>`` and the canonical link."""
    tree, url = page.tree, page.url
    html_node = tree.css_first("html")
    if html_node is not None:
        facts.lang = html_node.attributes.get("lang") or html_node.attributes.get("xml:lang")
    robots = tree.css_first('meta[name="robots" i]')
    if robots is not None:
        content = (robots.attributes.get("content") or "").lower()
        facts.nofollow_page = "nofollow" in content or "none" in content
        facts.noindex = "noindex" in content or "none" in content
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        page.base = urljoin(url, base_node.attributes.get("href") or "")
    canonical = tree.css_first('link[rel="canonical" i][href]')
    if canonical is not None and (canonical.attributes.get("href") or "").strip():
        facts.canonical = urljoin(url, (canonical.attributes.get("href") or "").strip())


def _read_jsonld(page: _Page, facts: PageFacts) -> None:
    """Organizations and contact points of the page's JSON-LD."""
    for node in page.tree.css('script[type="application/ld+json" i]'):
        data = _load_jsonld(node.text() or "")
        if data is None:
            continue
        for obj in _walk_jsonld(data):
            types = _types(obj)
            if "contactpoint" in types:
                page.structured_emails += [str(e) for e in _as_list(obj.get("email"))]
                page.structured_phones += [str(p) for p in _as_list(obj.get("telephone"))]
            elif types & ORG_TYPES:
                _read_jsonld_org(obj, page, facts)


def _read_jsonld_org(obj: dict[str, Any], page: _Page, facts: PageFacts) -> None:
    name = obj.get("name") or obj.get("legalName")
    if isinstance(name, str) and name.strip():
        facts.names.append((0, name.strip()))
    page.structured_emails += [str(e) for e in _as_list(obj.get("email"))]
    page.structured_phones += [str(p) for p in _as_list(obj.get("telephone"))]
    for address in _as_list(obj.get("address")):
        text, parts = _address_parts(address)
        if text:
            facts.addresses.append(text)
        for key, value in parts.items():
            facts.postal.setdefault(key, value)
        if parts.get("country") and not facts.country:
            facts.country = parts["country"]
    for profile in _as_list(obj.get("sameAs")):
        if isinstance(profile, str):
            network = social_network(profile)
            if network:
                facts.socials.setdefault(network, profile)
    description = obj.get("description")
    if isinstance(description, str) and not facts.description:
        facts.description = _clean(description)[:1000]


_MICRODATA_POSTAL = {
    "addressLocality": "city",
    "postalCode": "postal_code",
    "addressRegion": "region",
    "addressCountry": "country",
}


def _read_microdata(page: _Page, facts: PageFacts) -> None:
    """Microdata addresses, and the properties of microdata organizations."""
    for scope in page.tree.css("[itemscope][itemtype]"):
        itemtype = (scope.attributes.get("itemtype") or "").rsplit("/", 1)[-1].lower()
        if itemtype in _ADDRESS_TYPES and scope.attributes.get("itemprop") is None:
            text = _clean(scope.text(separator=" ") or "")
            if text and len(text) < 300:
                facts.addresses.append(text)
            continue
        if itemtype not in ORG_TYPES:
            continue
        for prop in scope.css("[itemprop]"):
            value = _clean(prop.attributes.get("content") or prop.attributes.get("href") or prop.text() or "")
            if value:
                _read_microdata_prop(prop, value, page, facts)


def _read_microdata_prop(prop: Any, value: str, page: _Page, facts: PageFacts) -> None:
    prop_name = prop.attributes.get("itemprop")
    if prop_name in ("name", "legalName") and not prop.css_first("[itemprop]"):
        facts.names.append((1, value))
    elif prop_name == "email":
        page.structured_emails.append(value)
    elif prop_name == "telephone":
        page.structured_phones.append(value)
    elif prop_name == "address":
        facts.addresses.append(_clean(prop.text(separator=" ") or value))
    elif prop_name in _MICRODATA_POSTAL:
        facts.postal.setdefault(_MICRODATA_POSTAL[prop_name], value)
    elif prop_name == "sameAs":
        network = social_network(value)
        if network:
            facts.socials.setdefault(network, value)


def _read_meta(page: _Page, facts: PageFacts) -> None:
    """The meta description (unless structured data had one), the site name metas and the title."""
    tree = page.tree
    if not facts.description:
        meta = tree.css_first('meta[name="description" i]') or tree.css_first('meta[property="og:description"]')
        if meta is not None and meta.attributes.get("content"):
            facts.description = _clean(meta.attributes.get("content") or "")[:1000]
    for selector, priority in (('meta[property="og:site_name"]', 2), ('meta[name="application-name"]', 3)):
        meta = tree.css_first(selector)
        if meta is not None and (meta.attributes.get("content") or "").strip():
            facts.names.append((priority, (meta.attributes.get("content") or "").strip()))
    title = tree.css_first("title")
    if title is not None:
        text = _clean(title.text() or "")
        if text:
            facts.names.append((4, re.split(r"\s+[|–—:·-]\s+", text)[0].strip()))


def _read_cfemails(page: _Page, facts: PageFacts) -> None:
    """Cloudflare-protected addresses written as ``data-cfemail``."""
    for node in page.tree.css("[data-cfemail]"):
        decoded = decode_cfemail(node.attributes.get("data-cfemail") or "")
        email = clean_email(decoded, page.site) if decoded else None
        if email:
            facts.emails.setdefault(email, page.url)


def _read_anchors(page: _Page, facts: PageFacts) -> None:
    """The page's links: ``mailto:`` and ``tel:`` set aside for later, Cloudflare-protected addresses,
    social profiles, and the links a crawl follows."""
    for node in page.tree.css("a[href], area[href]"):
        href = (node.attributes.get("href") or "").strip()
        if not href:
            continue
        lowered = href.lower()
        if lowered.startswith("mailto:"):
            page.mailto_links.append(href)
        elif lowered.startswith(("tel:", "callto:")):
            page.phone_links.append(href)
        elif "/cdn-cgi/l/email-protection#" in lowered:
            decoded = decode_cfemail(href.rsplit("#", 1)[1])
            email = clean_email(decoded, page.site) if decoded else None
            if email:
                facts.emails.setdefault(email, page.url)
        elif not lowered.startswith(("javascript:", "data:", "#", "sms:", "whatsapp:", "skype:")):
            absolute = _absolute(page.base, href)
            network = social_network(absolute)
            if network:
                facts.socials.setdefault(network, absolute)
            else:
                rel = (node.attributes.get("rel") or "").lower()
                facts.links.append(Link(absolute, _clean(node.text() or "")[:200], "nofollow" in rel))


def _read_forwards(page: _Page, facts: PageFacts) -> None:
    """Frames, meta refresh and script redirects lead to pages too (a crawler that misses them misses sites
    whose home page only forwards)."""
    tree, base = page.tree, page.base
    for node in tree.css("iframe[src], frame[src]"):
        src = (node.attributes.get("src") or "").strip()
        if src and not src.lower().startswith(("javascript:", "data:", "about:")):
            facts.links.append(Link(_absolute(base, src), "", False))
    refresh = tree.css_first('meta[http-equiv="refresh" i][content]')
    if refresh is not None:
        target = _REFRESH_URL.search(refresh.attributes.get("content") or "")
        if target:
            facts.links.append(Link(_absolute(base, target.group(1).strip("'\" ")), "", False))
    for node in tree.css("script:not([src])"):
        body = node.text() or ""
        if "location" in body:
            for match in _SCRIPT_REDIRECT.finditer(body[:20_000]):
                facts.links.append(Link(_absolute(base, match.group(1) or match.group(2)), "", False))


def _read_address_tags(page: _Page, facts: PageFacts) -> None:
    for node in page.tree.css("address"):
        text = _clean(node.text(separator=" ") or "")
        if text and len(text) < 300:
            facts.addresses.append(text)


def _keep_structured_emails(page: _Page, facts: PageFacts) -> None:
    for candidate in page.structured_emails:
        email = clean_email(deobfuscate(candidate), page.site)
        if email:
            facts.emails.setdefault(email, page.url)


def _read_scripts(page: _Page, facts: PageFacts) -> None:
    """Whether script runs and renders content, and the same-site script URLs: read before scripts go."""
    facts.has_scripts, facts.needs_script, sources = _script_signals(page.tree, page.site)
    for src in sources:  # analytics and consent managers are already left out
        absolute = _absolute(page.base, src)
        if absolute.startswith(("http://", "https://")) and len(facts.script_srcs) < 5:
            facts.script_srcs.append(absolute)


def _read_visible_text(page: _Page, facts: PageFacts) -> None:
    """The text a visitor reads (scripts, styles and hidden elements gone), and what of it shows someone
    else's contacts."""
    tree = page.tree
    tree.strip_tags(["script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"])
    _remove_invisible(tree)
    layout = layout_text(tree)
    page.visible = layout.text
    page.others = attribute(layout, page.site, " ".join(name for _, name in facts.names))
    page.own_text = blank(page.visible, page.others.stretches)


def _read_emails(page: _Page, facts: PageFacts) -> None:
    """The company's addresses of ``mailto:`` links and the visible text; then someone else's apart."""
    site, url, others = page.site, page.url, page.others
    for href in page.mailto_links:
        if href not in others.hrefs:
            for address in _email_from_href(href):
                email = clean_email(address, site)
                if email:
                    facts.emails.setdefault(email, url)
    for candidate in find_emails(page.own_text, site):
        email = clean_email(candidate, site)
        if email:
            facts.emails.setdefault(email, url)
    _third_party_emails(facts, others, page.visible, page.mailto_links, site)


def _read_phones(page: _Page, facts: PageFacts) -> None:
    """The phone inputs, parsed with the page's region hint (:func:`resolve_phones` may parse them again)."""
    others = page.others
    facts.phone_inputs = PhoneInputs(
        links=[link for link in page.phone_links if link not in others.hrefs] + page.structured_phones,
        text=page.own_text,
        foreign=_foreign_phone_inputs(others, page.visible, page.phone_links),
    )
    facts.phones = resolve_phones(facts.phone_inputs, facts.region, page.url)
    for phone, third in resolve_third_party_phones(facts.phone_inputs, facts.region, page.url).items():
        if phone not in facts.phones:
            facts.third_party.setdefault(phone, third)


def _judge_script_need(page: _Page, facts: PageFacts) -> None:
    """A page with scripts, no contacts and little text is probably filled in by script."""
    if not facts.needs_script and facts.has_scripts and not (facts.emails or facts.phones):
        facts.needs_script = len(page.visible.strip()) < 200


_PASSES: tuple[Callable[[_Page, PageFacts], None], ...] = (
    # Over the markup as served (scripts still in it).
    _read_head,
    _read_jsonld,
    _read_microdata,
    _read_meta,
    _read_cfemails,
    _read_anchors,
    _read_forwards,
    _read_address_tags,
    _keep_structured_emails,
    _read_scripts,
    # Over the text a visitor reads (this strips the markup it needs no more).
    _read_visible_text,
    _read_emails,
    _read_phones,
    _judge_script_need,
)
"""The passes of :func:`extract_page`, in order: each reads the page's state and adds to its facts."""


def _third_party_emails(
    facts: PageFacts, others: Attribution, visible: str, mailto_links: list[str], site: str | None
) -> None:
    """Move what ``others`` says is someone else's into ``facts.third_party``: the addresses of the foreign
    stretches and links, and the company-looking ones on a domain a credit links to. An address on the
    site's own domain stays the company's."""
    url = facts.url
    found = _foreign_emails(others, visible, mailto_links, site, url)
    for domain, stretch in others.domains.items():
        facts.credited_domains.setdefault(domain, stretch.reason)
        for email in [e for e in facts.emails if registrable_domain(e.split("@")[1]) == domain]:
            del facts.emails[email]
            found.setdefault(email, ThirdParty("email", stretch.reason, stretch.context, url))
    for email, third in found.items():
        if registrable_domain(email.split("@")[1]) == site:
            facts.emails.setdefault(email, url)
        elif email not in facts.emails:
            facts.third_party.setdefault(email, third)


def _foreign_emails(
    others: Attribution, visible: str, mailto_links: list[str], site: str | None, url: str
) -> dict[str, ThirdParty]:
    """The addresses in the foreign stretches of the text and in the foreign ``mailto:`` links."""
    found: dict[str, ThirdParty] = {}
    for stretch in others.stretches:
        for candidate in find_emails(visible[stretch.start : stretch.end], site):
            email = clean_email(candidate, site)
            if email:
                found.setdefault(email, ThirdParty("email", stretch.reason, stretch.context, url))
    for href in mailto_links:
        linked = others.hrefs.get(href)
        if linked is not None:
            for address in _email_from_href(href):
                email = clean_email(address, site)
                if email:
                    found.setdefault(email, ThirdParty("email", linked.reason, linked.context, url))
    return found


_LABEL_ROOM = 32
"""Characters before a foreign stretch read with it, for the label that makes a phone a phone ("Tel:")."""


def _foreign_phone_inputs(others: Attribution, visible: str, phone_links: list[str]) -> list[ForeignText]:
    foreign: list[ForeignText] = []
    for stretch in others.stretches:
        head = visible[max(0, stretch.start - _LABEL_ROOM) : stretch.start]
        head = head[max(head.rfind("\n"), *(head.rfind(d) for d in "0123456789")) + 1 :]
        foreign.append(ForeignText(head + visible[stretch.start : stretch.end], (), stretch.reason, stretch.context))
    for link in phone_links:
        linked = others.hrefs.get(link)
        if linked is not None:
            foreign.append(ForeignText("", (link,), linked.reason, linked.context))
    return foreign


def best_name(candidates: Iterable[tuple[int, str]]) -> str | None:
    ranked = sorted((p, n) for p, n in candidates if 1 < len(n) <= 200)
    return ranked[0][1] if ranked else None


# --- the site's region -----------------------------------------------------------------------------------

_LANG_ONLY = {
    "de": "DE",
    "fr": "FR",
    "nl": "NL",
    "it": "IT",
    "es": "ES",
    "pl": "PL",
    "sv": "SE",
    "da": "DK",
    "nb": "NO",
    "nn": "NO",
    "no": "NO",
    "fi": "FI",
    "pt": "PT",
    "cs": "CZ",
    "ja": "JP",
    "el": "GR",
    "hu": "HU",
    "ro": "RO",
    "sk": "SK",
    "sl": "SI",
    "hr": "HR",
    "bg": "BG",
    "tr": "TR",
    "ko": "KR",
}
_POSTCODE_HINTS = (
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"), "GB"),
    (
        re.compile(
            r"\b(?:A[LKZR]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|"
            r"S[CD]|T[NX]|UT|V[AT]|W[AIVY]),? \d{5}(?:-\d{4})?\b"
        ),
        "US",
    ),
    (re.compile(r"\b\d{4} ?[A-Z]{2}\b(?=[ ,]+[A-Z][a-z])"), "NL"),
    (re.compile(r"\b(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT) \d{4}\b"), "AU"),
)
_COUNTRY_WORDS = re.compile(
    r"\b(United States|USA|United Kingdom|UK|England|Scotland|Wales|Germany|Deutschland|France|"
    r"Netherlands|Nederland|The Netherlands|Australia|Canada|Ireland|Austria|Österreich|Switzerland|Schweiz|"
    r"Suisse|Belgium|België|Belgique|Italy|Italia|Spain|España|New Zealand|Sweden|Sverige|Denmark|Danmark|"
    r"Norway|Norge|Poland|Polska)\b"
)


def infer_region(pages: Sequence[PageFacts]) -> str | None:
    """The region a site's national phone formats belong to, from everything its pages say.

    Votes, strongest first: structured addresses' country, ``lang`` with a region (``en-GB``), country
    names and postcode shapes in addresses, ``+CC`` numbers the site shows, a bare ``lang`` (``de``).
    Then the digit strings written without ``+CC`` are parsed in the likely regions, and the region that
    makes the most of them valid numbers wins (a tie keeps the votes' order).
    """
    votes: Counter[str] = Counter()
    for facts in pages:
        _vote_region(facts, votes)
    candidates = [raw for facts in pages for raw in national_candidates(facts.phone_inputs.text)]
    candidates += [
        raw.split(":", 1)[-1]
        for facts in pages
        for raw in facts.phone_inputs.links
        if not raw.split(":", 1)[-1].lstrip().startswith(("+", "00", "%2B"))
    ]
    ranked = [code for code, _ in votes.most_common()]
    if not candidates:
        return ranked[0] if ranked else None
    candidates = list(dict.fromkeys(candidates))[:20]
    regions = ranked
    valid = score_regions(candidates, ranked)
    if not ranked or max(valid.values(), default=0) < len(candidates):
        # The hinted regions do not explain every number: let the common ones compete too.
        regions = ranked + [r for r in COMMON_REGIONS if r not in ranked]
        valid.update(score_regions(candidates, [r for r in regions if r not in ranked]))
    if not valid:
        return ranked[0] if ranked else None
    # A valid number is worth about as much as a lang attribute; ties keep the votes' order.
    return max(regions, key=lambda code: (valid.get(code, 0) * 2 + votes.get(code, 0), -regions.index(code)))


def _vote_region(facts: PageFacts, votes: Counter[str]) -> None:
    """Add one page's votes (see :func:`infer_region` for their weights)."""
    for country in filter(None, (facts.country, facts.postal.get("country"))):
        code = region_from_name(country)
        if code:
            votes[code] += 6
    code = region_from_lang(facts.lang)
    if code:
        votes[code] += 4
    elif facts.lang:
        base = facts.lang.split("-")[0].split("_")[0].lower()
        if base in _LANG_ONLY:
            votes[_LANG_ONLY[base]] += 2
    for address in facts.addresses:
        _vote_address(address, votes)
    for phone in facts.phones:
        code = region_of_phone(phone)
        if code:
            votes[code] += 1
    text = facts.phone_inputs.text
    for name in set(_COUNTRY_WORDS.findall(text if len(text) < 40_000 else text[:20_000] + text[-20_000:])):
        code = region_from_name(name)
        if code:
            votes[code] += 2


def _vote_address(address: str, votes: Counter[str]) -> None:
    for match in _COUNTRY_WORDS.finditer(address):
        code = region_from_name(match.group(1))
        if code:
            votes[code] += 3
    for pattern, code in _POSTCODE_HINTS:
        if pattern.search(address):
            votes[code] += 2
