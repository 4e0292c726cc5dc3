from leadworker.scrape.extract import clean_email, extract_page, find_emails, find_phones, social_network


def test_obfuscated_emails() -> None:
    text = "write to info [at] acme [dot] com or sales(at)acme(dot)co(dot)uk or jo AT acme DOT de today"
    found = {clean_email(e) for e in find_emails(text)}
    assert {"info@acme.com", "sales@acme.co.uk", "jo@acme.de"} <= found


def test_decoy_emails_rejected() -> None:
    for decoy in (
        "logo@2x.png",
        "name@example.com",
        "you@example.org",
        "icon@3x.webp",
        "8f14e45fceea167a5a36dedd4bea2543@sentry.io",
        "info@acme",
    ):
        assert clean_email(decoy) is None, decoy
    assert clean_email("Anna.Schmidt@Acme.DE.") == "anna.schmidt@acme.de"


def test_phones_with_region_and_decoys() -> None:
    text = (
        "Call 030 1234567 or +44 20 7946 0958 ext. 12. Order #03012345678, invoice 2023-10-05, "
        "version 1.2.3, since 1987."
    )
    assert list(find_phones(text, "DE")) == ["+49301234567", "+442079460958;ext=12"]


def test_structured_data_and_links() -> None:
    html = """<html lang="de-AT"><head><title>Home | Alpen Bau</title>
    <script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebSite"},
      {"@type":["Organization","LocalBusiness"],"name":"Alpen Bau GmbH",
       "email":"mailto:office@alpenbau.at", "telephone":"+43 1 5322222",
       "address":{"streetAddress":"Ring 1","addressLocality":"Wien","addressCountry":"AT"},
       "sameAs":["https://www.linkedin.com/company/alpenbau","https://facebook.com/sharer/sharer.php?u=x"]}]}</script>
    </head><body><div itemscope itemtype="https://schema.org/Organization">
    <span itemprop="telephone">01 5322223</span></div>
    <a href="/kontakt">Kontakt</a> <a href="/x" rel="nofollow">x</a> <a href="tel:+43-1-5322224">ruf an</a>
    <a href="https://twitter.com/alpenbau">tw</a></body></html>"""
    facts = extract_page(html, "https://alpenbau.at/", region="AT")
    assert facts.names[0] == (0, "Alpen Bau GmbH")
    assert set(facts.emails) == {"office@alpenbau.at"}
    assert set(facts.phones) == {"+4315322222", "+4315322223", "+4315322224"}
    assert facts.socials == {
        "linkedin": "https://www.linkedin.com/company/alpenbau",
        "twitter": "https://twitter.com/alpenbau",
    }
    assert facts.addresses == ["Ring 1, Wien, AT"] and facts.country == "AT" and facts.lang == "de-AT"
    assert [(link.url, link.nofollow) for link in facts.links] == [
        ("https://alpenbau.at/kontakt", False),
        ("https://alpenbau.at/x", True),
    ]


def test_script_only_page_is_flagged() -> None:
    html = '<html><body><div id="root"></div><script src="/app.js"></script></body></html>'
    assert extract_page(html, "https://a.io/").needs_script
    assert not extract_page("<html><body>info@a.io</body></html>", "https://a.io/").needs_script


def test_social_network() -> None:
    assert social_network("https://x.com/acme") == "twitter"
    assert social_network("https://www.facebook.com/sharer/sharer.php") is None
    assert social_network("https://example.com/acme") is None


def test_absolute_links_are_what_urljoin_makes_of_them() -> None:
    # _absolute answers plain hrefs without urljoin; every other form goes through urljoin itself.
    from urllib.parse import urljoin

    from leadworker.scrape.extract import _absolute

    bases = [
        "http://a.test:8080/",
        "http://a.test/x/y.html?q=1",
        "https://b.test",
        "HTTP://C.test/p/",
        "http://d.test/a;b?c#d",
        "ftp://e.test/",
        "http://u@f.test/",
    ]
    hrefs = [
        "/",
        "/contact",
        "/a/b.html?x=1&y=2",
        "/a//b",
        "/./a",
        "/a/../b",
        "/a/.",
        "/a?",
        "/a#top",
        "/a;p",
        "//cdn.test/x.js",
        "http://other.test",
        "https://other.test/p?q",
        "HTTP://Other.test/",
        "http://x.test/ a",
        "/a\tb",
        "/é",
        "/.well-known/x",
        "contact.html",
        "../up",
        "?page=2",
        "#frag",
        "mailto:x@y.test",
    ]
    for base in bases:
        for href in hrefs:
            _absolute.cache_clear()
            assert _absolute(base, href) == urljoin(base, href), (base, href)


def test_block_boundaries_separate_words() -> None:
    # The end of a block is a boundary too, not only its start: "…DOT com." and "Phone:" never run together.
    html = (
        "<html><body><div><p>Jobs: careers AT acme DOT com.</p><footer>Phone: 020 7946 0958</footer></div>"
        "<div><p>sales AT acme DOT com.</p>Fax: 020 7946 0959</div>"
        "<ul><li>info AT acme DOT com</li><li>Web</li></ul></body></html>"
    )
    facts = extract_page(html, "https://acme.com/", region="GB")
    assert set(facts.emails) == {"careers@acme.com", "sales@acme.com", "info@acme.com"}
    assert set(facts.phones) == {"+442079460958", "+442079460959"}
    lines = [line.strip() for line in facts.phone_inputs.text.splitlines() if line.strip()]
    assert lines == [
        "Jobs: careers AT acme DOT com.",
        "Phone: 020 7946 0958",
        "sales AT acme DOT com.",
        "Fax: 020 7946 0959",
        "info AT acme DOT com",
        "Web",
    ]


def test_a_sentence_end_is_not_part_of_an_address() -> None:
    # Inline text: a dot and then a space ends the sentence, while "acme . com" is still spelled with spaces.
    html = "<html><body><p><span>careers AT acme DOT com.</span> <span>Phone: 020 7946 0958</span></p></body></html>"
    assert set(extract_page(html, "https://acme.com/", region="GB").emails) == {"careers@acme.com"}
    assert set(extract_page("<p>write to info @ acme . com</p>", "https://acme.com/").emails) == {"info@acme.com"}
