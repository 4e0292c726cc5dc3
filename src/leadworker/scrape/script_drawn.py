"""``render=auto`` for listing pages: does a statically fetched listing page hide cards its own script draws?

A directory recipe is written against what a person sees, that is the rendered page. Read statically, a page
whose cards are drawn by script shows signs of it; :func:`listing_needs_rendering` names the first it finds:

- ``no_cards``: the results selector matches nothing, and the page runs script;
- ``hydration``: the page carries a framework's state blob (``__NEXT_DATA__``, ``__NUXT__``,
  ``__INITIAL_STATE__``...) or an empty mount point (``<div id="root"></div>``) — its cards come from data;
- ``next_needs_script``: the "next page" element exists but is not a link a crawler can follow;
- ``fewer_cards_than_claimed``: the page says how many results it has ("128 results", "57 Treffer",
  "34 résultats", "12 resultaten"...) and shows fewer, with no next page to find the rest on.

Each is a sign that holds on any site built that way, whatever its language or markup; a render costs a few
hundred milliseconds, missing the cards costs the leads.
"""

from __future__ import annotations

import re
from typing import Any

from selectolax.lexbor import LexborHTMLParser

_HYDRATION_MARKERS = (
    "__NEXT_DATA__",
    "__NUXT__",
    "__INITIAL_STATE__",
    "__PRELOADED_STATE__",
    "__APOLLO_STATE__",
    "__REDUX_STATE__",
    "__remixContext",
    "__sveltekit",
    "window.__data",
    "ng-state",
    "data-reactroot",
    "data-server-rendered",
    "__INITIAL_PROPS__",
    "__STATE__",
)
_MOUNT_POINTS = ("#root", "#app", "#__next", "#__nuxt", "[data-reactroot]", "[ng-app]", "app-root")
_RESULT_WORDS = (
    # en, de, fr, nl, es, it: the words a listing uses to count what it found
    "results?",
    "listings?",
    "businesses",
    "companies",
    "matches",
    "entries",
    "places",
    "providers",
    "ergebnisse?",
    "treffer",
    "einträge",
    "firmen",
    "unternehmen",
    "betriebe",
    "résultats?",
    "resultats?",
    "entreprises",
    "annonces",
    "professionnels",
    "resultaten",
    "bedrijven",
    "vermeldingen",
    "zoekresultaten",
    "resultados?",
    "empresas",
    "risultati",
    "aziende",
)
_CLAIM = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[.,\s\u00a0\u202f]\d{3})+|\d{1,6})\s*(?:\w+\s+){0,2}?"
    r"(?:" + "|".join(_RESULT_WORDS) + r")\b",
    re.IGNORECASE,
)
_INLINE_SCRIPT_MIN = 200


def runs_script(tree: LexborHTMLParser) -> bool:
    """True if the page loads a script or carries inline script of some size."""
    for node in tree.css("script"):
        kind = (node.attributes.get("type") or "").lower()
        if kind and "javascript" not in kind and kind != "module":
            continue
        if node.attributes.get("src") or len(node.text(deep=True) or "") >= _INLINE_SCRIPT_MIN:
            return True
    return False


def hydration_sign(tree: LexborHTMLParser, html: str) -> bool:
    """A framework's state blob in the page, or an empty element such frameworks mount into."""
    head = html[:2_000_000]
    if any(marker in head for marker in _HYDRATION_MARKERS):
        return True
    for selector in _MOUNT_POINTS:
        node = tree.css_first(selector)
        if node is not None and not (node.text(deep=True) or "").strip():
            return True
    return False


def claimed_results(text: str) -> int | None:
    """The largest result count the page's text states, if it states one."""
    best: int | None = None
    for match in _CLAIM.finditer(text[:200_000]):
        digits = re.sub(r"\D", "", match.group(1))
        if digits:
            value = int(digits)
            best = value if best is None else max(best, value)
    return best


def next_needs_script(next_node: Any) -> bool:
    """The "next page" element is there but has no URL a crawler can follow (a button, ``#``, ``javascript:``)."""
    if next_node is None:
        return False
    href = (next_node.attributes.get("href") or "").strip().lower()
    return not href or href.startswith(("#", "javascript:"))


def listing_needs_rendering(
    tree: LexborHTMLParser, html: str, cards: int, *, next_node: Any = None, has_next_url: bool = False
) -> str | None:
    """Why a statically read listing page with ``cards`` results should be rendered, or ``None``.

    ``next_node`` is the element the recipe's ``next_page`` selector matched, ``has_next_url`` whether it gave
    a URL to follow.
    """
    scripted = runs_script(tree)
    if cards == 0 and scripted:
        return "no_cards"
    if not scripted:
        return None  # nothing on this page can draw anything
    if hydration_sign(tree, html):
        return "hydration"
    if not has_next_url and next_needs_script(next_node):
        return "next_needs_script"
    body = tree.body
    claimed = claimed_results(body.text(separator=" ") if body is not None else "")
    if claimed is not None and claimed > cards and not has_next_url:
        return "fewer_cards_than_claimed"
    return None


__all__ = ["claimed_results", "hydration_sign", "listing_needs_rendering", "next_needs_script", "runs_script"]
