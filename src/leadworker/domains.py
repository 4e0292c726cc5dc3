"""Registrable domains with tldextract's bundled public suffix list: never fetched at run time.

The special-use names of RFC 2606 / RFC 6761 (``.test``, ``.example``, ``.invalid``, ``.localhost``) are
treated as public suffixes, so that fixture worlds and staging hosts (``acme.test``) behave like real sites.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

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
