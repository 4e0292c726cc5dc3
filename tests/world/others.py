"""Other people's contacts on the world's sites, and the company's own ones that look like them.

Written onto the sites :mod:`world.generate` made, each site from its own random stream (``seed:index:others``),
so the rest of the world stays as it was:

- web-agency credits in the footer of every page, in the site's language, in five layouts (one line with a
  link, ``<br>`` lines, a credit line with its contacts in the next block, ``mailto:``/``tel:`` links, a bare
  agent phrase); the agencies serve several sites each;
- prose that talks about addresses in a blog post (a scam sender, a former supplier, an address format) and
  a fraud caller's number;
- a supplier or partner on the about page, the hosting company in the legal notice;
- a booking vendor whose help address and line appear on several sites;
- block-adjacent text (``careers AT host DOT test.</p><div>Phone: …``);

and the hard cases that stay the company's: a free-mail owner's address in a ``mailto:`` on the contact page,
the company's own address in the footer line before the credit, a sentence in the blog that offers its address.

Someone else's values go to :attr:`~world.generate.SiteTruth.third_party`; the company's to its emails and
phones.
"""

from __future__ import annotations

import random
from html import escape

import phonenumbers
from phonenumbers import PhoneNumberFormat

from world.generate import COUNTRIES, PAGES, Response, SiteTruth, e164, phone_text
from world.generate import _valid_number as valid_number

AGENCIES = [  # name, slug
    ("Northgate Digital", "northgate-digital"),
    ("Pixelwerk Medien", "pixelwerk-medien"),
    ("Agence Lumen", "agence-lumen"),
    ("Webbureau Noord", "webbureau-noord"),
    ("Brightside Studio", "brightside"),
    ("Kreativköpfe", "kreativkoepfe"),
    ("Atelier Numérique", "atelier-numerique"),
    ("Studio Kade", "studio-kade"),
]
CREDITS = {
    "en": [
        "Designed by {a}",
        "Website by {a}",
        "Site by {a}",
        "Web design: {a}",
        "Made with ♥ by {a}",
        "Website design & build by {a}",
        "Powered by {a}",
    ],
    "de": [
        "Webdesign: {a}",
        "Erstellt von {a}",
        "Gestaltung & Umsetzung: {a}",
        "Design und Umsetzung: {a}",
        "Website erstellt durch {a}",
    ],
    "fr": [
        "Site réalisé par {a}",
        "Réalisation : {a}",
        "Conception et réalisation : {a}",
        "Création du site : {a}",
        "Site conçu par {a}",
    ],
    "nl": ["Website door {a}", "Ontwerp: {a}", "Realisatie: {a}", "Webdesign door {a}", "Ontworpen door {a}"],
}
SCAM = {
    "en": (
        "Phishing mails are on the rise this winter: never answer a message that claims to come from {e} and "
        "asks for your bank details."
    ),
    "de": (
        "Vorsicht: Betrüger verschicken derzeit gefälschte Rechnungen von {e} und bitten um eine "
        "Überweisung auf ein neues Konto."
    ),
    "fr": (
        "Attention aux arnaques : des escrocs envoient en ce moment de fausses factures depuis {e} en se "
        "faisant passer pour nous."
    ),
    "nl": (
        "Pas op voor oplichters: zij sturen op dit moment valse facturen vanaf {e} en vragen om een "
        "betaling op een nieuw rekeningnummer."
    ),
}
SWITCHED = {
    "en": "Last spring we switched from {e}, our old supplier, to a local workshop, and deliveries are faster now.",
    "de": "Im Frühjahr haben wir von {e}, unserem früheren Lieferanten, zu einer Werkstatt vor Ort gewechselt.",
    "fr": "Au printemps, nous sommes passés de {e}, notre ancien fournisseur, à un atelier du quartier.",
    "nl": "Dit voorjaar zijn we overgestapt van {e}, onze vorige leverancier, naar een werkplaats in de buurt.",
}
FORMAT = {
    "en": "When you register for the customer portal, type your work address in the usual form, for example {e}.",
    "de": "Geben Sie bei der Anmeldung im Kundenportal Ihre Adresse im üblichen Format an, zum Beispiel {e}.",
    "fr": "Pour vous inscrire sur l'espace client, indiquez votre adresse habituelle, par exemple {e}.",
    "nl": "Vul bij het aanmelden voor het klantenportaal uw zakelijke adres in, bijvoorbeeld {e}.",
}
FRAUD_CALL = {
    "en": "Some customers were called from {p} by someone pretending to be from our office; please hang up.",
    "de": "Einige Kunden wurden unter {p} von Betrügern angerufen, die sich als unser Büro ausgaben.",
    "fr": "Des clients ont reçu des appels frauduleux du {p} de la part d'escrocs qui usurpent notre nom.",
    "nl": "Sommige klanten werden gebeld vanaf {p} door oplichters die zich voordeden als ons kantoor.",
}
OFFER = {
    "en": "Questions about this post or anything else at all? Email us at {e} and we reply within the day.",
    "de": "Haben Sie Fragen zu diesem Beitrag oder zu einem Termin? Schreiben Sie uns unter {e}, wir antworten gern.",
    "fr": "Une question sur cet article ou sur une commande ? Écrivez-nous à {e}, nous répondons dans la journée.",
    "nl": "Vragen over dit bericht of over een afspraak? Mail ons op {e}, we antwoorden dezelfde dag nog.",
}
SUPPLIER = {
    "en": "We work with our supplier {a} ({e}, {p}) for all our materials, and they deliver within the week.",
    "de": "Wir arbeiten mit unserem Lieferanten {a} ({e}, {p}) zusammen, der alle Materialien binnen einer Woche "
    "liefert.",
    "fr": "Nous travaillons avec notre fournisseur {a} ({e}, {p}) pour tous nos matériaux, livrés en une semaine.",
    "nl": "We werken samen met onze leverancier {a} ({e}, {p}) voor al onze materialen, binnen een week geleverd.",
}
HOSTING = {
    "en": "Hosting: {a}, {p}",
    "de": "Hosting: {a}, Tel. {p}",
    "fr": "Hébergeur : {a} – Tél. : {p}",
    "nl": "Hosting: {a}, tel. {p}",
}
VENDOR = ("BookWell", "bookwell-online.test", "help@bookwell-online.test")
VENDOR_LINES = {
    "en": "Online booking powered by {a} · {e}",
    "de": "Online-Terminbuchung bereitgestellt von {a} · {e}",
    "fr": "Réservation en ligne fournie par {a} · {e}",
    "nl": "Online boeken verzorgd door {a} · {e}",
}
HOSTS = [
    ("Hetzner Online GmbH", "Industriestr. 25, 91710 Gunzenhausen"),
    ("OVH SAS", "2 rue Kellermann, 59100 Roubaix"),
    ("HostCo Ltd", "1 Cloud Street, Leeds LS1 4AP"),
    ("TransIP B.V.", "Schipholweg 9B, 2316 XB Leiden"),
]
PARTNER_TITLES = {"en": "Our partners", "de": "Unsere Partner", "fr": "Nos partenaires", "nl": "Onze partners"}
FIRST_NAMES = ["joe", "sam", "lena", "marc", "eva", "tom", "ines", "piet"]


def add_others(seed: int, truths: list[SiteTruth], routes: dict[str, dict[str, Response]]) -> None:
    """Write other people's contacts (and their hard counter-cases) onto every site of the world."""
    vendor_phone = e164(valid_number(random.Random(f"{seed}:vendor"), "GB", False))
    vendor_sites = 0
    for index, truth in enumerate(truths):
        rng = random.Random(f"{seed}:{index}:others")
        site = routes[truth.host]
        lang = COUNTRIES[truth.region][2].split("-")[0]
        lang = lang if lang in CREDITS else "en"
        pages = {
            path: response
            for path, response in site.items()
            if isinstance(response.body, str) and "<footer>" in response.body and len(response.body) < 100_000
        }
        if not pages:
            continue
        own_email = next((e for e in sorted(truth.emails) if e not in truth.script_only), None)
        if rng.random() < 0.12:
            own_email = _free_mail_owner(rng, truth, pages, lang)
        if rng.random() < 0.45:
            _agency_credit(rng, index, truth, pages, lang, own_email)
        if rng.random() < 0.35:
            _blog(rng, truth, site, pages, lang, own_email)
        if rng.random() < 0.3:
            _supplier_or_host(rng, truth, pages, lang)
        if vendor_sites < 6 and rng.random() < 0.3:
            vendor_sites += 1
            line = VENDOR_LINES[lang].format(a=f'<a href="https://{VENDOR[1]}/">{VENDOR[0]}</a>', e=VENDOR[2])
            tel = phonenumbers.format_number(phonenumbers.parse(vendor_phone, None), PhoneNumberFormat.INTERNATIONAL)
            _append(pages, _path(pages, "contact"), "</main>", f"<p>{line} · Tel. {tel}</p>")
            truth.third_party |= {VENDOR[2], vendor_phone}
            truth.features.append("vendor")
        if rng.random() < 0.25:
            _adjacent_blocks(truth, pages)
        if rng.random() < 0.2:
            _hosting_block(rng, truth, pages, lang)
        if rng.random() < 0.2:
            _partner_section(rng, truth, pages, lang)
        if rng.random() < 0.15:
            _own_line_after_a_credit(truth, pages)


def _path(pages: dict[str, Response], kind: str) -> str:
    """The path of the site's page of a kind (contact, about, legal, news), else its home page."""
    for words in PAGES.values():
        for word in words[kind]:
            if f"/{word}" in pages:
                return f"/{word}"
    return "/" if "/" in pages else next(iter(pages))


def _append(pages: dict[str, Response], path: str, marker: str, html: str) -> None:
    body = str(pages[path].body)
    pages[path].body = body.replace(marker, html + marker, 1)


def _phone_shown(rng: random.Random, number: phonenumbers.PhoneNumber, region: str) -> str:
    trunk = COUNTRIES[region][3]
    return phone_text(number, rng.choice(["national", "intl", "national", "intl_dash"]), region, trunk, rng)


def _agency_credit(
    rng: random.Random, index: int, truth: SiteTruth, pages: dict[str, Response], lang: str, own_email: str | None
) -> None:
    name, slug = rng.choice(AGENCIES)
    domain = f"{slug}.test"
    email = rng.choice(["studio", "hello", "info", "kontakt", "mail"]) + f"@{domain}"
    if rng.random() < 0.1:
        email = f"{slug.replace('-', '.')}@gmail.com"
    number = valid_number(rng, truth.region, False)
    phone = e164(number)
    shown = escape(_phone_shown(rng, number, truth.region))
    cue = rng.choice(CREDITS[lang])
    layout = rng.choice(["line", "br", "next", "links", "bare"])
    link = f'<a href="https://www.{domain}/">{escape(name)}</a>'
    if layout == "line":
        html = f"<p>{cue.format(a=link)} · {email} · {shown}</p>"
    elif layout == "br":
        html = f"<p>{cue.format(a=link)}<br>{email}<br>{rng.choice(['Tel. ', 'T: ', ''])}{shown}</p>"
    elif layout == "next":
        html = f'<div class="site-credit"><small>{cue.format(a=link)}</small><p>{email} | {shown}</p></div>'
    elif layout == "links":
        digits = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        html = (
            f'<p>{cue.format(a=link)} – <a href="mailto:{email}">{email}</a> – <a href="tel:{digits}">{shown}</a></p>'
        )
    else:
        html = f"<p>{cue.format(a=escape(name))}, {email}, {shown}</p>"
    if own_email and layout != "next" and rng.random() < 0.3:
        # The company's own address on the same footer line, before the credit: still the company's.
        html = f"<p>{escape(truth.name)} · {own_email} · {html[3:]}"
        truth.features.append("own-before-credit")
    for path in pages:
        _append(pages, path, "</footer>", html)
    truth.third_party |= {email, phone}
    truth.features.append(f"credit:{layout}")


def _blog(
    rng: random.Random,
    truth: SiteTruth,
    site: dict[str, Response],
    pages: dict[str, Response],
    lang: str,
    own_email: str | None,
) -> None:
    scam = rng.choice(
        [
            f"billing-{rng.randint(10, 99)}@gmail.com",
            f"invoice@{truth.host.split('.')[0]}-pay.test",
            f"support@secure-{rng.randint(100, 999)}-bank.test",
        ]
    )
    supplier = f"orders@{rng.choice(['greenleaf', 'timberline', 'oakwood', 'prima'])}-{rng.randint(1, 99)}.test"
    example = (
        f"{rng.choice(['m.meyer', 'j.smith', 'c.martin', 'p.devries'])}@{rng.choice(['firma', 'office'])}"
        f"-{rng.randint(1, 99)}.test"
    )
    fraud = valid_number(rng, truth.region, False)
    fraud_shown = escape(_phone_shown(rng, fraud, truth.region))
    paragraphs = [
        SCAM[lang].format(e=scam),
        SWITCHED[lang].format(e=supplier),
        FORMAT[lang].format(e=example),
        FRAUD_CALL[lang].format(p=fraud_shown),
    ]
    rng.shuffle(paragraphs)
    if own_email:
        paragraphs.append(OFFER[lang].format(e=own_email))
    article = "".join(f"<p>{p}</p>" for p in paragraphs)
    news = _path(pages, "news")
    body = str(pages[news].body)
    head, _, _ = body.partition("<main>")
    _, _, tail = body.partition("</main>")
    path = f"{news.rstrip('/')}/security-notice" if news != "/" else "/blog/security-notice"
    site[path] = Response(body=f"{head}<main><article><h1>{escape(truth.name)}</h1>{article}</article></main>{tail}")
    _append(pages, news, "</main>", f'<p><a href="{path}">Read more</a></p>')
    truth.third_party |= {scam, supplier, example, e164(fraud)}
    truth.features.append("blog")


def _supplier_or_host(rng: random.Random, truth: SiteTruth, pages: dict[str, Response], lang: str) -> None:
    number = valid_number(rng, truth.region, False)
    shown = escape(_phone_shown(rng, number, truth.region))
    if rng.random() < 0.5:
        name = rng.choice(["Oakwood Timber", "Prima Supplies", "Holzhandel Berger", "Matériaux Roux", "Bouwmaat Zuid"])
        domain = name.lower().replace(" ", "-").replace("é", "e") + f"-{rng.randint(1, 99)}.test"
        email = f"sales@{domain}"
        text = SUPPLIER[lang].format(a=f'<a href="https://{domain}/">{escape(name)}</a>', e=email, p=shown)
        _append(pages, _path(pages, "about"), "</main>", f"<p>{text}</p>")
        truth.third_party |= {email, e164(number)}
        truth.features.append("supplier")
    else:
        name = rng.choice(["HostCo Ltd", "Hetzner Online GmbH", "OVH SAS", "TransIP B.V."])
        _append(pages, _path(pages, "legal"), "</main>", f"<p>{HOSTING[lang].format(a=escape(name), p=shown)}</p>")
        truth.third_party.add(e164(number))
        truth.features.append("hosting")


def _free_mail_owner(rng: random.Random, truth: SiteTruth, pages: dict[str, Response], lang: str) -> str:
    """A sole trader whose address is free mail, in a ``mailto:`` on the contact page: the company's."""
    trade = truth.name.split()[2].lower()
    number = truth.host.split(".")[0].rsplit("-", 1)[-1]  # one owner's address, not shared by other sites
    email = f"{rng.choice(FIRST_NAMES)}.{trade}{number}@gmail.com"
    label = {"en": "Write to me:", "de": "Schreiben Sie mir:", "fr": "Écrivez-moi :", "nl": "Mail mij:"}[lang]
    _append(pages, _path(pages, "contact"), "</main>", f'<p>{label} <a href="mailto:{email}">{email}</a></p>')
    truth.emails.add(email)
    truth.features.append("free-mail-owner")
    return email


def _adjacent_blocks(truth: SiteTruth, pages: dict[str, Response]) -> None:
    """``…DOT test.</p><div>Phone: …``: the two blocks' text must not run together."""
    phone = next((p for p in sorted(truth.phones) if ";" not in p and p not in truth.script_only), None)
    if phone is None:
        return
    label = truth.host.removesuffix(".test")
    shown = phonenumbers.format_number(phonenumbers.parse(phone, None), PhoneNumberFormat.INTERNATIONAL)
    _append(
        pages, _path(pages, "contact"), "</main>", f"<p>Jobs: careers AT {label} DOT test.</p><div>Phone: {shown}</div>"
    )
    truth.emails.add(f"careers@{truth.host}")
    truth.features.append("adjacent-blocks")


def _hosting_block(rng: random.Random, truth: SiteTruth, pages: dict[str, Response], lang: str) -> None:
    """The hosting company of a legal notice over several lines, as imprints and mentions légales give it."""
    name, address = rng.choice(HOSTS)
    number = valid_number(rng, truth.region, False)
    shown = escape(_phone_shown(rng, number, truth.region))
    label = {"en": "Hosting", "de": "Hosting", "fr": "Hébergement", "nl": "Hosting"}[lang]
    phone_label = {"en": "Tel:", "de": "Tel.:", "fr": "Tél. :", "nl": "Tel:"}[lang]
    if rng.random() < 0.5:
        html = f"<h2>{label}</h2><p>{escape(name)}<br>{escape(address)}<br>{phone_label} {shown}</p>"
    else:
        html = f"<p>{label}:<br>{escape(name)}<br>{escape(address)}<br>{phone_label} {shown}</p>"
    _append(pages, _path(pages, "legal"), "</main>", html)
    truth.third_party.add(e164(number))
    truth.features.append("hosting-block")


def _partner_section(rng: random.Random, truth: SiteTruth, pages: dict[str, Response], lang: str) -> None:
    """A heading that announces partners, over a list of them with their contacts."""
    first = f"{rng.choice(['bathco', 'tilemasters', 'greenline', 'nordholz'])}-{rng.randint(1, 99)}"
    email = f"info@{first}.test"
    number = valid_number(rng, truth.region, False)
    shown = escape(_phone_shown(rng, number, truth.region))
    second = rng.choice(["Prima Supplies", "Holzhandel Berger", "Matériaux Roux", "Bouwmaat Zuid"])
    html = (
        f'<h2>{PARTNER_TITLES[lang]}</h2><ul><li><a href="https://www.{first}.test/">{first.title()}</a> – '
        f"{email}</li><li>{escape(second)} – {shown}</li></ul>"
    )
    _append(pages, _path(pages, "about"), "</main>", html)
    truth.third_party |= {email, e164(number)}
    truth.features.append("partner-section")


def _own_line_after_a_credit(truth: SiteTruth, pages: dict[str, Response]) -> None:
    """A vendor's credit line without contacts, then the company's own contact line: the company's."""
    email = next((e for e in sorted(truth.emails) if e.endswith("@" + truth.host) and e not in truth.script_only), None)
    phone = next((p for p in sorted(truth.phones) if ";" not in p and p not in truth.script_only), None)
    if email is None or phone is None:
        return
    shown = phonenumbers.format_number(phonenumbers.parse(phone, None), PhoneNumberFormat.INTERNATIONAL)
    html = (
        f'<p>Online booking powered by <a href="https://{VENDOR[1]}/">{VENDOR[0]}</a></p><p>Tel {shown} · {email}</p>'
    )
    for path in pages:
        _append(pages, path, "</footer>", html)
    truth.features.append("own-line-after-credit")
