"""Registrable domains and sites with tldextract's bundled public suffix list: never fetched at run time.

:func:`registrable_domain` is who owns a DNS name under the ICANN suffixes (what e-mail domains and country
TLDs are read with); :func:`site_identity` is whose *site* a URL is, where hosting and social platforms do not
count as the owner (see the comment above :data:`HOST_PLATFORMS`).

The special-use names of RFC 2606 / RFC 6761 (``.test``, ``.example``, ``.invalid``, ``.localhost``) are
treated as public suffixes, so that fixture worlds and staging hosts (``acme.test``) behave like real sites.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import tldextract

SPECIAL_USE_SUFFIXES = ("test", "example", "invalid", "localhost")

_extract = tldextract.TLDExtract(
    suffix_list_urls=(),  # offline: use the snapshot shipped inside the package
    cache_dir=None,
    extra_suffixes=SPECIAL_USE_SUFFIXES,
)


@functools.lru_cache(maxsize=65536)
def split_host(host: str) -> tuple[str, str, str]:
    """``(subdomain, domain, suffix)`` of a host name."""
    result = _extract(host.lower().rstrip("."), include_psl_private_domains=False)
    return result.subdomain, result.domain, result.suffix


def registrable_domain(host_or_url: str) -> str | None:
    """``shop.acme.co.uk`` → ``acme.co.uk``; ``None`` for IP addresses and names without a public suffix."""
    text = host_or_url.strip()
    host = urlsplit(text).hostname if "://" in text else text.split("/")[0].split(":")[0]
    if not host:
        return None
    _, domain, suffix = split_host(host)
    if not domain or not suffix:
        return None
    return f"{domain}.{suffix}"


def has_public_suffix(domain: str) -> bool:
    """True if ``domain`` ends in a known public suffix and has a name before it."""
    _, name, suffix = split_host(domain)
    return bool(name and suffix)


def country_tld(host: str) -> str | None:
    """The two-letter country code top-level domain of ``host`` (``uk`` for ``acme.co.uk``), if any."""
    _, _, suffix = split_host(host)
    last = suffix.rsplit(".", 1)[-1] if suffix else ""
    return last if len(last) == 2 and last.isalpha() else None


# --- sites: whose site a URL is ---------------------------------------------------------------------------
#
# A registrable domain names a company, except on a shared platform: every shop on myshopify.com and every
# page on facebook.com would otherwise be one company. A site's *identity* is what names the business:
#
# - its registrable domain, where the public suffix list's PRIVATE section counts too, so that hosting
#   platforms it knows are suffixes (``bondi.myshopify.com``, ``x.github.io``, ``user.wixsite.com``);
# - :data:`HOST_PLATFORMS` adds hosting platforms the list lacks (``<name>.business.site``, ...);
# - on the sites of :data:`PATH_PLATFORMS` (social and link-in-bio sites, Google Sites, Wix free sites,
#   Yelp) the path names the page: ``facebook.com/bondiblooms``.
#
# The identity ignores scheme, port, ``www.``/``m.`` hosts, case, trailing slashes, queries and fragments.

HOST_PLATFORMS = (
    "business.site",
    "company.site",
    "godaddysites.com",
    "wordpress.com",
    "weebly.com",
    "squarespace.com",
    "jimdosite.com",
    "jimdofree.com",
    "mystrikingly.com",
    "strikingly.com",
    "ueniweb.com",
    "site123.me",
    "webnode.page",
    "tumblr.com",
    "bigcartel.com",
    "substack.com",
)
"""Hosting platforms missing from the public suffix list's private section: the label under them names the
site (``bondi.wordpress.com``)."""


@dataclass(frozen=True)
class PathRule:
    """How a platform's URL path names one page."""

    kinds: frozenset[str] = frozenset()
    """First segments followed by the name: ``linkedin.com/company/<name>``."""
    plain: bool = True
    """Whether a first segment alone names a page (``facebook.com/<name>``)."""
    prefix: str = ""
    """What a plain name starts with (``tiktok.com/@<name>``)."""
    reserved: frozenset[str] = frozenset()
    """First segments of the platform's own pages (``facebook.com/sharer.php``): they name no business."""
    query: tuple[tuple[str, str], ...] = ()
    """``(segment, parameter)``: a page named by a query parameter (``facebook.com/profile.php?id=N``)."""


def _rule(
    *,
    kinds: str = "",
    plain: bool = True,
    prefix: str = "",
    reserved: str = "",
    query: tuple[tuple[str, str], ...] = (),
) -> PathRule:
    return PathRule(frozenset(kinds.split()), plain, prefix, frozenset(reserved.split()), query)


_YELP = _rule(kinds="biz", plain=False)
PATH_PLATFORMS: dict[str, PathRule] = {
    "facebook.com": _rule(
        kinds="pages pg p groups people",
        reserved="sharer sharer.php share share.php dialog plugins login login.php home.php l.php tr watch events "
        "marketplace help policies privacy hashtag search gaming business ads settings photo.php "
        "permalink.php story.php photos videos",
        query=(("profile.php", "id"),),
    ),
    "instagram.com": _rule(reserved="p reel reels tv stories explore accounts direct about legal developer"),
    "linktr.ee": _rule(reserved="s admin login register help blog"),
    "x.com": _rule(
        reserved="home intent share search hashtag i explore settings login messages notifications tos privacy"
    ),
    "tiktok.com": _rule(prefix="@"),
    "linkedin.com": _rule(kinds="company school showcase in", plain=False),
    "youtube.com": _rule(kinds="channel c user", prefix="@"),
    "sites.google.com": _rule(kinds="view site"),
    "*.wixsite.com": _rule(),
    "*.wixstudio.io": _rule(),
    "*.editorx.io": _rule(),
    "yelp.com": _YELP,
    "yelp.ca": _YELP,
    "yelp.co.uk": _YELP,
    "yelp.com.au": _YELP,
    "yelp.ie": _YELP,
    "yelp.de": _YELP,
    "yelp.fr": _YELP,
}
"""Sites where the path names the page, by registrable domain (any host under it), by exact host
(``sites.google.com``, with or without ``www.``), or by ``*.suffix`` (a page under a user's host:
``<user>.wixsite.com/<site>``). A URL of theirs that names no page (the home page, a share link) is no
business's website."""

PLATFORM_ALIASES = {"twitter.com": "x.com", "fb.com": "facebook.com", "instagr.am": "instagram.com"}
"""Other names of a platform of :data:`PATH_PLATFORMS`: one page, one identity."""

_sites = tldextract.TLDExtract(
    suffix_list_urls=(),
    cache_dir=None,
    extra_suffixes=SPECIAL_USE_SUFFIXES + HOST_PLATFORMS,
)


@dataclass(frozen=True)
class Site:
    """The site a URL belongs to."""

    url: str
    """Its address: scheme, host and port as given, and the path that names the page on a platform
    (``https://www.facebook.com/bondiblooms``), else ``/``."""
    identity: str | None
    """What names the business (``acme.co.uk``, ``bondi.myshopify.com``, ``facebook.com/bondiblooms``);
    None for hosts without a public suffix (IP addresses, ``localhost``)."""


@functools.lru_cache(maxsize=65536)
def _split_site(host: str) -> tuple[str, str]:
    """``(registrable name, suffix)`` of ``host`` with private and platform suffixes; empty if none."""
    result = _sites(host, include_psl_private_domains=True)
    if not result.domain or not result.suffix:
        return "", ""
    return f"{result.domain}.{result.suffix}", result.suffix


def _path_rule(host: str, base: str, suffix: str) -> tuple[str, PathRule] | None:
    """The platform rule for a host, with the name the identity starts with."""
    bare = host.removeprefix("www.")
    canonical = PLATFORM_ALIASES.get(base, base)
    for key, name in ((bare, bare), (canonical, canonical), ("*." + suffix, base)):
        rule = PATH_PLATFORMS.get(key)
        if rule is not None:
            return name, rule
    return None


def _page(rule: PathRule, segments: list[str], query: str) -> str | None:
    """The part of a platform URL that names its page (``bondiblooms``, ``company/acme``), or None."""
    if not segments:
        return None
    first = segments[0].lower()
    for segment, parameter in rule.query:
        if first == segment:
            values = parse_qs(query).get(parameter)
            return f"{segments[0]}?{urlencode({parameter: values[0]})}" if values and values[0] else None
    if first in rule.kinds:
        return f"{segments[0]}/{segments[1]}" if len(segments) > 1 else None
    if not rule.plain or first in rule.reserved or not first.startswith(rule.prefix) or first == rule.prefix:
        return None
    return segments[0]


def site_of(url: str) -> Site | None:
    """The site of ``url`` (a scheme-less ``acme.com/x`` is read as http). None: not an http(s) URL, or a
    platform's own page that names no business (``https://www.facebook.com/``, a share link)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in ("http", "https"):
        return None
    origin = f"{parts.scheme.lower()}://{host if port is None else f'{host}:{port}'}"
    base, suffix = _split_site(host)
    if not base:
        return Site(origin + "/", None)
    platform = _path_rule(host, base, suffix)
    if platform is None:
        return Site(origin + "/", base)
    name, rule = platform
    page = _page(rule, [unquote(s) for s in parts.path.split("/") if s], parts.query)
    if page is None:
        return None
    path = quote(page, safe="/?=@")
    return Site(f"{origin}/{path}", f"{name}/{path.lower()}")


def site_identity(url: str) -> str | None:
    """What names the business whose site ``url`` is (see :class:`Site`); None if nothing does."""
    site = site_of(url)
    return site.identity if site is not None else None


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are pages of one business's site (hosts without a public suffix: the same host)."""
    first, second = site_of(a), site_of(b)
    if first is None or second is None:
        return False
    if first.identity is None or second.identity is None:
        return first.identity is None and second.identity is None and first.url == second.url
    return first.identity == second.identity


def site_label(identity: str) -> str:
    """The word of a site identity that names the business: ``acme`` for ``acme.co.uk``, ``bondi`` for
    ``bondi.myshopify.com``, ``bondiblooms`` for ``facebook.com/bondiblooms``."""
    host, _, page = identity.partition("/")
    if page:
        last = page.rsplit("/", 1)[-1]
        return "" if "?" in last else last.lstrip("@")  # profile.php?id=N: a number names no words
    return host.split(".", 1)[0]
