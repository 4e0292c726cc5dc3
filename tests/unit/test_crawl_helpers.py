from leadworker.common.domains import registrable_domain
from leadworker.scrape.crawl import canonical_url, contact_score, path_allowed, site_key, target_site


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


def test_a_bare_addresses_other_port_is_another_site_and_its_own_port_is_not() -> None:
    """A crawl stays on its site: at a bare address another port may be another business (and the scheme's own
    port, written or not, is the same site); named sites are their identity whatever the port."""
    assert site_key("http://127.0.0.1:8001/a") != site_key("http://127.0.0.1:8002/a")
    assert site_key("http://127.0.0.1:8001/") == site_key("http://127.0.0.1:8001/contact")
    assert site_key("http://203.0.113.5:80/") == site_key("http://203.0.113.5/")
    assert site_key("https://203.0.113.5:443/") == site_key("https://203.0.113.5/")
    assert site_key("http://[2001:db8::1]:8080/") != site_key("http://[2001:db8::1]/")
    assert site_key("https://www.acme.de:8443/") == site_key("https://acme.de/")
    assert target_site("http://203.0.113.5/~acme/") != target_site("http://203.0.113.5:8080/~acme/")
