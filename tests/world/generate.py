"""Generate a world of small company sites from a seed, with the ground truth a crawler should find.

Each site has a handful of pages (home, contact, about/team, services, legal...) in the language and phone
formats of its country (US, GB, DE, FR, NL, AU, CA, IE), and writes its e-mails and phones in many ways:
plain text, ``mailto:``/``tel:`` links (with query strings, upper case, icons without text), obfuscations
(``[at]``, ``(at)``, `` at ``, ``{at}``, ``[dot]``, HTML entities, spans, Cloudflare protection, CSS
reversal), JSON-LD or microdata only; phones in national and international formats, ``(0)`` trunk notation,
``00`` prefixes, dots, dashes, slashes, no separators, extensions. A fifth of the sites (by default) show
some contacts only through script: injected after a delay, fetched from JSON, written by a same-site script,
or a whole single-page app.

Every page carries decoys that are not contacts: order and customer numbers, invoice dates, version strings,
IBANs and VAT ids, registration numbers, short emergency numbers, prices, opening hours, coordinates, asset
names like ``logo@2x.png``, placeholder addresses, a hidden spam trap, and a robots-disallowed page full of
decoy addresses and numbers. Sites also have redirect chains, redirect loops, 404 and 500 links, a slow page,
links to other sites of the world (which must not be crawled), and one world-wide huge page. A paginated
directory lists every company.

Ground truth (:class:`SiteTruth`) holds what a correct crawl of a site finds: e-mails lower-cased, phones in
E.164 (``;ext=N`` for an extension).
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType


@dataclass
class Response:
    """One answer of the world's server. ``{{port}}`` in a body or location is the server's port."""

    status: int = 200
    body: str | bytes = ""
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SiteTruth:
    """What a correct crawl of one site finds."""

    host: str
    target_path: str
    region: str
    geography: str | None
    name: str
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    robots_decoys: set[str] = field(default_factory=set)
    """E-mails and phones only on robots-disallowed pages."""
    script_only: set[str] = field(default_factory=set)
    """Contacts that only script shows."""
    features: list[str] = field(default_factory=list)
    fails: bool = False
    """The target cannot be crawled at all (its entry redirects in a loop)."""
    third_party: set[str] = field(default_factory=set)
    """Contacts the site shows for someone else (an agency, a supplier, an example...): never the lead's."""

    def target(self, port: int) -> str:
        return f"http://{self.host}:{port}{self.target_path}"


@dataclass
class ListedBusiness:
    """A directory entry whose website is a page on a shared platform (Facebook, Shopify, Wix...): one lead, however
    many businesses share the platform and however many URL variants of its page the directory lists."""

    name: str
    identity: str
    """The site identity its lead must have (``facebook.com/<page>``, ``<shop>.myshopify.com``)."""
    websites: list[str]
    """Every URL the directory lists it under (with ``{{port}}``)."""
    phones: set[str] = field(default_factory=set)


@dataclass
class World:
    seed: int
    routes: dict[str, dict[str, Response]]
    sites: list[SiteTruth]
    directory_host: str
    directory_listing: list[dict[str, str]]
    """What the directory lists: company_name, phone (E.164), website (with ``{{port}}``)."""
    platform_businesses: list[ListedBusiness] = field(default_factory=list)
    """Businesses of the directory whose website is a page on a shared platform (see :func:`_platform_businesses`)."""

    @property
    def hosts(self) -> list[str]:
        return sorted(self.routes)

    def resolve_override(self, address: str = "127.0.0.1") -> dict[str, str]:
        return {host: address for host in self.routes}


# --- vocabulary -----------------------------------------------------------------------------------------

COUNTRIES = {
    # region: (country names, cities, lang, national-prefix "0" trunk, weight)
    "US": (["USA", "United States"], ["Portland", "Austin", "Denver", "Boston", "Seattle"], "en-US", False, 4),
    "GB": (["United Kingdom", "UK"], ["London", "Leeds", "Bristol", "Manchester"], "en-GB", True, 4),
    "DE": (["Germany", "Deutschland"], ["Berlin", "Hamburg", "München", "Köln"], "de-DE", True, 4),
    "FR": (["France"], ["Paris", "Lyon", "Nantes", "Lille"], "fr-FR", True, 3),
    "NL": (["Netherlands", "Nederland"], ["Amsterdam", "Utrecht", "Rotterdam"], "nl-NL", True, 3),
    "AU": (["Australia"], ["Sydney", "Melbourne", "Brisbane"], "en-AU", True, 3),
    "CA": (["Canada"], ["Toronto", "Calgary", "Ottawa"], "en-CA", False, 1),
    "IE": (["Ireland"], ["Dublin", "Cork", "Galway"], "en-IE", True, 1),
}
ADJECTIVES = [
    "Blue",
    "Golden",
    "Northern",
    "Bright",
    "Green",
    "Silver",
    "Quick",
    "Harbor",
    "Summit",
    "Oak",
    "Maple",
    "Cedar",
    "Red",
    "Sunny",
    "Urban",
    "Royal",
    "Alpine",
    "Coastal",
    "Prime",
    "Noble",
]
NOUNS = [
    "River",
    "Stone",
    "Bridge",
    "Valley",
    "Peak",
    "Lake",
    "Forest",
    "Field",
    "Harbour",
    "Hill",
    "Star",
    "Wave",
    "Rock",
    "Garden",
    "Castle",
    "Lantern",
    "Anchor",
    "Compass",
]
TRADES = [
    "Plumbing",
    "Dental",
    "Solar",
    "Bakery",
    "Roofing",
    "Law",
    "Consulting",
    "Electric",
    "Design",
    "Motors",
    "Cleaning",
    "Physio",
    "Accounting",
    "Print",
    "Coffee",
    "Joinery",
    "Vets",
    "Optics",
]
SUFFIXES = {
    "US": ["Inc.", "LLC", "Co."],
    "GB": ["Ltd", "& Sons", "LLP"],
    "DE": ["GmbH", "KG", "e.K."],
    "FR": ["SARL", "SAS"],
    "NL": ["B.V.", "V.O.F."],
    "AU": ["Pty Ltd"],
    "CA": ["Inc.", "Ltd."],
    "IE": ["Ltd", "DAC"],
}
LOCALS = [
    "info",
    "hello",
    "contact",
    "office",
    "sales",
    "support",
    "team",
    "enquiries",
    "admin",
    "bookings",
    "post",
    "service",
    "kontakt",
    "bonjour",
    "mail",
    "reception",
    "orders",
]
PEOPLE = [
    "anna.schmidt",
    "j.smith",
    "m.dubois",
    "pieter",
    "sarah.jones",
    "tom",
    "l.nguyen",
    "k.mueller",
    "e.van.dijk",
    "o.brien",
    "r.patel",
    "claire",
]
PAGES = {
    "en": {
        "contact": ["contact", "contact-us", "get-in-touch", "reach-us"],
        "about": ["about", "about-us", "team"],
        "services": ["services", "what-we-do", "prices"],
        "legal": ["legal", "imprint", "privacy"],
        "news": ["news", "blog"],
    },
    "de": {
        "contact": ["kontakt"],
        "about": ["ueber-uns", "team"],
        "services": ["leistungen", "angebot"],
        "legal": ["impressum", "datenschutz"],
        "news": ["aktuelles"],
    },
    "fr": {
        "contact": ["contact", "contactez-nous"],
        "about": ["a-propos", "equipe"],
        "services": ["services", "tarifs"],
        "legal": ["mentions-legales"],
        "news": ["actualites"],
    },
    "nl": {
        "contact": ["contact"],
        "about": ["over-ons", "team"],
        "services": ["diensten"],
        "legal": ["colofon", "privacy"],
        "news": ["nieuws"],
    },
}
LABELS = {
    "en": ["Tel:", "Phone:", "Call us:", "T:", "Ph:", "Call", "Office:", "Mobile:", "Fax:", "", "", "☎"],
    "de": ["Tel.:", "Telefon:", "Fon:", "Mobil:", "Fax:", "T:", "", "☎"],
    "fr": ["Tél. :", "Téléphone :", "Tel:", "Portable :", "Fax :", ""],
    "nl": ["Tel:", "Telefoon:", "T:", "Mobiel:", ""],
}
EMAIL_LABELS = {
    "en": ["Email:", "E-mail:", "Write to", "Mail:", ""],
    "de": ["E-Mail:", "Mail:", ""],
    "fr": ["E-mail :", "Courriel :", ""],
    "nl": ["E-mail:", "Mail:", ""],
}
LOREM = (
    "We have served our neighbours for many years with honest work and fair prices. Our team is small, "
    "skilled and proud of every job. Ask us anything; we answer within a day. "
)

EMAIL_FORMATS = [
    "plain",
    "plain",
    "mailto",
    "mailto",
    "mailto_text",
    "mailto_query",
    "mailto_upper",
    "bracket",
    "paren",
    "words",
    "curly",
    "at_only",
    "entity",
    "entity_at",
    "span",
    "null_span",
    "cf",
    "jsonld",
    "microdata",
    "reversed",
    "upper_words",
    "spaced_at",
]
PHONE_FORMATS = [
    "intl",
    "intl",
    "national",
    "national",
    "national",
    "intl_dash",
    "intl_dots",
    "trunk",
    "idd00",
    "national_dash",
    "national_dots",
    "national_slash",
    "compact_labeled",
    "e164",
    "tel_link",
    "tel_link",
    "tel_icon",
    "jsonld",
    "microdata",
    "ext",
]


def _valid_number(rng: random.Random, region: str, mobile: bool) -> PhoneNumber:
    kind = PhoneNumberType.MOBILE if mobile else PhoneNumberType.FIXED_LINE
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = str(example.national_number)
    for _ in range(500):
        keep = max(2, len(national) - rng.randint(4, 6))
        digits = national[:keep] + "".join(rng.choice(string.digits) for _ in range(len(national) - keep))
        number = phonenumbers.parse("+" + str(example.country_code) + digits, None)
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
            kind,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            return number
    return example


def _groups(number: PhoneNumber) -> list[str]:
    """The national number's digit groups as phonenumbers formats them internationally."""
    text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return text.split(" ", 1)[1].replace("-", " ").split()


def phone_text(number: PhoneNumber, fmt: str, region: str, trunk: bool, rng: random.Random) -> str:
    """``number`` written the way ``fmt`` says (text formats only)."""
    cc = str(number.country_code)
    groups = _groups(number)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if fmt == "intl":
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    if fmt == "intl_dash":
        return f"+{cc}-" + "-".join(groups)
    if fmt == "intl_dots":
        return f"+{cc}." + ".".join(groups)
    if fmt == "trunk" and trunk:
        return f"+{cc} (0)" + " ".join(groups)
    if fmt == "idd00" and region not in ("US", "CA"):
        return f"00{cc} " + " ".join(groups)
    if fmt == "national_dash":
        return national.replace("(", "").replace(")", "").replace(" ", "-")
    if fmt == "national_dots":
        return national.replace("(", "").replace(")", "").replace(" ", ".").replace("-", ".")
    if fmt == "national_slash" and " " in national and region in ("DE", "NL", "FR"):
        head, tail = national.split(" ", 1)
        return f"{head}/{tail.replace(' ', rng.choice(['', ' ']))}"
    if fmt == "e164":
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if fmt == "compact_labeled":
        return (
            phonenumbers.national_significant_number(number)
            if region in ("US", "CA")
            else "0" + phonenumbers.national_significant_number(number)
        )
    return national


def e164(number: PhoneNumber) -> str:
    text = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return f"{text};ext={number.extension}" if number.extension else text


def _cf(email: str, rng: random.Random) -> str:
    key = rng.randint(1, 255)
    return f"{key:02x}" + "".join(f"{ord(c) ^ key:02x}" for c in email)


_EMAIL_WRITERS: dict[str, Callable[[str, str, str, random.Random], str]] = {
    # fmt: (email, local part, domain, rng) -> html
    "plain": lambda email, local, domain, rng: escape(email),
    "mailto": lambda email, local, domain, rng: f'<a href="mailto:{email}">{escape(email)}</a>',
    "mailto_text": lambda email, local, domain, rng: (
        f'<a href="mailto:{email}">{rng.choice(["Email us", "Write to us", "Send a message"])}</a>'
    ),
    "mailto_query": lambda email, local, domain, rng: (
        f'<a href="mailto:{email}?subject=Enquiry%20from%20website&amp;body=Hello">Contact form</a>'
    ),
    "mailto_upper": lambda email, local, domain, rng: f'<a href="MAILTO:{email.upper()}">{escape(email.upper())}</a>',
    "bracket": lambda email, local, domain, rng: f"{local} [at] {domain.replace('.', ' [dot] ')}",
    "paren": lambda email, local, domain, rng: f"{local}(at){domain.replace('.', '(dot)')}",
    "words": lambda email, local, domain, rng: f"{local} at {domain.replace('.', ' dot ')}",
    "upper_words": lambda email, local, domain, rng: f"{local} AT {domain.replace('.', ' DOT ')}",
    "curly": lambda email, local, domain, rng: f"{local}{{at}}{domain.replace('.', '{dot}')}",
    "at_only": lambda email, local, domain, rng: f"{local} [at] {domain}",
    "spaced_at": lambda email, local, domain, rng: f"{local} @ {domain}",
    "entity": lambda email, local, domain, rng: "".join(f"&#{ord(c)};" for c in email),
    "entity_at": lambda email, local, domain, rng: email.replace("@", "&#64;").replace(".", "&#46;"),
    "span": lambda email, local, domain, rng: f"{local}<span>@</span>{domain}",
    "null_span": lambda email, local, domain, rng: (
        f'{local}<span style="display:none">null</span>@<span style="display: none;">x</span>{domain}'
    ),
    "cf": lambda email, local, domain, rng: (
        f'<a href="/cdn-cgi/l/email-protection#{_cf(email, rng)}"><span class="__cf_email__" '
        f'data-cfemail="{_cf(email, rng)}">[email&#160;protected]</span></a>'
    ),
    "reversed": lambda email, local, domain, rng: (
        f'<span style="unicode-bidi:bidi-override; direction: rtl;">{escape(email[::-1])}</span>'
    ),
}
"""How each e-mail format of :data:`EMAIL_FORMATS` writes an address in HTML (JSON-LD and microdata have none)."""


def email_html(email: str, fmt: str, rng: random.Random) -> tuple[str, bool]:
    """``(html, visible as text)`` of ``email`` written the way ``fmt`` says. JSON-LD/microdata return ''."""
    local, domain = email.split("@")
    write = _EMAIL_WRITERS.get(fmt)
    if write is None:
        return "", False
    return write(email, local, domain, rng), True


# --- decoys ---------------------------------------------------------------------------------------------


def decoy_snippets(rng: random.Random, region: str, lang: str) -> list[str]:
    """Text that holds numbers and addresses that are not the company's contacts."""
    fake = _valid_number(rng, region, False)
    fake_compact = phonenumbers.national_significant_number(fake)
    fake_national = phonenumbers.format_number(fake, PhoneNumberFormat.NATIONAL)
    options = [
        f"Order #{fake_compact} has shipped.",
        f"Invoice no. {rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"Invoice date: {rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2019, 2025)}",
        f"Price list version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        f"Website v{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}",
        "IBAN: DE89 3704 0044 0532 0130 00 · BIC: COBADEFFXXX",
        "IBAN GB29 NWBK 6016 1331 9268 19",
        "VAT No: GB 123 4567 89",
        "USt-IdNr.: DE123456789",
        "TVA intracommunautaire : FR12345678901",
        "BTW-nummer: NL123456789B01",
        "ABN 51 824 753 556",
        f"Customer number: {fake_compact}",
        f"Ref: {fake_national}",
        f"Tracking ID {fake_compact}",
        "Registergericht Hamburg, HRB 123456",
        "Company No. 01234567, registered in England and Wales",
        "In an emergency always dial 112.",
        "Emergency: 911" if region in ("US", "CA") else "Emergency: 999",
        f"Serving our customers {rng.randint(1985, 2005)}–2024.",
        "Opening hours: Mon–Fri 08:00–18:00, Sat 9:30–13:00",
        f"Prices from £{rng.randint(1, 9)},{rng.randint(100, 999)}.00"
        if region == "GB"
        else f"Preise ab {rng.randint(1, 9)}.{rng.randint(100, 999)},00 €",
        f"Find us: {rng.uniform(40, 60):.5f}, {rng.uniform(-5, 15):.5f}",
        "SKU 4006381333931",
        f"Steuernummer: {rng.randint(10, 99)}/{rng.randint(100, 999)}/{rng.randint(10000, 99999)}",
        "Retina logo: logo@2x.png, icons-sprite@3x.webp",
        "Enter your address, e.g. name@example.com, and we reply within a day.",
        "Placeholder for the form: your.name@yourcompany.com",
        "Newsletter: user@domain.com is just an example.",
        "Kundennummer 0301234567 bitte angeben.",
        f"Auftragsnummer: {fake_compact}",
        f"Licence #{rng.randint(100000, 999999)}",
    ]
    return rng.sample(options, k=rng.randint(3, 6))


# --- pages ----------------------------------------------------------------------------------------------


def _page(title: str, lang: str | None, nav: str, main: str, footer: str, head: str = "") -> str:
    lang_attr = f' lang="{lang}"' if lang else ""
    return (
        f'<!doctype html>\n<html{lang_attr}><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<link rel="stylesheet" href="/css/site.css">{head}</head><body>\n<header>'
        f'<img src="/img/logo@2x.png" alt="logo"><nav>{nav}</nav></header>\n<main>{main}</main>\n'
        f"<footer>{footer}</footer>\n</body></html>"
    )


@dataclass
class _Item:
    kind: str  # email | phone
    value: str  # truth value
    html: str  # how it is written ("" when only structured)
    fmt: str
    page: str  # footer | contact | about | legal | script
    label: str = ""


def _site(index: int, rng: random.Random, script_site: bool, hosts: list[str]) -> tuple[SiteTruth, dict[str, Response]]:
    region = rng.choices(list(COUNTRIES), weights=[c[4] for c in COUNTRIES.values()])[0]
    names, cities, region_lang, trunk, _ = COUNTRIES[region]
    base_lang = region_lang.split("-")[0]
    words = PAGES.get(base_lang, PAGES["en"])
    labels = LABELS.get(base_lang, LABELS["en"])
    email_labels = EMAIL_LABELS.get(base_lang, EMAIL_LABELS["en"])
    trade = rng.choice(TRADES)
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {trade} {rng.choice(SUFFIXES[region])}"
    slug = "-".join(name.lower().replace("&", "and").replace(".", "").split()[:3]) + f"-{index}"
    host = f"{slug}.test"
    city = rng.choice(cities)
    country_name = rng.choice(names)
    lang = (
        rng.choice([region_lang, region_lang, base_lang, None])
        if base_lang != "en"
        else rng.choice([region_lang, "en", "en", None])
    )
    geography = f"{city}, {country_name}" if rng.random() < 0.5 else None
    truth = SiteTruth(host=host, target_path="/", region=region, geography=geography, name=name)
    routes: dict[str, Response] = {}

    paths = _SitePaths(*("/" + rng.choice(words[page]) for page in ("contact", "about", "services", "legal", "news")))

    # Contacts and where they appear.
    items = _email_items(rng, index, slug, host, email_labels)
    items += _phone_items(rng, region, trunk, labels)
    script_kind = _script_kind(rng, script_site, items, truth)
    for item in items:
        (truth.emails if item.kind == "email" else truth.phones).add(item.value)
    head, micro_html = _structured_data(rng, items, name, host, slug, city, region)
    table_layout = rng.random() < 0.25

    robots_path, robots_email, robots_phone_number = _robots_decoys(rng, index, host, region, truth)

    nav = _nav(rng, paths, robots_path, slug, lang, hosts, truth, routes)
    address = f"{rng.randint(1, 200)} {rng.choice(NOUNS)} Street, {city}, {country_name}"
    footer = (
        f'<p>{escape(name)} · <span class="addr">{escape(address)}</span></p>'
        f"{_render(items, 'footer', table_layout)}"
        f"<p>© {rng.randint(2015, 2025)} {escape(name)}</p>"
    )
    decoys = decoy_snippets(rng, region, base_lang)
    honeypot = f'<p style="display:none">Spam trap: trap-{index}@{host}</p>' if rng.random() < 0.3 else ""
    comment = f"<!-- old address: legacy-{index}@{host} -->" if rng.random() < 0.3 else ""

    def page(title: str, main: str, *, with_footer: bool = True) -> str:
        return _page(f"{title} – {name}", lang, nav, main, footer if with_footer else "")

    def decoy_block(k: int) -> str:
        chosen = decoys[k::2] if decoys else []
        return "".join(f"<p>{escape(d)}</p>" for d in chosen)

    def render(where: str) -> str:
        return _render(items, where, table_layout)

    home_main = (
        f"<h1>{escape(name)}</h1><p>{LOREM}</p>{micro_html}{decoy_block(0)}{honeypot}{comment}"
        f'<p><a href="{paths.contact}">Contact us</a></p>'
    )
    pages = {
        "/": _page(f"{name} | {trade} in {city}", lang, nav, home_main, footer, head),
        paths.services: page("Services", f"<h1>Services</h1><ul><li>{trade}</li><li>Advice</li></ul>{decoy_block(1)}"),
        paths.about: page("About", f"<h1>About us</h1><p>{LOREM * 2}</p>{render('about')}"),
        paths.legal: page(
            "Legal", f"<h1>Legal notice</h1><p>{escape(name)}, {escape(address)}</p>{render('legal')}{decoy_block(0)}"
        ),
        paths.news: page("News", f"<h1>News</h1><p>{LOREM}</p>{decoy_block(1)}"),
    }
    contact_main = f'<h1>Contact</h1>{render("contact")}<form><input placeholder="you@example.com"></form>'
    if script_kind:
        contact_main, extra_routes, spa = _script_contact(
            script_kind, [it for it in items if it.page == "script"], rng, name, nav
        )
        routes.update(extra_routes)
        contact_main = f"<h1>Contact</h1>{render('contact')}{contact_main}"
        if spa:
            pages["/"] = _page(
                f"{name}", lang, "", f'<div id="root"></div>{micro_html}<script src="/app.js"></script>', "", head
            )
            routes["/app.js"] = Response(body=spa, content_type="application/javascript")
    pages[paths.contact] = page("Contact", contact_main)
    # the legal page links to the contact page too, so it is reachable from every page
    for path, html in pages.items():
        routes[path] = Response(body=html)

    robots_main = (
        f"<h1>Staff only</h1><p>Internal: {robots_email}, "
        f"{phonenumbers.format_number(robots_phone_number, PhoneNumberFormat.INTERNATIONAL)}</p>"
    )
    _add_robots_and_assets(routes, robots_path, _page("Internal", lang, nav, robots_main, ""))
    _entry_quirks(rng, routes, truth, paths.about)
    return truth, routes


def _robots_decoys(
    rng: random.Random, index: int, host: str, region: str, truth: SiteTruth
) -> tuple[str, str, PhoneNumber]:
    """``(path, e-mail, phone)`` of the staff page robots.txt disallows: a crawl that obeys never sees them."""
    robots_path = rng.choice(["/private/staff", "/intern/mitarbeiter", "/admin/contacts", "/drafts/old-contact"])
    robots_email = f"do-not-collect-{index}@{host}"
    robots_phone_number = _valid_number(rng, region, False)
    truth.robots_decoys = {robots_email, e164(robots_phone_number)}
    truth.robots_decoys -= truth.emails | truth.phones
    return robots_path, robots_email, robots_phone_number


def _add_robots_and_assets(routes: dict[str, Response], robots_path: str, robots_page: str) -> None:
    """The disallowed staff page, the robots.txt that disallows it, the stylesheet and the logo."""
    routes[robots_path] = Response(body=robots_page)
    disallow = robots_path.rsplit("/", 1)[0] + "/"
    routes["/robots.txt"] = Response(body=f"User-agent: *\nDisallow: {disallow}\n", content_type="text/plain")
    routes["/css/site.css"] = Response(body="body{font-family:sans-serif}", content_type="text/css")
    routes["/img/logo@2x.png"] = Response(body=b"\x89PNG\r\n", content_type="image/png")


@dataclass(frozen=True)
class _SitePaths:
    """Where a site keeps its pages (the paths are in the site's language)."""

    contact: str
    about: str
    services: str
    legal: str
    news: str


def _email_items(rng: random.Random, index: int, slug: str, domain: str, email_labels: list[str]) -> list[_Item]:
    """The site's addresses: mostly on its own domain, written in one of :data:`EMAIL_FORMATS` each."""
    items: list[_Item] = []
    n_emails = rng.choice([1, 1, 2, 2, 3])
    locals_ = rng.sample(LOCALS, k=n_emails)
    if rng.random() < 0.3:
        locals_[-1] = rng.choice(PEOPLE)
    for local in locals_:
        email = f"{local}@{domain}" if rng.random() > 0.08 else f"{slug.replace('-', '.')}@mailbox-{index}.test"
        fmt = rng.choice(EMAIL_FORMATS)
        html, _ = email_html(email, fmt, rng)
        items.append(
            _Item(
                "email",
                email.lower(),
                html,
                fmt,
                rng.choice(["footer", "contact", "contact", "about", "legal"]),
                rng.choice(email_labels),
            )
        )
    return items


def _phone_items(rng: random.Random, region: str, trunk: bool, labels: list[str]) -> list[_Item]:
    """The site's phones, written in one of :data:`PHONE_FORMATS` each."""
    items: list[_Item] = []
    n_phones = rng.choice([1, 1, 2, 2, 3])
    for i in range(n_phones):
        number = _valid_number(rng, region, mobile=i > 0 and rng.random() < 0.5)
        fmt = rng.choice(PHONE_FORMATS)
        label = rng.choice(labels)
        if region == "GB" and rng.random() < 0.25:
            # Ofcom's range for drama: possible, not allocated (phonenumbers calls it invalid). Labelled.
            number = phonenumbers.parse(f"07700 900{rng.randint(0, 999):03d}", "GB")
            fmt, label = rng.choice(["national", "intl"]), rng.choice(["Mobile:", "Tel:", "Call"])
        value = e164(number)
        if fmt == "ext":
            value, html = _phone_with_extension(rng, value)
        elif fmt == "tel_link":
            shown = phone_text(number, rng.choice(["national", "intl", "national_dash"]), region, trunk, rng)
            href = rng.choice(
                [
                    phonenumbers.format_number(number, PhoneNumberFormat.E164),
                    phonenumbers.format_number(number, PhoneNumberFormat.RFC3966)[4:],
                    "+" + str(number.country_code) + "-" + "-".join(_groups(number)),
                ]
            )
            html = f'<a href="tel:{href}">{escape(shown)}</a>'
        elif fmt == "tel_icon":
            html = (
                f'<a href="tel:{phonenumbers.format_number(number, PhoneNumberFormat.E164)}" '
                f'aria-label="Call us" class="icon-phone">☎</a>'
            )
        elif fmt in ("jsonld", "microdata"):
            html = ""
        else:
            if fmt == "compact_labeled":
                label = label or labels[0]
            html = escape(phone_text(number, fmt, region, trunk, rng))
        items.append(
            _Item(
                "phone",
                value,
                html,
                fmt,
                rng.choice(["footer", "footer", "contact", "contact", "about", "legal"]),
                label,
            )
        )
    return items


def _phone_with_extension(rng: random.Random, value: str) -> tuple[str, str]:
    """``(E.164 with ;ext=, html)`` of the number ``value`` with an extension added."""
    number = PhoneNumber()
    number.merge_from(phonenumbers.parse(value, None))
    number.extension = str(rng.randint(2, 999))
    value = e164(number)
    text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    text = text.replace(" ext. ", rng.choice([" ext. ", " x", " ext ", " Ext. "]))
    return value, escape(text)


def _script_kind(rng: random.Random, script_site: bool, items: list[_Item], truth: SiteTruth) -> str | None:
    """How a script site shows its contacts; some of ``items`` move to the script (marked ``script_only``)."""
    script_kind = rng.choice(["timeout", "fetch", "external", "spa", "write"]) if script_site else None
    if script_kind:
        truth.features.append(f"script:{script_kind}")
        movable = [it for it in items if it.fmt not in ("jsonld", "microdata")]
        for item in movable[: rng.randint(1, max(1, len(movable)))]:
            item.page = "script"
            truth.script_only.add(item.value)
    return script_kind


def _structured_data(
    rng: random.Random, items: list[_Item], name: str, host: str, slug: str, city: str, region: str
) -> tuple[str, str]:
    """``(JSON-LD for the head, microdata block)``: the items written only as structured data, and more."""
    jsonld: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": rng.choice(["Organization", "LocalBusiness", "ProfessionalService"]),
        "name": name,
        "url": f"http://{host}/",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": f"{rng.randint(1, 200)} {rng.choice(NOUNS)} Street",
            "addressLocality": city,
            "addressCountry": region,
        },
    }
    ld_emails = [it.value for it in items if it.fmt == "jsonld" and it.kind == "email"]
    ld_phones = [it for it in items if it.fmt == "jsonld" and it.kind == "phone"]
    if ld_emails:
        jsonld["email"] = ld_emails[0] if len(ld_emails) == 1 else ld_emails
    if ld_phones:
        jsonld["telephone"] = phonenumbers.format_number(
            phonenumbers.parse(ld_phones[0].value, None), PhoneNumberFormat.INTERNATIONAL
        )
        if len(ld_phones) > 1:
            jsonld["contactPoint"] = [{"@type": "ContactPoint", "telephone": p.value} for p in ld_phones[1:]]
    jsonld["sameAs"] = [f"https://www.linkedin.com/company/{slug}", f"https://www.facebook.com/{slug}"]
    head = ""
    if ld_emails or ld_phones or rng.random() < 0.5:
        head = f'<script type="application/ld+json">{json.dumps(jsonld)}</script>'
    micro = [it for it in items if it.fmt == "microdata"]
    micro_html = ""
    if micro:
        props = "".join(
            f'<meta itemprop="email" content="{it.value}">'
            if it.kind == "email"
            else f'<span itemprop="telephone" content="{phonenumbers.format_number(phonenumbers.parse(it.value, None), PhoneNumberFormat.E164)}"></span>'  # noqa: E501
            for it in micro
        )
        micro_html = (
            f'<div itemscope itemtype="https://schema.org/LocalBusiness">'
            f'<span itemprop="name">{escape(name)}</span>{props}</div>'
        )
    return head, micro_html


def _render(items: list[_Item], where: str, table_layout: bool) -> str:
    """The contacts shown on page ``where``, each with its label: paragraphs, or a table's rows."""
    parts = []
    for it in items:
        if it.page == where and it.html:
            label = it.label
            if it.kind == "phone" and it.fmt == "tel_icon":
                label = ""
            if table_layout and where != "footer":
                parts.append(f"<tr><th>{escape(label)}</th><td>{it.html}</td></tr>")
            else:
                parts.append(f"<p>{escape(label)} {it.html}</p>" if label else f"<p>{it.html}</p>")
    if table_layout and where != "footer" and parts:
        return "<table>" + "".join(parts) + "</table>"
    return "\n".join(parts)


def _nav(
    rng: random.Random,
    paths: _SitePaths,
    robots_path: str,
    slug: str,
    lang: str | None,
    hosts: list[str],
    truth: SiteTruth,
    routes: dict[str, Response],
) -> str:
    """The navigation every page shows, with the traps some sites have (404, 500, a redirect loop, a link off
    the site, a nofollow page); the routes of the traps go into ``routes``."""
    nav_links = [
        ("/", "Home"),
        (paths.services, "Services"),
        (paths.about, "About"),
        (paths.contact, "Contact"),
        (paths.news, "News"),
        (paths.legal, "Legal"),
    ]
    extra_nav: list[tuple[str, str]] = []
    if rng.random() < 0.5:
        extra_nav.append((robots_path, "Staff"))
    if rng.random() < 0.25:
        extra_nav.append(("/old-offers", "Offers"))  # 404
        truth.features.append("404")
    if rng.random() < 0.12:
        extra_nav.append(("/broken", "Status"))  # 500
        routes["/broken"] = Response(status=500, body="internal error")
        truth.features.append("500")
    if rng.random() < 0.12:
        extra_nav.append(("/promo", "Promo"))  # redirect loop
        routes["/promo"] = Response(status=302, location="/promo-2")
        routes["/promo-2"] = Response(status=302, location="/promo")
        truth.features.append("redirect-loop")
    if rng.random() < 0.15:
        other = rng.choice(hosts) if hosts else None
        if other:
            extra_nav.append((f"http://{other}:{{{{port}}}}/", "Our partner"))
            truth.features.append("offsite-link")
    if rng.random() < 0.3:
        extra_nav.append((paths.contact + "?utm_source=nav&utm_medium=menu#form", "Write to us"))
    nav = " ".join(f'<a href="{href}">{escape(text)}</a>' for href, text in nav_links + extra_nav)
    nav += f' <a href="https://twitter.com/{slug}">Twitter</a>'
    nav += ' <a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>'
    if rng.random() < 0.2:
        nav += ' <a href="/newsletter" rel="nofollow">Newsletter</a>'
        routes["/newsletter"] = Response(body=_page("Newsletter", lang, "", "<p>Sign up below.</p>", ""))
    return nav


def _entry_quirks(rng: random.Random, routes: dict[str, Response], truth: SiteTruth, about_path: str) -> None:
    """Some sites enter through a redirect chain; some have a slow page."""
    roll = rng.random()
    if roll < 0.15:
        home = routes.pop("/")
        routes["/"] = Response(status=301, location="/home")
        routes["/home"] = Response(status=302, location="/en/")
        routes["/en"] = home
        truth.features.append("redirect-chain")
    if rng.random() < 0.06:
        routes[about_path].delay = 1.0
        truth.features.append("slow-page")


def _script_contact(
    kind: str, items: list[_Item], rng: random.Random, name: str, nav: str
) -> tuple[str, dict[str, Response], str | None]:
    """The contact block of a page that shows ``items`` only through script."""
    lines = []
    for it in items:
        if it.kind == "email":
            lines.append(f'Email: <a href="mailto:{it.value}">{it.value}</a>')
        else:
            number = phonenumbers.parse(it.value.split(";")[0], None)
            shown = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            if ";ext=" in it.value:
                shown += " ext. " + it.value.split("=")[1]
            lines.append(f"Phone: {shown}")
    html = "<br>".join(lines)
    delay = rng.choice([150, 300, 500, 700])
    encoded = base64.b64encode(html.encode()).decode()
    if kind == "timeout":
        return (
            f'<div id="contact-box">Loading…</div><script>setTimeout(function () {{'
            f'document.getElementById("contact-box").innerHTML = atob("{encoded}");}}, {delay});</script>',
            {},
            None,
        )
    if kind == "write":
        parts = [html[i : i + 7] for i in range(0, len(html), 7)]
        joined = " + ".join(json.dumps(p) for p in parts)
        return (
            f'<div id="c"></div><script>var c = document.getElementById("c"); c.innerHTML = {joined};</script>',
            {},
            None,
        )
    if kind == "fetch":
        return (
            '<div class="js-contact" data-contact></div><script>fetch("/api/contact.json").then(r => r.json())'
            '.then(d => { document.querySelector(".js-contact").innerHTML = d.lines.join("<br>"); });</script>',
            {
                "/api/contact.json": Response(
                    body=json.dumps({"lines": lines}), content_type="application/json", delay=delay / 1000
                )
            },
            None,
        )
    if kind == "external":
        script = (
            f'window.addEventListener("DOMContentLoaded", function () {{ setTimeout(function () {{'
            f'var box = document.getElementById("reach"); box.innerHTML = atob("{encoded}"); }}, {delay}); }});'
        )
        return (
            '<div id="reach"></div><script src="/js/contact.js"></script>',
            {"/js/contact.js": Response(body=script, content_type="application/javascript")},
            None,
        )
    # spa: the whole home page (navigation included) is rendered by script
    spa = (
        f'document.getElementById("root").innerHTML = "<nav>" + {json.dumps(nav)} + "</nav><h1>" + '
        f'{json.dumps(name)} + "</h1>" + atob("{encoded}");'
    )
    return "", {}, spa


def generate_world(seed: int, sites: int = 40, *, script_share: float = 0.2, huge: bool = True) -> World:
    """A world of ``sites`` company sites (plus a directory) from ``seed``; the same seed, the same world."""
    rng = random.Random(seed)
    routes: dict[str, dict[str, Response]] = {}
    truths: list[SiteTruth] = []
    script_sites = set(rng.sample(range(sites), k=round(sites * script_share)))
    for index in range(sites):
        site_rng = random.Random(f"{seed}:{index}")
        truth, site_routes = _site(index, site_rng, index in script_sites, [t.host for t in truths])
        routes[truth.host] = site_routes
        truths.append(truth)
    from world.others import add_others  # (it builds on this module)

    add_others(seed, truths, routes)

    # A site that moved: the old name redirects to the new one (a different registrable domain).
    if sites >= 5:
        moved = truths[3]
        old_host = f"old-{moved.host}"
        routes[old_host] = {"/": Response(status=301, location=f"http://{moved.host}:{{{{port}}}}/")}
        moved.features.append(f"moved-from:{old_host}")
        moved_truth = SiteTruth(
            host=old_host,
            target_path="/",
            region=moved.region,
            geography=moved.geography,
            name=moved.name,
            emails=set(moved.emails),
            phones=set(moved.phones),
            robots_decoys=set(moved.robots_decoys),
            script_only=set(moved.script_only),
            features=["moved"],
            third_party=set(moved.third_party),
        )
        truths.append(moved_truth)
    # A site whose entry redirects in a loop: nothing to find, the job fails.
    loop_host = f"loop-{seed}.test"
    routes[loop_host] = {"/": Response(status=302, location="/a"), "/a": Response(status=302, location="/")}
    truths.append(
        SiteTruth(
            host=loop_host,
            target_path="/",
            region="US",
            geography=None,
            name="Loop",
            features=["entry-loop"],
            fails=True,
        )
    )
    # One huge page (3 MB) with its contact details at the end.
    if huge and sites >= 3:
        big = truths[1]
        filler = "".join(f"<p>Item {i}: {LOREM}</p>" for i in range(12000))
        huge_email = f"catalogue@{big.host}"
        body = (
            f"<!doctype html><html><head><title>Catalogue</title></head><body><h1>Catalogue</h1>{filler}"
            f"<footer>Questions about the catalogue: {huge_email}</footer></body></html>"
        )
        routes[big.host]["/catalogue"] = Response(body=body)
        home = routes[big.host].get("/") or routes[big.host]["/en"]
        if isinstance(home.body, str) and home.status == 200:
            home.body = home.body.replace("</main>", '<p><a href="/catalogue">Catalogue</a></p></main>')
        else:
            routes[big.host]["/en"].body = str(routes[big.host]["/en"].body).replace(
                "</main>", '<p><a href="/catalogue">Catalogue</a></p></main>'
            )
        big.emails.add(huge_email)
        big.features.append("huge-page")

    directory_host = f"directory-{seed}.test"
    listing = [
        {
            "company_name": t.name,
            "phone": sorted(t.phones)[0] if t.phones else "",
            "website": f"http://{t.host}:{{{{port}}}}/",
        }
        for t in truths[:sites]
    ]
    platform, platform_listing, platform_routes = _platform_businesses(
        random.Random(f"{seed}:platforms"), {p for t in truths for p in t.phones}
    )
    listing += platform_listing
    for host, pages in platform_routes.items():
        routes.setdefault(host, {}).update(pages)
    routes[directory_host] = _directory(listing)
    return World(
        seed=seed,
        routes=routes,
        sites=truths,
        directory_host=directory_host,
        directory_listing=listing,
        platform_businesses=platform,
    )


PLATFORM_PAGES = (
    # (host, path) of a business's page; {slug} names the business, {user} the account hosting several sites
    ("www.facebook.com", "/{slug}"),
    ("www.facebook.com", "/{slug}"),
    ("www.facebook.com", "/{slug}"),
    ("{slug}.myshopify.com", "/"),
    ("{slug}.myshopify.com", "/"),
    ("{user}.wixsite.com", "/{slug}"),
    ("{user}.wixsite.com", "/{slug}"),
    ("www.instagram.com", "/{slug}/"),
    ("sites.google.com", "/view/{slug}"),
    ("linktr.ee", "/{slug}"),
)


def _platform_businesses(
    rng: random.Random, taken: set[str]
) -> tuple[list[ListedBusiness], list[dict[str, str]], dict[str, dict[str, Response]]]:
    """Businesses whose website is a page on a shared platform: three on facebook.com, two shops on
    myshopify.com, two sites under one wixsite.com account, one each on Instagram, Google Sites and Linktree.
    The first Facebook page is listed a second time under another URL of the same page (``m.`` host, its
    name's case, a trailing slash and a query) with its other phone. Returns the truth, the directory entries
    and the pages each platform serves."""
    user = "".join(rng.choice(string.ascii_lowercase) for _ in range(6))
    businesses: list[ListedBusiness] = []
    entries: list[dict[str, str]] = []
    routes: dict[str, dict[str, Response]] = {}
    names: set[str] = set()
    for index, (host_template, path_template) in enumerate(PLATFORM_PAGES):
        region = rng.choice(sorted(COUNTRIES))
        name = ""
        while not name or name in names:
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(TRADES)}"
        names.add(name)
        slug = name.lower().replace(" ", "")
        host = host_template.format(slug=slug, user=user)
        path = path_template.format(slug=slug)
        phones: list[str] = []
        while len(phones) < 2:
            phone = e164(_valid_number(rng, region, mobile=bool(len(phones))))
            if phone not in taken:
                taken.add(phone)
                phones.append(phone)
        website = f"http://{host}:{{{{port}}}}{path}"
        identity = host.removeprefix("www.") + path.rstrip("/") if path != "/" else host
        business = ListedBusiness(name=name, identity=identity, websites=[website], phones={phones[0]})
        entries.append({"company_name": name, "phone": phones[0], "website": website})
        if index == 0:  # the same page again, as another listing wrote it
            variant = f"http://m.facebook.com:{{{{port}}}}/{name.title().replace(' ', '')}/?ref=page_internal"
            business.websites.append(variant)
            business.phones.add(phones[1])
            entries.append({"company_name": name, "phone": phones[1], "website": variant})
        businesses.append(business)
        shown = phonenumbers.format_number(phonenumbers.parse(phones[0], None), PhoneNumberFormat.INTERNATIONAL)
        routes.setdefault(host, {})[path] = Response(
            body=(
                f"<!doctype html><html><head><title>{escape(name)}</title></head><body><h1>{escape(name)}</h1>"
                f"<p>Call us: {shown}</p></body></html>"
            )
        )
    routes.setdefault("m.facebook.com", {}).update(routes["www.facebook.com"])
    return businesses, entries, routes


def _directory(listing: list[dict[str, str]], per_page: int = 10) -> dict[str, Response]:
    routes: dict[str, Response] = {}
    pages = [listing[i : i + per_page] for i in range(0, len(listing), per_page)] or [[]]
    for number, entries in enumerate(pages, start=1):
        cards = []
        for entry in entries:
            phone = entry["phone"].split(";")[0]
            shown = (
                phonenumbers.format_number(phonenumbers.parse(phone, None), PhoneNumberFormat.INTERNATIONAL)
                if phone
                else ""
            )
            cards.append(
                f'<div class="result"><h3 class="name">{escape(entry["company_name"])}</h3>'
                f'<span class="tel">{shown}</span> <a class="site" href="{entry["website"]}">Website</a>'
                f"</div>"
            )
        nav = f'<a class="next" href="/results/page-{number + 1}">Next</a>' if number < len(pages) else ""
        body = (
            f"<!doctype html><html><head><title>Directory page {number}</title></head><body>"
            f'{"".join(cards)}<div class="pager">{nav}</div></body></html>'
        )
        routes["/results" if number == 1 else f"/results/page-{number}"] = Response(body=body)
    return routes
