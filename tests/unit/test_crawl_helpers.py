from leadworker.common.domains import registrable_domain
from leadworker.scrape.crawl import canonical_url, contact_score, path_allowed


def test_canonical_url() -> None:
    assert canonical_url("HTTP://Acme.COM:80/a//b/?utm_source=x&b=2&a=1#top") == "http://acme.com/a/b?a=1&b=2"
    assert canonical_url("https://acme.com") == "https://acme.com/"
    assert canonical_url("https://acme.com:8443/x/") == "https://acme.com:8443/x"


def test_contact_pages_first() -> None:
    assert contact_score("https://a.de/impressum") == 0
    assert contact_score("https://a.de/x", "Contact us") == 0
    assert contact_score("https://a.de/ueber-uns") == contact_score("https://a.de/legal") == 1
    assert contact_score("https://a.de/blog/post") == 2


def test_path_globs() -> None:
    assert path_allowed("/team/anna", ["/team/*"], [])
    assert not path_allowed("/blog/1", ["/team/*"], [])
    assert not path_allowed("/private/x", [], ["/private/*"])


def test_registrable_domains() -> None:
    assert registrable_domain("https://shop.acme.co.uk/x") == "acme.co.uk"
    assert registrable_domain("www.acme-plumbing.test") == "acme-plumbing.test"
    assert registrable_domain("http://127.0.0.1/") is None


def test_canonical_url_drops_tracking_and_session_ids() -> None:
    assert (
        canonical_url("https://acme.test/contact?utm_source=nav&gclid=x&fbclid=y#form") == "https://acme.test/contact"
    )
    assert canonical_url("https://acme.test/a;jsessionid=ABC?b=1&PHPSESSID=2&ref=x") == "https://acme.test/a?b=1"
    assert canonical_url("https://acme.test/team/index.html") == "https://acme.test/team"
    assert canonical_url("https://ACME.test:443/Contact/") == "https://acme.test/Contact"


def test_contact_words_in_several_languages() -> None:
    for path in ("/kontakt", "/contact-us", "/impressum", "/imprint", "/contactez-nous", "/contacto"):
        assert contact_score(f"https://a.test{path}") == 0, path
    for path in ("/legal", "/about", "/ueber-uns", "/over-ons", "/team", "/mentions-legales", "/datenschutz"):
        assert contact_score(f"https://a.test{path}") == 1, path
