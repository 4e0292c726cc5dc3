"""Listing pages read statically: the signs that their cards are drawn by script, and the results they carry as
JSON (JSON-LD ``ItemList``, hydration blobs)."""

from __future__ import annotations

import json

import pytest
from selectolax.lexbor import LexborHTMLParser

from leadworker.scrape.embedded_json import get_path, item_values, json_items, parse_script_json
from leadworker.scrape.script_drawn import claimed_results, listing_needs_rendering

APP_SCRIPT = '<script src="/static/app.js"></script>'


def needs(html: str, cards: int, next_selector: str | None = None, has_next_url: bool = False) -> str | None:
    tree = LexborHTMLParser(html)
    node = tree.css_first(next_selector) if next_selector else None
    return listing_needs_rendering(tree, html, cards, next_node=node, has_next_url=has_next_url)


@pytest.mark.parametrize(
    ("html", "cards", "why"),
    [
        (f'<main><div class="results"></div></main>{APP_SCRIPT}', 0, "no_cards"),
        ('<div id="root"></div><script>' + "x" * 300 + "</script>", 0, "no_cards"),
        (f'<div id="root"></div>{APP_SCRIPT}', 3, "hydration"),  # an empty mount point
        (
            f'<div class="card">A</div><script id="__NEXT_DATA__" type="application/json">{{}}</script>{APP_SCRIPT}',
            1,
            "hydration",
        ),
        (f"<p>128 results for plumbers</p><div class='card'>A</div>{APP_SCRIPT}", 1, "fewer_cards_than_claimed"),
        (f"<p>Es wurden 57 Treffer gefunden</p><div class='card'>A</div>{APP_SCRIPT}", 1, "fewer_cards_than_claimed"),
        (f"<h2>1 234 résultats</h2><div class='card'>A</div>{APP_SCRIPT}", 1, "fewer_cards_than_claimed"),
        (f"<span>12 resultaten</span><div class='card'>A</div>{APP_SCRIPT}", 2, "fewer_cards_than_claimed"),
    ],
)
def test_signs_of_cards_drawn_by_script(html: str, cards: int, why: str) -> None:
    assert needs(html, cards) == why


def test_a_next_page_that_only_script_can_follow() -> None:
    html = f'<div class="card">A</div><button class="next">Next</button>{APP_SCRIPT}'
    assert needs(html, 1, ".next") == "next_needs_script"
    html = f'<div class="card">A</div><a class="next" href="#">Next</a>{APP_SCRIPT}'
    assert needs(html, 1, ".next") == "next_needs_script"


@pytest.mark.parametrize(
    ("html", "cards", "kwargs"),
    [
        ("<div class='results'></div>", 0, {}),  # no script: nothing can draw cards; the recipe simply found none
        (
            f"<p>3 results</p><div class='card'>A</div><div class='card'>B</div><div class='card'>C</div>{APP_SCRIPT}",
            3,
            {},
        ),  # as many cards as claimed
        (
            f"<p>Showing 1-10 of 128 results</p><div class='card'>A</div>{APP_SCRIPT}",
            10,
            {"next_selector": "a.next", "has_next_url": True},
        ),  # the rest is on the next pages
        (f"<p>Open 24 hours, 7 days</p><div class='card'>A</div>{APP_SCRIPT}", 1, {}),  # numbers that count nothing
    ],
)
def test_static_listings_are_not_rendered(html: str, cards: int, kwargs: dict[str, object]) -> None:
    next_selector = kwargs.get("next_selector")
    html += '<a class="next" href="/page-2">Next</a>' if next_selector else ""
    assert (
        needs(html, cards, next_selector if isinstance(next_selector, str) else None, bool(kwargs.get("has_next_url")))
        is None
    )


def test_claimed_results_reads_thousands_separators_and_takes_the_largest() -> None:
    assert claimed_results("Showing 1–20 of 1,482 results") == 1482
    assert claimed_results("1.482 Ergebnisse") == 1482
    assert claimed_results("no count here, 24/7 service") is None


ITEM_LIST = {
    "@context": "https://schema.org",
    "@type": "ItemList",
    "itemListElement": [
        {
            "@type": "ListItem",
            "position": 1,
            "item": {
                "@type": "Plumber",
                "name": "Flow Bros",
                "telephone": "030 1234567",
                "url": "https://flow.example",
                "address": {
                    "@type": "PostalAddress",
                    "streetAddress": "Hauptstr. 1",
                    "addressLocality": "Berlin",
                    "postalCode": "10115",
                    "addressCountry": "DE",
                },
            },
        },
        {
            "@type": "ListItem",
            "position": 2,
            "item": {
                "@type": "LocalBusiness",
                "name": "Pipe & Co",
                "telephone": ["+49 40 123456", "+49 40 654321"],
                "email": "info@pipe.example",
                "address": "Elbchaussee 2, 22763 Hamburg",
            },
        },
    ],
}


def test_json_ld_item_lists_give_every_business() -> None:
    html = f'<script type="application/ld+json">{json.dumps(ITEM_LIST)}</script>'
    items = json_items(LexborHTMLParser(html))
    assert [i["name"] for i in items] == ["Flow Bros", "Pipe & Co"]
    first, second = (item_values(i) for i in items)
    assert first["company_name"] == ["Flow Bros"] and first["phones"] == ["030 1234567"]
    assert first["city"] == ["Berlin"] and first["postal_code"] == ["10115"] and first["country"] == ["DE"]
    assert first["categories"] == ["Plumber"] and "categories" not in second  # LocalBusiness says nothing
    assert second["phones"] == ["+49 40 123456", "+49 40 654321"] and second["emails"] == ["info@pipe.example"]
    assert second["address"] == ["Elbchaussee 2, 22763 Hamburg"]


def test_hydration_blobs_by_recipe_path() -> None:
    state = {
        "search": {
            "total": 2,
            "results": [
                {"title": "A GmbH", "contact": {"phone": "089 1111"}},
                {"title": "B GmbH", "contact": {"phone": "089 2222"}},
            ],
        }
    }
    html = f"<script>window.__INITIAL_STATE__ = {json.dumps(state)};</script>"
    items = json_items(LexborHTMLParser(html), "script", "search.results")
    assert [item_values(i, {"company_name": "title", "phones": "contact.phone"}) for i in items] == [
        {"company_name": ["A GmbH"], "phones": ["089 1111"]},
        {"company_name": ["B GmbH"], "phones": ["089 2222"]},
    ]


def test_get_path_walks_lists_and_indexes() -> None:
    data = {"a": [{"b": 1}, {"b": [2, 3]}], "c": ["x", "y"]}
    assert get_path(data, "a.b") == [1, 2, 3]
    assert get_path(data, "c.1") == ["y"]
    assert get_path(data, "missing.path") == []


@pytest.mark.parametrize("text", ["", "not json", "window.x = ;", "[" * 100_000, "var a = 1 == 2;"])
def test_scripts_that_hold_no_json_give_nothing(text: str) -> None:
    assert parse_script_json(text) is None
