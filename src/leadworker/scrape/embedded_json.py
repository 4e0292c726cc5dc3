"""Listings a page carries as data rather than markup: JSON-LD ``ItemList``\\ s and hydration blobs.

Modern directories render their result cards with script from JSON that the page already holds: a JSON-LD
``ItemList`` of ``LocalBusiness`` entries, ``<script id="__NEXT_DATA__">``, ``window.__INITIAL_STATE__ = {...}``.
Reading that JSON gives every card without a browser. :func:`json_items` finds the items, :func:`item_values`
reads one item's fields, by dotted paths a recipe gives or, by default, by schema.org's names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from selectolax.lexbor import LexborHTMLParser

LD_JSON = 'script[type="application/ld+json"]'

SCHEMA_ORG_FIELDS: dict[str, tuple[str, ...]] = {
    "company_name": ("name", "legalName"),
    "phones": ("telephone", "contactPoint.telephone"),
    "emails": ("email", "contactPoint.email"),
    "website": ("url", "sameAs"),
    "address": ("address.streetAddress", "address"),
    "city": ("address.addressLocality",),
    "postal_code": ("address.postalCode",),
    "region": ("address.addressRegion",),
    "country": ("address.addressCountry.name", "address.addressCountry"),
    "description": ("description",),
    "categories": ("@type",),
}
"""The lead fields a schema.org ``Organization`` / ``LocalBusiness`` item gives, first path that has a value."""

_GENERIC_TYPES = frozenset(
    {"LocalBusiness", "Organization", "Corporation", "Place", "Thing", "ListItem", "ProfessionalService", "Store"}
)
"""schema.org types that say nothing about what a business does (``Plumber`` and ``Dentist`` do)."""
_MAX_SCRIPT = 5_000_000
_MAX_ITEMS = 5_000
_MAX_DEPTH = 12


def parse_script_json(text: str) -> Any:
    """The JSON a script element holds: the whole text, or the value after the first ``=``
    (``window.__STATE__ = {...};``). ``None`` when there is none."""
    text = text.strip()[:_MAX_SCRIPT]
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    decoder = json.JSONDecoder()
    for start in _value_starts(text):
        try:
            return decoder.raw_decode(text, start)[0]
        except (ValueError, RecursionError):
            continue
    return None


def _value_starts(text: str) -> Iterator[int]:
    """Where a JSON object or array may start after an assignment (at most a few tries)."""
    position = text.find("=")
    tries = 0
    while position != -1 and tries < 5:
        tries += 1
        rest = text[position + 1 :].lstrip()
        offset = len(text) - len(rest)
        if rest[:1] in ("{", "["):
            yield offset
        position = text.find("=", position + 1)


def get_path(value: Any, path: str) -> list[Any]:
    """Every value at the dotted ``path`` in ``value``; a list on the way is walked element by element
    (``results.phones`` reads each result's phones), a number indexes a list."""
    found = [value]
    for key in (k for k in path.split(".") if k):
        following: list[Any] = []
        for current in found:
            following.extend(_step(current, key))
        found = following
        if not found:
            break
    return [v for v in _flatten(found) if v is not None]


def _step(current: Any, key: str) -> list[Any]:
    if isinstance(current, Mapping):
        return [current[key]] if key in current else []
    if isinstance(current, list):
        if key.isdigit():
            index = int(key)
            return [current[index]] if index < len(current) else []
        return [v for item in current for v in _step(item, key)]
    return []


def _flatten(values: list[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from (v for v in value if not isinstance(v, list))
        else:
            yield value


def _looks_like_business(value: Mapping[str, Any]) -> bool:
    return isinstance(value.get("name"), str) and any(
        key in value for key in ("telephone", "address", "url", "email", "contactPoint")
    )


def _businesses(value: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """schema.org businesses anywhere in ``value``: ``ItemList`` elements, ``@graph`` members, nested lists."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            yield from _businesses(item, depth + 1)
    elif isinstance(value, Mapping):
        if _looks_like_business(value):
            yield value
            return
        for key in ("itemListElement", "@graph", "item", "mainEntity", "hasPart"):
            if key in value:
                yield from _businesses(value[key], depth + 1)


def json_items(tree: LexborHTMLParser, source: str = LD_JSON, path: str | None = None) -> list[Mapping[str, Any]]:
    """The result items the page's scripts matching ``source`` hold: the list at ``path`` in each, or without
    a path, every schema.org business they contain."""
    items: list[Mapping[str, Any]] = []
    for node in tree.css(source):
        data = parse_script_json(node.text(deep=True) or "")
        if data is None:
            continue
        if path:
            found = get_path(data, path)
            items.extend(v for v in found if isinstance(v, Mapping))
        else:
            items.extend(_businesses(data))
        if len(items) >= _MAX_ITEMS:
            break
    return items[:_MAX_ITEMS]


def item_values(
    item: Mapping[str, Any], paths: Mapping[str, str] | Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, list[str]]:
    """Each field's text values in ``item``: by the recipe's dotted ``paths``, else by schema.org's names."""
    values: dict[str, list[str]] = {}
    for name, candidates in (paths or SCHEMA_ORG_FIELDS).items():
        for path in (candidates,) if isinstance(candidates, str) else candidates:
            texts = [_text(v) for v in get_path(item, path)]
            texts = [t for t in texts if t and not (path == "@type" and t in _GENERIC_TYPES)]
            if texts:
                values[name] = texts
                break
    return values


def _text(value: Any) -> str:
    if isinstance(value, Mapping):  # e.g. an address object where a string was expected: join its parts
        parts = [_text(v) for k, v in value.items() if not str(k).startswith("@")]
        return ", ".join(p for p in parts if p)
    if isinstance(value, bool) or value is None:
        return ""
    return " ".join(str(value).split())[:1000]


__all__ = ["LD_JSON", "SCHEMA_ORG_FIELDS", "get_path", "item_values", "json_items", "parse_script_json"]
