"""Site identity: whose site a URL is, where a shared platform (a Facebook page, a Shopify store, a Wix site)
is never the business, and the merge keys that follow from it."""

from __future__ import annotations

import pytest

from leadworker.common.domains import registrable_domain, same_site, site_identity, site_label, site_of
from leadworker.contracts import LeadRecord
from leadworker.enrich.matching import plan_merge
from leadworker.enrich.normalization import normalize_record, normalize_website


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        # a company's own domain: its registrable domain, as before
        ("https://shop.Acme.co.uk/about?x=1", "acme.co.uk"),
        ("http://acme-plumbing.test:8080/", "acme-plumbing.test"),
        # hosting platforms of the public suffix list's private section, and the few it lacks
        ("https://bondi-blooms.myshopify.com/products/roses", "bondi-blooms.myshopify.com"),
        ("https://www.bondi-blooms.myshopify.com/", "bondi-blooms.myshopify.com"),
        ("https://acme.square.site/", "acme.square.site"),
        ("https://acme.blogspot.com/2024/01/news.html", "acme.blogspot.com"),
        ("https://acme.github.io/", "acme.github.io"),
        ("https://acme.netlify.app/contact", "acme.netlify.app"),
        ("https://acme-joinery.business.site/", "acme-joinery.business.site"),
        ("https://acme.godaddysites.com/", "acme.godaddysites.com"),
        ("https://acme.wordpress.com/about/", "acme.wordpress.com"),
        # platforms whose path names the page
        ("https://www.facebook.com/bondiblooms", "facebook.com/bondiblooms"),
        ("https://www.facebook.com/profile.php?id=100064&sk=about", "facebook.com/profile.php?id=100064"),
        ("https://www.facebook.com/pages/Bondi-Blooms/12345", "facebook.com/pages/bondi-blooms"),
        ("https://www.instagram.com/bondi.blooms/", "instagram.com/bondi.blooms"),
        ("https://linktr.ee/bondiblooms", "linktr.ee/bondiblooms"),
        ("https://twitter.com/BondiBlooms", "x.com/bondiblooms"),
        ("https://x.com/bondiblooms/status/1", "x.com/bondiblooms"),
        ("https://www.tiktok.com/@bondiblooms", "tiktok.com/@bondiblooms"),
        ("https://www.linkedin.com/company/bondi-blooms/about/", "linkedin.com/company/bondi-blooms"),
        ("https://www.youtube.com/@bondiblooms/videos", "youtube.com/@bondiblooms"),
        ("https://sites.google.com/view/acme-joinery/home", "sites.google.com/view/acme-joinery"),
        ("https://jane.wixsite.com/bakery/contact", "jane.wixsite.com/bakery"),
        ("https://www.yelp.com/biz/bondi-blooms-sydney", "yelp.com/biz/bondi-blooms-sydney"),
        # nothing names a business: a platform's own pages, no public suffix
        ("https://www.facebook.com/", None),
        ("https://www.facebook.com/sharer.php?u=https://acme.com", None),
        ("https://www.instagram.com/p/Cx1/", None),
        ("https://www.tiktok.com/explore", None),
        ("https://www.linkedin.com/feed/", None),
        ("http://192.0.2.1/", None),
        ("ftp://acme.com/", None),
    ],
)
def test_site_identity(url: str, identity: str | None) -> None:
    assert site_identity(url) == identity


def test_variants_of_one_page_are_one_site_and_two_pages_are_two() -> None:
    variants = [
        "https://www.facebook.com/BondiBlooms",
        "http://m.facebook.com/bondiblooms/",
        "https://facebook.com/bondiblooms?ref=page_internal",
        "facebook.com/bondiblooms#about",
        "https://web.facebook.com/bondiblooms/photos",
        "http://www.facebook.com:8080/bondiblooms",
    ]
    assert {site_identity(v) for v in variants} == {"facebook.com/bondiblooms"}
    assert all(same_site(variants[0], v) for v in variants)
    assert not same_site("https://www.facebook.com/bondiblooms", "https://www.facebook.com/harbourbakes")
    assert not same_site("https://a.myshopify.com/", "https://b.myshopify.com/")
    assert not same_site("https://jane.wixsite.com/bakery", "https://jane.wixsite.com/florist")
    assert same_site("https://www.acme.com/", "https://shop.acme.com/cart")
    assert same_site("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b")
    assert not same_site("http://127.0.0.1:8080/a", "http://127.0.0.1:9090/a")
    # the owner of the DNS name is still what e-mail domains are read with
    assert registrable_domain("bondi.myshopify.com") == "myshopify.com"


def test_the_website_keeps_the_path_that_names_the_page() -> None:
    assert normalize_website("https://m.facebook.com/BondiBlooms/?ref=x") == (
        "https://m.facebook.com/BondiBlooms",
        "facebook.com/bondiblooms",
    )
    assert normalize_website("https://jane.wixsite.com/bakery/contact") == (
        "https://jane.wixsite.com/bakery",
        "jane.wixsite.com/bakery",
    )
    assert normalize_website("https://bondi.myshopify.com/products/x") == (
        "https://bondi.myshopify.com/",
        "bondi.myshopify.com",
    )
    assert normalize_website("https://www.facebook.com/") == (None, None)
    site = site_of("https://www.facebook.com/bondiblooms")
    assert site is not None and site_label(site.identity or "") == "bondiblooms"
    assert site_label("bondi.myshopify.com") == "bondi" and site_label("acme.co.uk") == "acme"


def test_a_platform_home_page_is_no_website_and_says_why() -> None:
    lead = normalize_record(
        LeadRecord(company_name="Bondi Blooms", website="https://www.facebook.com/", phones=["+61 2 9130 1234"])
    )
    assert lead.website is None and lead.domain is None and lead.keys() == [("phone", "+61291301234")]
    assert [r.field for r in lead.rejected] == ["website"] and "platform" in lead.rejected[0].reason


def test_businesses_on_one_platform_never_merge_by_domain() -> None:
    first = normalize_record(LeadRecord(company_name="Bondi Blooms", website="https://www.facebook.com/bondiblooms"))
    second = normalize_record(LeadRecord(company_name="Harbour Bakes", website="https://www.facebook.com/harbourbakes"))
    assert first.keys() == [("domain", "facebook.com/bondiblooms")]
    owners = dict.fromkeys(first.keys(), 1)
    plan = plan_merge(second.domain, second.keys(), owners, {1: first.domain})
    assert plan.target is None and plan.claim == (("domain", "facebook.com/harbourbakes"),)
    again = normalize_record(
        LeadRecord(company_name="Bondi Blooms Florist", website="http://m.facebook.com/BondiBlooms/?ref=page_internal")
    )
    assert plan_merge(again.domain, again.keys(), owners, {1: first.domain}).target == 1
    shops = [normalize_record(LeadRecord(company_name=n, website=f"https://{n}.myshopify.com/")) for n in "ab"]
    assert shops[0].domain != shops[1].domain


def test_an_email_domain_is_never_a_match_key() -> None:
    # Two businesses writing from the same free-mail or platform domain are not one company for it.
    one = normalize_record(
        LeadRecord(
            company_name="Bondi Blooms",
            emails=["bondiblooms@gmail.com"],
            website="https://www.facebook.com/bondiblooms",
        )
    )
    two = normalize_record(LeadRecord(company_name="Harbour Bakes", emails=["harbourbakes@gmail.com"]))
    three = normalize_record(LeadRecord(company_name="Cake Co", emails=["orders@cakeco.myshopify.com"]))
    for lead in (one, two, three):
        keys = lead.keys()
        domains = [value for kind, value in keys if kind == "domain"]
        assert "gmail.com" not in domains and "myshopify.com" not in domains
        assert not any(d.startswith("cakeco") for d in domains)
    owners = dict.fromkeys(one.keys(), 1)
    assert plan_merge(two.domain, two.keys(), owners, {1: one.domain}).target is None
