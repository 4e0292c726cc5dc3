"""A world of listing directories, one per way real directories show their results, with the truth a polite
crawler should find on each (issue "Directories and maps listings").

Every directory draws the same cards (``article.card`` with ``.name``, ``.phone``, ``.addr`` and ``a.site``); what
differs is how they reach the page:

- ``static``: in the HTML, over two pages linked by ``a.next``;
- ``drawn``: drawn by the page's script from a JSON API, no card in the HTML;
- ``hydrated``: drawn by script from a ``__NEXT_DATA__`` blob the page carries (readable without a browser);
- ``ldjson``: drawn by script; the page also carries a JSON-LD ``ItemList`` of the businesses;
- ``robots_api``: two cards in the HTML, the rest drawn from an API that robots.txt disallows (those cards must
  not be collected);
- ``scroll``: a maps-style results pane that loads five more cards each time it is scrolled to its end;
- ``show_number``: each card hides its phone behind a "show number" button that fetches it;
- ``national``: phones in national format, the country only in the job's geography (a city) or the card's
  address;
- ``shared_host``: businesses whose websites are pages under one account of a shared platform, each linking to
  the others ("our partners"): following a listing's website must stay on its own page.

Each directory comes with the recipe a user writes from the README (:attr:`ListingDirectory.recipe`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from html import escape

import phonenumbers
from phonenumbers import PhoneNumberFormat

from world.generate import ADJECTIVES, NOUNS, TRADES, Response, _valid_number, e164

MODES = ("static", "drawn", "hydrated", "ldjson", "robots_api", "scroll", "show_number", "national", "shared_host")

CARD_FIELDS = {
    "company_name": ".name",
    "phones": {"selector": ".phone", "all": True},
    "address": ".addr",
    "website": "a.site::attr(href)",
}

DRAW_SCRIPT = """
function drawCards(items) {
  const box = document.getElementById("results");
  for (const it of items) {
    const card = document.createElement("article");
    card.className = "card";
    card.innerHTML = '<h2 class="name"></h2><span class="phone"></span> <span class="addr"></span>'
      + (it.website ? ' <a class="site">Website</a>' : "");
    card.querySelector(".name").textContent = it.name;
    card.querySelector(".phone").textContent = it.phone;
    card.querySelector(".addr").textContent = it.address;
    if (it.website) card.querySelector(".site").href = it.website;
    box.appendChild(card);
  }
}
"""


@dataclass
class Listing:
    """One business as a directory lists it, and what a correct read of its card gives."""

    name: str
    phone: str
    """E.164."""
    shown_phone: str
    """As the card writes it."""
    address: str
    website: str | None = None
    """With ``{{port}}``."""
    own_emails: set[str] = field(default_factory=set)
    """E-mails on the business's own website (``shared_host``)."""

    def card(self) -> dict[str, str]:
        return {"name": self.name, "phone": self.shown_phone, "address": self.address, "website": self.website or ""}


@dataclass
class ListingDirectory:
    """One directory of the world: its host, recipe, the search a job runs, and its truth."""

    mode: str
    host: str
    recipe: dict[str, object]
    query: str
    geography: str
    listings: list[Listing]
    """The cards a polite crawler may see."""
    forbidden: list[Listing] = field(default_factory=list)
    """Cards only a robots-disallowed request could give: never collected."""
    follow_website: bool = False


@dataclass
class ListingWorld:
    routes: dict[str, dict[str, Response]]
    directories: list[ListingDirectory]

    def resolve_override(self, address: str = "127.0.0.1") -> dict[str, str]:
        return {host: address for host in self.routes}


COUNTRY_CITY = {
    "US": ("Chicago", "chicago", "IL 60601"),
    "DE": ("München", "muenchen", "80331"),
    "GB": ("Leeds", "leeds", "LS1 4AP"),
    "FR": ("Lyon", "lyon", "69002"),
    "NL": ("Utrecht", "utrecht", "3511"),
    "AU": ("Melbourne", "melbourne", "VIC 3000"),
}
COUNTRY_NAME = {
    "US": "USA",
    "DE": "Deutschland",
    "GB": "United Kingdom",
    "FR": "France",
    "NL": "Nederland",
    "AU": "Australia",
}


class _Names:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken: set[str] = set()
        self.phones: set[str] = set()

    def business(self, region: str, *, national: bool = False, with_country: bool = True) -> Listing:
        name = ""
        while not name or name in self.taken:
            name = f"{self.rng.choice(ADJECTIVES)} {self.rng.choice(NOUNS)} {self.rng.choice(TRADES)}"
        self.taken.add(name)
        phone = ""
        while not phone or phone in self.phones:
            number = _valid_number(self.rng, region, mobile=self.rng.random() < 0.3)
            phone = e164(number)
        self.phones.add(phone)
        fmt = PhoneNumberFormat.NATIONAL if national else PhoneNumberFormat.INTERNATIONAL
        city, _, postcode = COUNTRY_CITY[region]
        street = f"{self.rng.randint(1, 199)} {self.rng.choice(NOUNS)} Street"
        address = f"{street}, {postcode} {city}" + (f", {COUNTRY_NAME[region]}" if with_country else "")
        return Listing(name=name, phone=phone, shown_phone=phonenumbers.format_number(number, fmt), address=address)


def _card_html(listing: Listing) -> str:
    site = f' <a class="site" href="{escape(listing.website)}">Website</a>' if listing.website else ""
    return (
        f'<article class="card"><h2 class="name">{escape(listing.name)}</h2>'
        f'<span class="phone">{escape(listing.shown_phone)}</span> '
        f'<span class="addr">{escape(listing.address)}</span>{site}</article>'
    )


def _page(title: str, body: str, head: str = "") -> str:
    return (
        f'<!doctype html><html lang="en"><head><title>{escape(title)}</title>{head}</head>'
        f"<body><header><h1>{escape(title)}</h1></header>{body}</body></html>"
    )


def _recipe(mode: str, host: str, **extra: object) -> dict[str, object]:
    return {
        "name": f"listings-{mode}",
        "base_url": f"http://{host}:{{{{port}}}}",
        "search_url": "{base_url}/search/{query}",
        "results": "article.card",
        "fields": dict(CARD_FIELDS),
        **extra,
    }


def _static(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    listings = [names.business("GB") for _ in range(12)]
    routes = {}
    for number, chunk in enumerate((listings[:6], listings[6:]), start=1):
        nav = '<a class="next" href="/search/plumbers/page-2">Next</a>' if number == 1 else ""
        path = "/search/plumbers" if number == 1 else "/search/plumbers/page-2"
        routes[path] = Response(body=_page("Plumbers", "".join(_card_html(x) for x in chunk) + nav))
    recipe = _recipe("static", host, next_page="a.next::attr(href)")
    return ListingDirectory("static", host, recipe, "plumbers", "Leeds, UK", listings), routes


def _drawn(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    listings = [names.business("US") for _ in range(8)]
    script = f"<script>{DRAW_SCRIPT}fetch('/api/search/dentists.json').then(r => r.json()).then(drawCards);</script>"
    routes = {
        "/search/dentists": Response(body=_page("Dentists", '<p>8 results</p><main id="results"></main>' + script)),
        "/api/search/dentists.json": Response(
            body=json.dumps([x.card() for x in listings]), content_type="application/json"
        ),
    }
    return ListingDirectory("drawn", host, _recipe("drawn", host), "dentists", "Chicago, USA", listings), routes


def _hydrated(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    listings = [names.business("DE") for _ in range(7)]
    blob = json.dumps({"props": {"pageProps": {"results": [x.card() for x in listings]}}}).replace("</", "<\\/")
    body = (
        '<main id="results"></main>'
        f'<script id="__NEXT_DATA__" type="application/json">{blob}</script>'
        f"<script>{DRAW_SCRIPT}drawCards(JSON.parse(document.getElementById('__NEXT_DATA__').textContent)"
        ".props.pageProps.results);</script>"
    )
    routes = {"/search/roofers": Response(body=_page("Dachdecker", body))}
    recipe = _recipe(
        "hydrated",
        host,
        results_json={
            "source": "script#__NEXT_DATA__",
            "path": "props.pageProps.results",
            "fields": {"company_name": "name", "phones": "phone", "address": "address", "website": "website"},
        },
    )
    return ListingDirectory("hydrated", host, recipe, "roofers", "Deutschland", listings), routes


def _ldjson(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    listings = [names.business("FR") for _ in range(6)]
    item_list = {
        "@context": "https://schema.org",
        "@type": "ItemList",
        "itemListElement": [
            {
                "@type": "ListItem",
                "position": i + 1,
                "item": {
                    "@type": "LocalBusiness",
                    "name": x.name,
                    "telephone": x.shown_phone,
                    "address": {
                        "@type": "PostalAddress",
                        "streetAddress": x.address.split(",")[0],
                        "addressLocality": "Lyon",
                        "addressCountry": "FR",
                    },
                },
            }
            for i, x in enumerate(listings)
        ],
    }
    ld = json.dumps(item_list).replace("</", "<\\/")
    data = json.dumps([x.card() for x in listings]).replace("</", "<\\/")
    body = (
        f'<main id="results"></main><script type="application/ld+json">{ld}</script>'
        f"<script>{DRAW_SCRIPT}drawCards({data});</script>"
    )
    routes = {"/search/bakers": Response(body=_page("Boulangers", body))}
    return ListingDirectory("ldjson", host, _recipe("ldjson", host), "bakers", "Lyon, France", listings), routes


def _robots_api(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    shown = [names.business("NL") for _ in range(2)]
    hidden = [names.business("NL") for _ in range(5)]
    script = f"<script>{DRAW_SCRIPT}fetch('/api/private/more.json').then(r => r.json()).then(drawCards);</script>"
    body = '<main id="results">' + "".join(_card_html(x) for x in shown) + "</main>" + script
    routes = {
        "/robots.txt": Response(body="User-agent: *\nDisallow: /api/private/\n", content_type="text/plain"),
        "/search/movers": Response(body=_page("Verhuizers", body)),
        "/api/private/more.json": Response(
            body=json.dumps([x.card() for x in hidden]), content_type="application/json"
        ),
    }
    directory = ListingDirectory(
        "robots_api", host, _recipe("robots_api", host), "movers", "Utrecht, Nederland", shown, forbidden=hidden
    )
    return directory, routes


def _scroll(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    listings = [names.business("AU") for _ in range(15)]
    routes: dict[str, Response] = {}
    for batch in range(3):
        routes[f"/api/pane/{batch}.json"] = Response(
            body=json.dumps([x.card() for x in listings[batch * 5 : batch * 5 + 5]]), content_type="application/json"
        )
    script = f"""<script>{DRAW_SCRIPT}
      let next = 0, busy = false;
      function more() {{
        if (busy || next > 2) return;
        busy = true;
        fetch('/api/pane/' + next + '.json').then(r => r.json()).then(items => {{ drawCards(items); next++;
          busy = false; }});
      }}
      const pane = document.getElementById('results');
      pane.addEventListener('scroll', () => {{
        if (pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 10) more();
      }});
      more();
    </script>"""
    body = (
        '<div class="map">[map]</div><div id="results" class="pane" style="height:300px;overflow-y:scroll">'
        "</div>" + script
    )
    routes["/search/electricians"] = Response(body=_page("Electricians near you", body))
    recipe = _recipe("scroll", host, actions=[{"scroll": ".pane", "max": 10}])
    return ListingDirectory("scroll", host, recipe, "electricians", "Melbourne, Australia", listings), routes


def _show_number(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    listings = [names.business("GB") for _ in range(6)]
    routes: dict[str, Response] = {}
    cards = []
    for index, listing in enumerate(listings):
        routes[f"/api/phone/{index}.json"] = Response(
            body=json.dumps({"phone": listing.shown_phone}), content_type="application/json"
        )
        cards.append(
            f'<article class="card"><h2 class="name">{escape(listing.name)}</h2>'
            f'<button class="show-number" data-id="{index}">Show number</button> '
            f'<span class="addr">{escape(listing.address)}</span></article>'
        )
    script = """<script>
      for (const button of document.querySelectorAll('.show-number')) {
        button.addEventListener('click', () => {
          fetch('/api/phone/' + button.dataset.id + '.json').then(r => r.json()).then(d => {
            const span = document.createElement('span'); span.className = 'phone'; span.textContent = d.phone;
            button.replaceWith(span);
          });
        });
      }
    </script>"""
    routes["/search/locksmiths"] = Response(body=_page("Locksmiths", "".join(cards) + script))
    recipe = _recipe("show_number", host, actions=[{"click": ".show-number", "each": True, "max": 50}])
    return ListingDirectory("show_number", host, recipe, "locksmiths", "Leeds, UK", listings), routes


def _national(names: _Names, host: str) -> tuple[ListingDirectory, dict[str, Response]]:
    # The geography names a city only; half the cards name the country in their address.
    listings = [names.business("DE", national=True, with_country=i % 2 == 0) for i in range(6)]
    routes = {"/search/painters": Response(body=_page("Maler", "".join(_card_html(x) for x in listings)))}
    return ListingDirectory("national", host, _recipe("national", host), "painters", "muenchen", listings), routes


def _shared_host(
    names: _Names, host: str, rng: random.Random
) -> tuple[ListingDirectory, dict[str, dict[str, Response]]]:
    account = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) + ".wixsite.com"
    listings = [names.business("GB") for _ in range(3)]
    slugs = [x.name.lower().replace(" ", "-") for x in listings]
    pages: dict[str, Response] = {}
    for listing, slug in zip(listings, slugs, strict=True):
        listing.website = f"http://{account}:{{{{port}}}}/{slug}"
        email = f"{slug.split('-')[0]}.{slug.split('-')[1]}@example-mail.test"
        listing.own_emails.add(email)
        partners = "".join(f'<li><a href="/{other}">{escape(other)}</a></li>' for other in slugs if other != slug)
        pages[f"/{slug}"] = Response(
            body=_page(
                listing.name,
                (
                    f'<p>Write to <a href="mailto:{email}">{email}</a></p><a href="/{slug}/contact">Contact</a>'
                    f"<h3>Our partners</h3><ul>{partners}</ul>"
                ),
            )
        )
        pages[f"/{slug}/contact"] = Response(body=_page(f"{listing.name}: contact", f"<p>Mail: {email}</p>"))
    routes = {
        host: {"/search/builders": Response(body=_page("Builders", "".join(_card_html(x) for x in listings)))},
        account: pages,
    }
    directory = ListingDirectory(
        "shared_host",
        host,
        _recipe("shared_host", host, follow_website=True),
        "builders",
        "Leeds, UK",
        listings,
        follow_website=True,
    )
    return directory, routes


def generate_listings(seed: int = 11) -> ListingWorld:
    """Every mode's directory, each on a host of its own."""
    rng = random.Random(f"listings:{seed}")
    names = _Names(rng)
    routes: dict[str, dict[str, Response]] = {}
    directories = []
    builders = {
        "static": _static,
        "drawn": _drawn,
        "hydrated": _hydrated,
        "ldjson": _ldjson,
        "robots_api": _robots_api,
        "scroll": _scroll,
        "show_number": _show_number,
        "national": _national,
    }
    for mode, build in builders.items():
        host = f"{mode.replace('_', '-')}-listings.test"
        directory, pages = build(names, host)
        directories.append(directory)
        routes[host] = pages
    directory, shared = _shared_host(names, "shared-host-listings.test", rng)
    directories.append(directory)
    for host, pages in shared.items():
        routes.setdefault(host, {}).update(pages)
    return ListingWorld(routes=routes, directories=directories)
