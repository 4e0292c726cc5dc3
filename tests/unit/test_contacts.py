"""E-mails and phones in text: formats found, decoys rejected, regions inferred. Cases written apart from the
fixture world's generator, so that the extraction is not only as good as the world it was tried on."""

import pytest

from leadworker.scrape.contacts import clean_email, decode_cfemail, find_emails, find_phones, mask_decoys
from leadworker.scrape.extract import extract_page, infer_region


def emails_in(text: str, site: str | None = "acme.test") -> set[str]:
    return {e for e in (clean_email(c) for c in find_emails(text, site)) if e}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to info@acme.test today", "info@acme.test"),
        ("INFO@ACME.TEST", "info@acme.test"),
        ("info [at] acme [dot] test", "info@acme.test"),
        ("info [ at ] acme [ dot ] co [ dot ] uk", "info@acme.co.uk"),
        ("info(at)acme(dot)test", "info@acme.test"),
        ("info (at) acme (dot) test", "info@acme.test"),
        ("info{at}acme{dot}test", "info@acme.test"),
        ("info at acme dot test", "info@acme.test"),
        ("sales AT acme DOT test", "sales@acme.test"),
        ("info [at] acme.test", "info@acme.test"),
        ("info[@]acme[.]test", "info@acme.test"),
        ("info @ acme.test", "info@acme.test"),
        ("info@ acme.test", "info@acme.test"),
        ("info @acme.test", "info@acme.test"),
        ("info\n@\nacme.test", "info@acme.test"),
        ("info \n [at]\n acme  [dot]\tco [dot] uk", "info@acme.co.uk"),
        ("info @ acme dot test", "info@acme.test"),
        ("info at acme.test", "info@acme.test"),
        ("j.smith at partner-firm.test", "j.smith@partner-firm.test"),
        ("kontakt (ät) firma (punkt) test", "kontakt@firma.test"),
        ("contact [arobase] societe [point] test", "contact@societe.test"),
        ("(info@acme.test)", "info@acme.test"),
        ("<info@acme.test>;", "info@acme.test"),
        ("Mail: info＠acme.test", "info@acme.test"),
        ("anna.schmidt+web@mail.acme.test.", "anna.schmidt+web@mail.acme.test"),
        ("Mail sean.o'brien@acme.test", "sean.o'brien@acme.test"),  # not brien@: the apostrophe is the name's
        ("Write 'info@acme.test' or", "info@acme.test"),  # quotes around an address are not part of it
        ("l'adresse: contact@acme.test", "contact@acme.test"),
    ],
)
def test_email_formats(text: str, expected: str) -> None:
    assert emails_in(text) == {expected}


@pytest.mark.parametrize(
    "text",
    [
        "logo@2x.png",
        "icon-sprite@3x.webp",
        "banner@1.5x.jpg",
        "name@example.com",
        "you@example.org",
        "jane.doe@example.net",
        "your.name@yourcompany.com",
        "user@domain.com",
        "email@address.com",
        "firstname.lastname@acme.test",
        "someone@somewhere.com",
        "info@localhost",
        "admin@acme",
        "8f14e45fceea167a5a36dedd4bea2543@sentry.wixpress.com",
        "jquery@3.6.0",
        "package@1.2.3",
        "Find us at acme.test",
        "Tickets at booking.test",
        "Meet us at the fair",
        "name@acme.example",
        "x@y.invalid",
        "e.g. vorname.nachname@firma.test",
        "user@127.0.0.1",
    ],
)
def test_email_decoys(text: str) -> None:
    assert emails_in(text) == set(), text


def test_long_whitespace_runs_do_not_slow_deobfuscation_down() -> None:
    # The bracket patterns once began with ``\s*``, which made every run of whitespace quadratic: 20,000
    # spaces took 5 s, these 200,000 would take minutes (past the test timeout). Now they are linear.
    text = "(" + " " * 200_000 + "info [at] acme [dot] test " + "\n" * 200_000 + "sales @ acme.test"
    assert emails_in(text) == {"info@acme.test", "sales@acme.test"}


def test_cloudflare_and_hidden_and_reversed_emails() -> None:
    key = 0x5A
    encoded = f"{key:02x}" + "".join(f"{ord(c) ^ key:02x}" for c in "cf@acme.test")
    assert decode_cfemail(encoded) == "cf@acme.test"
    html = f"""<html><body>
    <a href="/cdn-cgi/l/email-protection#{encoded}">[email protected]</a>
    <p>Mail: office<span style="display:none">null</span>@acme.test</p>
    <p style="display: none">trap@acme.test</p><div hidden>hidden@acme.test</div>
    <!-- old@acme.test -->
    <span style="unicode-bidi: bidi-override; direction: rtl">tset.emca@sdrawkcab</span>
    <a href="mailto:%62oss@acme.test?subject=Hi&amp;cc=cc@acme.test">Boss</a>
    <a href="mailto:?to=to@acme.test">write</a>
    <script>var debug = "script@acme.test";</script><style>a{{content:"style@acme.test"}}</style>
    <input placeholder="you@acme.test" value="value@acme.test">
    </body></html>"""
    facts = extract_page(html, "http://acme.test/contact")
    assert set(facts.emails) == {
        "cf@acme.test",
        "office@acme.test",
        "backwards@acme.test",
        "boss@acme.test",
        "to@acme.test",
    }


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("Tel: +44 20 7946 0958", None, "+442079460958"),
        ("Call +44 (0)20 7946 0958", None, "+442079460958"),
        ("(+44) 20 7946 0958", None, "+442079460958"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("020-7946-0958", "GB", "+442079460958"),
        ("Telefon: 030 / 123 456 78", "DE", "+493012345678"),
        ("Tel. +49 (0)30 12345678", None, "+493012345678"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("01.42.68.53.00", "FR", "+33142685300"),
        ("Tél. : +33 (0)1 42 68 53 00", None, "+33142685300"),
        ("Fax : +33 1 42 68 00 15", None, "+33142680015"),
        ("T: 020 123 4567", "NL", "+31201234567"),
        ("+31 (0)20 123 4567", None, "+31201234567"),
        ("(02) 9876 5432", "AU", "+61298765432"),
        ("+61 2 9876 5432", None, "+61298765432"),
        ("1300 975 707", "AU", "+611300975707"),
        ("(503) 555-0142", "US", "+15035550142"),
        ("503.555.0142", "US", "+15035550142"),
        ("+1-503-555-0142", None, "+15035550142"),
        ("1-800-555-0199", "US", "+18005550199"),
        ("Phone: 5035550142", "US", "+15035550142"),
        ("+1 503 555 0142 ext. 204", None, "+15035550142;ext=204"),
        ("(503) 555-0142 x12", "US", "+15035550142;ext=12"),
        ("+44 20 7946 0958 Ext. 7", None, "+442079460958;ext=7"),
        ("+49 30 1234567, Durchwahl 12", None, "+49301234567;ext=12"),
        ("+44\u00a020\u00a07946\u00a00958", None, "+442079460958"),
        ("020–7946–0958", "GB", "+442079460958"),
        ("+61.412.345.760", None, "+61412345760"),
        ("Phone number: 503 555 0142", "US", "+15035550142"),
        ("Tel. No. 030 1234567", "DE", "+49301234567"),
        ("Fax # 503 555 0142", "US", "+15035550142"),
        ("Your order has shipped. Questions? 503 555 0142", "US", "+15035550142"),
        ("Emergency: 911 · Office: (503) 555-0142", "US", "+15035550142"),
        ("Mobile: 07700 900123", "GB", "+447700900123"),
        ("+44 7700 900123", None, "+447700900123"),
    ],
)
def test_phone_formats(text: str, region: str | None, expected: str) -> None:
    assert list(find_phones(text, region)) == [expected]


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Order #5035550142 has shipped", "US"),
        ("Order number: 503-555-0142", "US"),
        ("Invoice no. 2023-10-05", "US"),
        ("Invoice date 05.10.2023", "DE"),
        ("Version 2.4.1 of 2024-01-01", "US"),
        ("IBAN: DE89 3704 0044 0532 0130 00", "DE"),
        ("IBAN GB29 NWBK 6016 1331 9268 19", "GB"),
        ("VAT No: GB 123 4567 89", "GB"),
        ("USt-IdNr.: DE123456789", "DE"),
        ("TVA : FR12345678901", "FR"),
        ("BTW: NL123456789B01", "NL"),
        ("ABN 51 824 753 556", "AU"),
        ("SIRET : 123 456 789 00012", "FR"),
        ("KvK 30123456", "NL"),
        ("Customer number: 0301234567", "DE"),
        ("Kundennummer 030123456", "DE"),
        ("Ref: 020 7946 0999", "GB"),
        ("Company No. 01234567", "GB"),
        ("Registergericht Hamburg HRB 123456", "DE"),
        ("Steuernummer: 12/345/67890", "DE"),
        ("In an emergency dial 112 or 999", "GB"),
        ("Serving customers 1998–2024", "US"),
        ("Open Mon–Fri 08:00–18:00", "DE"),
        ("From £1,995.00", "GB"),
        ("ab 1.299,00 €", "DE"),
        ("Find us: 53.55108, 9.99370", "DE"),
        ("SKU 4006381333931", "DE"),
        ("Tracking ID 123454229", "FR"),
        ("Emergency: 911 Customer number: 5062349128", "CA"),
        ("Ref # 503 555 0142", "US"),
        ("Registered in England No. 01234567", "GB"),
        ("07700 900123", "GB"),
        ("Phone: (123) 456-7890", "US"),
        ("Phone: (555) 555-5555", "US"),
        ("ISBN 978-3-16-148410-0", "DE"),
    ],
)
def test_phone_decoys(text: str, region: str) -> None:
    assert list(find_phones(text, region)) == [], text


def test_a_number_right_after_does_not_hide_a_labelled_one() -> None:
    assert list(find_phones("Mobile: 07700 900123\nPhone: +44 121 238 7895", "GB")) == [
        "+447700900123",
        "+441212387895",
    ]


def test_table_cells_and_blocks_keep_numbers_apart() -> None:
    html = """<html><body><table><tr><th>Office:</th><td>(022) 17395</td></tr>
    <tr><th></th><td>085 012 3662</td></tr></table><dl><dt>Fax</dt><dd>+353 1 234 5678</dd></dl>
    <p>Order</p><p>+353 85 012 9999</p></body></html>"""
    facts = extract_page(html, "http://site.test/", region="IE")
    assert set(facts.phones) == {"+3532217395", "+353850123662", "+35312345678", "+353850129999"}


def test_masking_keeps_length_and_phones() -> None:
    text = "Call 01.42.68.53.00 or +44.7400.555279; IBAN DE89 3704 0044 0532 0130 00; v2.4.1"
    masked = mask_decoys(text)
    assert len(masked) == len(text)
    assert "01.42.68.53.00" in masked and "+44.7400.555279" in masked
    assert "3704" not in masked and "2.4.1" not in masked


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<html lang="en-GB"><body>Call 020 7946 0958</body></html>', "GB"),
        ('<html lang="en"><body>Call (02) 9876 5432</body></html>', "AU"),
        ("<html><body>Tel 030 1234567 · Berlin, Deutschland</body></html>", "DE"),
        ("<html><body>Appelez le 01 42 68 53 00</body></html>", "FR"),
        ('<html lang="nl"><body>Bel 020 123 4567</body></html>', "NL"),
        ("<html><body>Call (503) 555-0142 · Portland, OR 97202</body></html>", "US"),
    ],
)
def test_site_region_is_inferred(html: str, expected: str) -> None:
    assert infer_region([extract_page(html, "http://site.test/")]) == expected


def test_lenient_jsonld_and_invisible_characters() -> None:
    html = """<html><head><script type="application/ld+json"><!--
    {"@context": "https://schema.org", "@type": "Organization", "name": "X", "email": "info(at)x.test",
     "telephone": "+44 20 7946 0958",}
    --></script></head><body><p>Mail: in\u200bfo2@x.test</p><p>Build 20240115 · Tel 020\u200b 7946 0959</p>
    </body></html>"""
    facts = extract_page(html, "http://x.test/", region="GB")
    assert set(facts.emails) == {"info@x.test", "info2@x.test"}
    assert set(facts.phones) == {"+442079460958", "+442079460959"}


def test_a_site_on_a_reserved_name_keeps_its_own_addresses() -> None:
    facts = extract_page(
        "<html><body>info@acme.example · hello [at] acme [dot] example · name@example.com · "
        "you@other.example</body></html>",
        "http://www.acme.example/",
    )
    assert set(facts.emails) == {"info@acme.example", "hello@acme.example"}


@pytest.mark.parametrize(
    "address",
    ["sean.o'brien@acme.test", "a=b@acme.test", "x'onfocus='window.x=1'y@acme.test", "a!b#c&d~e^f@acme.test"],
)
def test_a_mailto_link_keeps_every_address_rfc_5322_writes_without_quotes(address: str) -> None:
    """What a mailto: link or a JSON-LD ``email`` holds is an address whole: every character RFC 5322 allows
    unquoted is kept (a hostile site's markup-looking address is data, shown escaped), never cut to a tail."""
    structured = f'<script type="application/ld+json">{{"@type": "Organization", "email": "2{address}"}}</script>'
    page = f'<a href="mailto:{address}">mail</a>{structured}'
    facts = extract_page(f"<html><body>{page}</body></html>", "https://acme.test/")
    assert set(facts.emails) == {address, "2" + address}
    markup = ('"<b>x</b>"@acme.test', "<b>x</b>@acme.test", "a b@acme.test")
    templates = ("{{user}}@acme.test", "${email}@acme.test", "{user}@acme.test", "%7Bname%7D@acme.test")
    for address in (*markup, *templates, "*@acme.test", "?@acme.test", "/info@acme.test", "`x`@acme.test"):
        assert clean_email(address) is None, address
