"""Whose contact is it: agency credits, hosting notices, partners and examples in prose are someone else's;
the company's own addresses, also free-mail ones, also next to a credit line, stay its own. Cases written apart
from the fixture world's generator."""

from __future__ import annotations

import pytest

from leadworker.scrape.crawl import fold_site
from leadworker.scrape.extract import PageFacts, extract_page


def page(body: str, lang: str = "en") -> str:
    return f'<!doctype html><html lang="{lang}"><head><title>Home</title></head><body>{body}</body></html>'


def facts_of(body: str, url: str = "https://acme.co.uk/", region: str | None = "GB", lang: str = "en") -> PageFacts:
    return extract_page(page(body, lang), url, region=region)


def split(facts: PageFacts) -> tuple[set[str], set[str]]:
    """``(the company's e-mails and phones, someone else's)``."""
    return set(facts.emails) | set(facts.phones), set(facts.third_party)


MAIN = "<header><nav><a href='/'>Home</a> <a href='/contact'>Contact</a></nav></header><main><p>Welcome.</p></main>"


@pytest.mark.parametrize(
    ("footer", "region", "url", "own", "theirs", "reason"),
    [
        # English, one line, the agency's site linked, its address on that domain
        (
            '<p>Designed by <a href="https://northgate.design">Northgate Digital</a> · studio@northgate.design · '
            "+44 20 7946 0321</p>",
            "GB",
            "https://acme.co.uk/",
            set(),
            {"studio@northgate.design", "+442079460321"},
            "credit",
        ),
        # German label with line breaks inside one block
        (
            '<p>Webdesign: <a href="https://pixelwerk.de">Pixelwerk</a><br>mail@pixelwerk.de<br>Tel. 030 1234567</p>',
            "DE",
            "https://baeckerei-kunz.de/",
            set(),
            {"mail@pixelwerk.de", "+49301234567"},
            "credit",
        ),
        # German agent phrase, no link, contacts in the next block of the footer
        (
            "<p>Erstellt von Medienbüro Weber</p><p>info@medienbuero-weber.de | 0221 9876543</p>",
            "DE",
            "https://kunz-dach.de/",
            set(),
            {"info@medienbuero-weber.de", "+492219876543"},
            "credit",
        ),
        # French, the contacts in a sibling block, the owner's line after them
        (
            '<div><small>Site réalisé par <a href="https://agence-lumen.fr">Agence Lumen</a></small>'
            "<p>contact@agence-lumen.fr – 01 23 45 67 89</p></div>"
            "<p>Plomberie Martin · plomberie.martin@orange.fr · 01 98 76 54 32</p>",
            "FR",
            "https://plomberie-martin.fr/",
            {"plomberie.martin@orange.fr", "+33198765432"},
            {"contact@agence-lumen.fr", "+33123456789"},
            "credit",
        ),
        # Dutch, mailto and tel links inside the credit
        (
            '<p>Website door <a href="https://webbureau-noord.nl">Webbureau Noord</a> – '
            '<a href="mailto:hallo@webbureau-noord.nl">hallo@webbureau-noord.nl</a> – '
            '<a href="tel:+31501234567">050 123 4567</a></p>',
            "NL",
            "https://bakkerij-jansen.nl/",
            set(),
            {"hallo@webbureau-noord.nl", "+31501234567"},
            "credit",
        ),
        # the company's own contacts before the credit on the same line stay its own
        (
            '<p>© 2024 Joe Bloggs Plumbing · <a href="mailto:joe.plumber@gmail.com">joe.plumber@gmail.com</a> · '
            "020 7946 0000 · Website by Northgate, studio@northgate.design, 020 7946 0321</p>",
            "GB",
            "https://joebloggs.co.uk/",
            {"joe.plumber@gmail.com", "+442079460000"},
            {"studio@northgate.design", "+442079460321"},
            "credit",
        ),
        # its own-domain address after a credit line is still its own
        (
            '<p>Site by <a href="https://northgate.design">Northgate</a></p>'
            "<p>hello@acme.co.uk · studio@northgate.design"
            "</p>",
            "GB",
            "https://acme.co.uk/",
            {"hello@acme.co.uk"},
            {"studio@northgate.design"},
            "credit",
        ),
    ],
)
def test_credits_are_the_credited_partys(
    footer: str, region: str, url: str, own: set[str], theirs: set[str], reason: str
) -> None:
    lang = {"DE": "de", "FR": "fr", "NL": "nl"}.get(region, "en")
    facts = facts_of(f"{MAIN}<footer>{footer}</footer>", url, region, lang)
    assert split(facts) == (own, theirs)
    assert {t.reason for t in facts.third_party.values()} == {reason}


def test_credits_in_the_page_decide_with_the_credited_domain_everywhere() -> None:
    body = (
        f"{MAIN}<main><p>Website problems? Write to support@northgate.design.</p></main>"
        '<footer><p>Powered by <a href="https://www.northgate.design/">Northgate</a></p></footer>'
    )
    facts = facts_of(body)
    assert split(facts) == (set(), {"support@northgate.design"})
    assert facts.credited_domains == {"northgate.design": "credit"}


def test_a_credit_to_the_team_itself_is_no_credit() -> None:
    facts = facts_of(f"{MAIN}<footer><p>Designed by our team · info@acme.co.uk · 020 7946 0000</p></footer>")
    assert split(facts) == ({"info@acme.co.uk", "+442079460000"}, set())
    facts = facts_of(f"{MAIN}<main><p>Kitchens designed by us – call 020 7946 0000</p></main>")
    assert split(facts) == ({"+442079460000"}, set())


def test_hosting_company_in_a_legal_notice() -> None:
    body = (
        "<main><h1>Mentions légales</h1><p>Éditeur : Boulangerie Dupont, 01 23 45 67 89, "
        "contact@boulangerie-dupont.fr</p><p>Hébergeur : OVH SAS, 2 rue Kellermann, 59100 Roubaix – "
        "Tél. : 09 72 10 10 07</p></main>"
    )
    facts = facts_of(body, "https://boulangerie-dupont.fr/", "FR", "fr")
    assert split(facts) == ({"contact@boulangerie-dupont.fr", "+33123456789"}, {"+33972101007"})
    assert facts.third_party["+33972101007"].reason == "hosting"
    body = "<main><h1>Impressum</h1><p>Hosting: Hetzner Online GmbH, Tel. 09831 5050</p></main>"
    facts = facts_of(body, "https://kunz.de/", "DE", "de")
    assert split(facts) == (set(), {"+4998315050"})


def test_partners_and_suppliers() -> None:
    body = (
        '<main><p>We work with our supplier <a href="https://oakwood-timber.co.uk">Oakwood Timber</a> '
        "(sales@oakwood-timber.co.uk, 0113 496 0123) for all our flooring, and they deliver within the week."
        "</p><p>Call us: 020 7946 0000</p></main>"
    )
    facts = facts_of(body)
    assert split(facts) == ({"+442079460000"}, {"sales@oakwood-timber.co.uk", "+441134960123"})
    assert {t.reason for t in facts.third_party.values()} == {"partner"}
    body = "<main><p>In Zusammenarbeit mit Holzhandel Berger, bestellung@holz-berger.de</p></main>"
    facts = facts_of(body, "https://tischlerei-kunz.de/", "DE", "de")
    assert split(facts) == (set(), {"bestellung@holz-berger.de"})


@pytest.mark.parametrize(
    ("sentence", "theirs"),
    [
        (
            "Phishing mails are on the rise this winter, so never answer a message that claims to come from "
            "billing@paypal-support.net asking you for a password.",
            "billing@paypal-support.net",
        ),
        (
            "Last spring we switched from orders@oldsupplier.co.uk to our own ordering system, and deliveries have "
            "been faster ever since.",
            "orders@oldsupplier.co.uk",
        ),
        (
            "When you set up the mailbox, type your address in the usual form, for example j.smith@northwind.co.uk, "
            "and press save.",
            "j.smith@northwind.co.uk",
        ),
        (
            "Scammers have been calling customers from 020 7946 0999 pretending to be from our office, so please "
            "hang up if that happens.",
            "+442079460999",
        ),
        (
            "Betrüger verschicken derzeit E-Mails von rechnung@kunz-zahlung.de mit gefälschten Rechnungen, bitte "
            "öffnen Sie die Anhänge nicht.",
            "rechnung@kunz-zahlung.de",
        ),
        (
            "Attention aux arnaques : des escrocs écrivent depuis service@impots-remboursement.fr en se faisant "
            "passer pour l'administration.",
            "service@impots-remboursement.fr",
        ),
        (
            "Pas op voor oplichters: zij mailen vanaf klantenservice@bank-veilig.nl en vragen om uw inloggegevens "
            "en wachtwoord.",
            "klantenservice@bank-veilig.nl",
        ),
        (
            "Let op: wij schrijven onze klanten nooit vanaf iemand.anders@hotmail.com, en ook nooit vanaf een ander "
            "gratis adres.",
            "iemand.anders@hotmail.com",
        ),
        (
            "Pour créer votre compte, saisissez votre adresse sous la forme jeanne.martin@votre-societe.fr puis "
            "choisissez un mot de passe.",
            "jeanne.martin@votre-societe.fr",
        ),
    ],
)
def test_examples_in_prose_are_not_offered(sentence: str, theirs: str) -> None:
    facts = facts_of(f"<main><article><h1>News</h1><p>{sentence}</p></article></main>")
    assert split(facts) == (set(), {theirs})
    assert facts.third_party[theirs].reason == "example"


@pytest.mark.parametrize(
    ("body", "own"),
    [
        # a sentence that offers the address
        (
            "<main><p>Questions about your order or anything else at all? Email us at joe.plumber@gmail.com and "
            "we will answer within the day, promised.</p></main>",
            {"joe.plumber@gmail.com"},
        ),
        (
            "<main><p>Haben Sie Fragen zu unseren Angeboten oder zu einem Termin? Schreiben Sie uns unter "
            "info@kunz-dach.de oder rufen Sie uns an unter 0221 9876543.</p></main>",
            {"info@kunz-dach.de", "+492219876543"},
        ),
        (
            "<main><p>Vous avez une question sur nos pains ou une commande spéciale ? Contactez-nous au "
            "01 23 45 67 89 ou écrivez-nous : boulangerie.dupont@orange.fr</p></main>",
            {"+33123456789", "boulangerie.dupont@orange.fr"},
        ),
        # a free-mail owner's only address, in a mailto on his contact page, even in a sentence with "never"
        (
            "<main><h1>Contact</h1><p>I never miss a message, so just write to me: "
            '<a href="mailto:joe.plumber@gmail.com">joe.plumber@gmail.com</a> – day or night, any job, '
            "big or small, across the whole city.</p></main>",
            {"joe.plumber@gmail.com"},
        ),
        # a contact line is not prose
        (
            "<main><p>Email: joe.plumber@gmail.com</p><p>Mobile: 07700 900123</p></main>",
            {"joe.plumber@gmail.com", "+447700900123"},
        ),
    ],
)
def test_offers_stay_the_companys(body: str, own: set[str]) -> None:
    url, region, lang = "https://joebloggs.co.uk/", "GB", "en"
    if "kunz" in body:
        url, region, lang = "https://kunz-dach.de/", "DE", "de"
    elif "dupont" in body:
        url, region, lang = "https://boulangerie-dupont.fr/", "FR", "fr"
    assert split(facts_of(body, url, region, lang)) == (own, set())


def test_a_site_keeps_what_any_of_its_pages_offers_and_the_credited_domain_on_every_page() -> None:
    credit = (
        '<footer><p>Designed by <a href="https://northgate.design">Northgate</a> · '
        "studio@northgate.design · 020 7946 0321</p></footer>"
    )
    home = facts_of(f"{MAIN}{credit}")
    contact = facts_of(
        "<main><p>Tel: 020 7946 0321</p><p>Web: support@northgate.design</p></main>" + "<footer><p>Acme</p></footer>",
        "https://acme.co.uk/contact",
    )
    record = fold_site("https://acme.co.uk/", "acme.co.uk", [home, contact], "GB")
    assert record.phones == ["+442079460321"]  # the site offers it as its own on its contact page
    assert record.emails == []
    assert [(t.value, t.kind, t.reason) for t in record.third_party] == [
        ("studio@northgate.design", "email", "credit"),
        ("support@northgate.design", "email", "credit"),
    ]
    assert record.third_party[0].url == "https://acme.co.uk/"


def test_third_party_phones_follow_the_sites_region() -> None:
    # The page was read without a region; the site's region, inferred later, reads the national numbers.
    credit = "<footer><p>Webdesign: Pixelwerk Medien, Tel. 030 1234567</p></footer>"
    home = extract_page(
        page(f"<main><p>Telefon: 0221 9876543</p></main>{credit}", "de-DE"), "https://kunz.de/", region=None
    )
    record = fold_site("https://kunz.de/", "kunz.de", [home])
    assert record.phones == ["+492219876543"]
    assert [t.value for t in record.third_party] == ["+49301234567"]


def test_an_imprint_credit_spread_over_lines() -> None:
    body = (
        "<main><h1>Impressum</h1><p>Kunz Dachbau GmbH<br>Hauptstraße 5<br>50667 Köln<br>Tel. 0221 9876543<br>"
        "E-Mail: info@kunz-dach.de</p><p>Konzept, Design und Umsetzung:<br>Northgate Digital<br>Musterweg 1"
        "<br>10115 Berlin<br>Tel. 030 1234567<br>E-Mail: studio@northgate-digital.de</p>"
        "<h2>Haftung für Inhalte</h2><p>Die Inhalte unserer Seiten wurden sorgfältig erstellt.</p></main>"
    )
    facts = facts_of(body, "https://kunz-dach.de/impressum", "DE", "de")
    assert split(facts) == ({"info@kunz-dach.de", "+492219876543"}, {"studio@northgate-digital.de", "+49301234567"})
    body = (
        "<main><p>Conception et réalisation du site : Agence Lumen – 01 23 45 67 89</p>"
        "<p>Téléphone : 01 98 76 54 32</p></main>"
    )
    facts = facts_of(body, "https://plomberie-martin.fr/", "FR", "fr")
    assert split(facts) == ({"+33198765432"}, {"+33123456789"})


def test_a_heading_that_announces_partners_covers_its_section() -> None:
    body = (
        "<main><h2>Our partners</h2><ul><li><a href='https://oakwood.co.uk'>Oakwood Timber</a>, 0113 496 0123"
        "</li><li>Prima Supplies Ltd, orders@prima-supplies.co.uk, 0161 496 0456</li></ul>"
        "<h2>Contact</h2><p>Tel: 020 7946 0000</p><p>hello@acme.co.uk</p></main>"
    )
    facts = facts_of(body)
    assert split(facts) == (
        {"+442079460000", "hello@acme.co.uk"},
        {"+441134960123", "orders@prima-supplies.co.uk", "+441614960456"},
    )


def test_an_address_on_a_site_the_page_links_to_is_that_sites() -> None:
    body = (
        "<main><p>Flooring</p><p><a href='https://www.oakwood.co.uk/'>Oakwood Timber</a><br>"
        "sales@oakwood.co.uk</p><p>Email: hello@acme.co.uk</p></main>"
    )
    assert split(facts_of(body)) == ({"hello@acme.co.uk"}, {"sales@oakwood.co.uk"})


def test_made_by_someone_in_the_content_is_no_credit() -> None:
    body = (
        "<main><h1>Cakes</h1><p>Wedding cakes made by Anna, our pastry chef – call 020 7946 0000</p>"
        "<p>Birthday cakes</p><p>Cupcakes</p><p>Bread</p><p>Pastries</p><p>Coffee</p><p>Tea</p></main>"
    )
    assert split(facts_of(body)) == ({"+442079460000"}, set())


@pytest.mark.parametrize(
    ("sentence", "own", "theirs"),
    [
        (
            "For planning permission in the old town, the council's office at planning@leeds-council.gov.uk handles "
            "every request.",
            set(),
            {"planning@leeds-council.gov.uk"},
        ),
        (
            "Drop a line to bookings@acme-mail.co.uk any time and we will reply with a quote within the day.",
            {"bookings@acme-mail.co.uk"},
            set(),
        ),
        (
            "For quotes and small jobs around the house, write to sam.builds@gmail.com and expect an answer the"
            " same day.",
            {"sam.builds@gmail.com"},
            set(),
        ),
        (
            "Please do not write to noreply@acme-billing.co.uk, that mailbox is not read by anyone in the office.",
            set(),
            {"noreply@acme-billing.co.uk"},
        ),
    ],
)
def test_addresses_in_running_text(sentence: str, own: set[str], theirs: set[str]) -> None:
    assert split(facts_of(f"<main><p>{sentence}</p></main>")) == (own, theirs)


def test_footer_items_in_one_line() -> None:
    # Spans of one footer row read as one line: a label inside it still credits, and a © starts the next item.
    footer = (
        '<footer><div><span>© 2024 Acme Ltd</span> <span>Design: <a href="https://northgate.design">Northgate'
        "</a></span> <span>+44 20 7946 0321</span></div>"
        "<p>Website by Northgate Digital, 020 7946 0322 © 2024 Joe Bloggs · joe.plumber@gmail.com · "
        "020 7946 0000</p></footer>"
    )
    assert split(facts_of(f"{MAIN}{footer}")) == (
        {"joe.plumber@gmail.com", "+442079460000"},
        {"+442079460321", "+442079460322"},
    )
    footer = "<footer><p>Réalisé avec ♥ par Agence Lumen, 01 23 45 67 89</p></footer>"
    facts = facts_of(f"{MAIN}{footer}", "https://plomberie-martin.fr/", "FR", "fr")
    assert split(facts) == (set(), {"+33123456789"})


def test_a_credit_to_the_company_itself_is_its_own() -> None:
    # The agency's own site: its credit names itself.
    body = (
        "<main><p>Web design for small businesses.</p></main><footer><p>Website by Northgate Digital · "
        "studio@northgate-mail.co.uk · 020 7946 0321</p></footer>"
    )
    facts = extract_page(
        f"<html><head><title>Northgate Digital | Web design in Leeds</title></head><body>{body}</body></html>",
        "https://northgate.design/",
        region="GB",
    )
    assert split(facts) == ({"studio@northgate-mail.co.uk", "+442079460321"}, set())


def test_a_sister_company_is_another_party() -> None:
    body = (
        "<main><p>Our sister company GreenFix (info@greenfix.co.uk, 0113 496 0999) looks after gardens and "
        "hedges across the whole county, while we stay with roofs.</p></main>"
    )
    assert split(facts_of(body)) == (set(), {"info@greenfix.co.uk", "+441134960999"})


def test_contacts_in_parentheses_after_another_company() -> None:
    body = (
        "<main><p>All our timber comes from Harrison Timber Ltd in Sheffield (orders@harrisontimber.co.uk, "
        "0114 496 0123), a family firm we have worked with for twenty years.</p><p>Call us: 0113 496 0000</p>"
        "</main>"
    )
    assert split(facts_of(body, "https://smithjoinery.co.uk/")) == (
        {"+441134960000"},
        {"orders@harrisontimber.co.uk", "+441144960123"},
    )
    body = (
        "<main><p>Our office manager Anna looks after the diary and the whole team (anna.smith@gmail.com, "
        "07911 123456) and answers within the day.</p></main>"
    )
    assert split(facts_of(body)) == ({"anna.smith@gmail.com", "+447911123456"}, set())


def test_a_line_with_the_sites_own_address_ends_a_credit_or_a_section() -> None:
    footer = (
        '<footer><p>Online booking powered by <a href="https://treatwell.co.uk">Treatwell</a></p>'
        "<p>Tel 0113 496 0000 · hello@salon-anna.co.uk</p></footer>"
    )
    facts = facts_of(f"{MAIN}{footer}", "https://salon-anna.co.uk/")
    assert split(facts) == ({"+441134960000", "hello@salon-anna.co.uk"}, set())
    body = (
        "<main><h2>Our partners</h2><p>BathCo, TileMasters and Leeds Heating Supplies.</p>"
        "<p>Tel: 0113 496 0000 · office@smithplumbing.co.uk</p></main>"
    )
    facts = facts_of(body, "https://smithplumbing.co.uk/")
    assert split(facts) == ({"+441134960000", "office@smithplumbing.co.uk"}, set())


def test_words_speak_of_the_value_they_stand_by() -> None:
    # "used to" speaks of the old number only; "such as X or Y" of both.
    body = (
        "<main><p>Please note that our phone number used to be 0113 496 0000 until last year; "
        "the number of the new workshop is 0113 496 0001, from Monday to Saturday.</p></main>"
    )
    assert split(facts_of(body)) == ({"+441134960001"}, {"+441134960000"})
    body = (
        "<main><p>Never reply to messages that claim to come from addresses such as billing@acme-pay.co.uk "
        "or alerts@acme-secure.co.uk, whatever they say about your account.</p></main>"
    )
    assert split(facts_of(body)) == (set(), {"billing@acme-pay.co.uk", "alerts@acme-secure.co.uk"})
