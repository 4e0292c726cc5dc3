"""Normalization of raw leads: phones, e-mails, websites, names, addresses, country; offline."""

from __future__ import annotations

import importlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from leadworker.contracts import LeadRecord
from leadworker.enrich.normalization import (
    Email,
    Phone,
    Rejected,
    clean_company_name,
    normalize_email,
    normalize_phone,
    normalize_record,
    normalize_website,
    tidy_address,
)


def test_phones_become_e164_with_type_region_and_time_zones() -> None:
    mobile = normalize_phone("+49 151 12345678", [])
    assert isinstance(mobile, Phone)
    assert (mobile.e164, mobile.type, mobile.region, mobile.hint) == ("+4915112345678", "mobile", "DE", "+cc")
    assert mobile.time_zones == ("Europe/Berlin",)
    fixed = normalize_phone("020 7946 0000", [("tld", "GB")])
    assert isinstance(fixed, Phone) and (fixed.e164, fixed.type, fixed.hint) == ("+442079460000", "fixed_line", "tld")
    toll_free = normalize_phone("tel:0800 123 4567", [("geography", "GB")])
    assert isinstance(toll_free, Phone) and toll_free.type == "toll_free"
    us = normalize_phone("(503) 555-0142", [("geography", "US")])
    assert isinstance(us, Phone) and us.e164 == "+15035550142" and us.time_zones == ("America/Los_Angeles",)
    assert isinstance(normalize_phone("0049 40 30708090", []), Phone)  # 00 is read as +


def test_region_hints_are_tried_in_order_and_cc_wins() -> None:
    # valid in DE: the first hint under which the number is valid decides
    phone = normalize_phone("040 30 70 80 90", [("country", "US"), ("tld", "DE"), ("geography", "GB")])
    assert isinstance(phone, Phone) and phone.e164 == "+494030708090" and phone.hint == "tld"
    # a +CC number ignores the hints
    phone = normalize_phone("+44 20 7946 0000", [("country", "DE")])
    assert isinstance(phone, Phone) and phone.region == "GB"


def test_invalid_phones_are_rejected_with_a_reason() -> None:
    for raw, hints, reason in [
        ("12345", [("country", "DE")], "not a valid number for DE"),
        ("030 1234", [], "no region"),
        ("call us", [("country", "DE")], "no digits"),
        ("+1 555", [], "its country code"),
    ]:
        result = normalize_phone(raw, hints)
        assert isinstance(result, Rejected), raw
        assert reason in result.reason, (raw, result.reason)


def test_emails_are_lower_cased_checked_and_flagged() -> None:
    email = normalize_email("  mailto:Info@ACME-Plumbing.co.uk ")
    assert isinstance(email, Email)
    assert (email.address, email.role, email.free, email.domain) == (
        "info@acme-plumbing.co.uk",
        True,
        False,
        "acme-plumbing.co.uk",
    )
    person = normalize_email("Maria.Lopez@gmail.com")
    assert isinstance(person, Email) and not person.role and person.free
    assert isinstance(normalize_email("customer-service@shop.de"), Email)
    assert normalize_email("customer-service@shop.de").role  # type: ignore[union-attr]
    assert normalize_email("office@acme.test").domain == "acme.test"  # type: ignore[union-attr]
    for bad in ("not-an-email", "a@@b.com", "x@localhost", "x@host.invalid", "x@nodot"):
        assert isinstance(normalize_email(bad), Rejected), bad


def test_websites_reduce_to_registrable_domains() -> None:
    assert normalize_website("https://shop.Acme.co.uk/about?x=1") == ("https://shop.acme.co.uk/", "acme.co.uk")
    assert normalize_website("www.acme.com") == ("http://www.acme.com/", "acme.com")
    assert normalize_website("http://acme-plumbing.test:8080/") == (
        "http://acme-plumbing.test:8080/",
        "acme-plumbing.test",
    )
    assert normalize_website("http://192.0.2.1/") == ("http://192.0.2.1/", None)
    assert normalize_website("ftp://acme.com/") == (None, None)


@pytest.mark.parametrize(
    ("raw", "name", "legal_form"),
    [
        ("ACME PLUMBING LLC", "Acme Plumbing LLC", "LLC"),
        ("  Nordlicht   Solar GmbH ", "Nordlicht Solar GmbH", "GmbH"),
        ("brightsmile dental pty. ltd.", "Brightsmile Dental Pty Ltd", "Pty Ltd"),
        ("Acme, Inc.", "Acme Inc.", "Inc."),
        ("Müller GmbH & Co. KG", "Müller GmbH & Co. KG", "GmbH & Co. KG"),
        ("Tallinn Tech OÜ", "Tallinn Tech OÜ", "OÜ"),
        ("Hansen A/S", "Hansen A/S", "A/S"),
        ("Smith & Co. Limited", "Smith & Co. Ltd", "Ltd"),
        ("Smith & Co", "Smith & Co", None),
        ("IBM", "IBM", None),
        ("McDonald's", "McDonald's", None),
        ("THE HOUSE OF TEA", "The House of Tea", None),
    ],
)
def test_company_names(raw: str, name: str, legal_form: str | None) -> None:
    cleaned = clean_company_name(raw)
    assert cleaned is not None
    assert (cleaned.name, cleaned.legal_form) == (name, legal_form)


def test_match_key_ignores_case_accents_and_legal_form() -> None:
    a, b = clean_company_name("Müller Bau GmbH"), clean_company_name("MULLER BAU")
    assert a is not None and b is not None and a.match_key == b.match_key == "muller bau"


def test_addresses_are_tidied() -> None:
    assert tidy_address(" Hafenstraße 1 ,\n\n20457  Hamburg,, Germany. ") == "Hafenstraße 1, 20457 Hamburg, Germany."
    assert tidy_address(" , ") is None


def test_record_country_inference_and_counts() -> None:
    record = LeadRecord(
        company_name="NORDLICHT SOLAR GMBH",
        website="https://www.nordlicht-solar.de/kontakt",
        emails=["Vertrieb@Nordlicht-Solar.de", "broken@", "vertrieb@nordlicht-solar.de"],
        phones=["040 30 70 80 90", "+49 40 30708090", "12345"],
        address="Hafenstraße 1, 20457 Hamburg",
        city="HAMBURG",
        categories=["Solar", "solar", "Photovoltaik"],
        socials={"LinkedIn": "https://li.test/n"},
    )
    lead = normalize_record(record, geography="Portland, US")
    assert lead.domain == "nordlicht-solar.de"
    assert [e.address for e in lead.emails] == ["vertrieb@nordlicht-solar.de"]
    assert [p.e164 for p in lead.phones] == ["+494030708090"]  # read with the .de hint, not the job's US
    assert lead.phones[0].hint == "tld"
    assert lead.invalid_count("phone") == 1 and lead.invalid_count("email") == 1
    assert (lead.country, lead.country_source) == ("DE", "phone")
    assert lead.city == "Hamburg" and lead.categories == ["Solar", "Photovoltaik"]
    assert lead.socials == {"linkedin": "https://li.test/n"}
    assert lead.keys()[0] == ("domain", "nordlicht-solar.de")
    summary = lead.summary()
    assert summary["invalid_phones"] == 1 and summary["rejected"][0]["field"] == "email"

    stated = normalize_record(LeadRecord(company_name="X", country="Deutschland", phones=["030 1234567"]))
    assert (stated.country, stated.country_source) == ("DE", "record") and stated.phones[0].region == "DE"
    guessed = normalize_record(LeadRecord(company_name="Y"), geography="Berlin, Germany")
    assert (guessed.country, guessed.country_source) == ("DE", "geography")


def test_a_record_with_nothing_usable_is_unusable() -> None:
    lead = normalize_record(LeadRecord(emails=["not an email"], phones=["12"]))
    assert lead.unusable_reason is not None and "not an email" in lead.unusable_reason
    assert normalize_record(LeadRecord(company_name="Only A Name")).unusable_reason is None


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every way Python opens a connection or resolves a name fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkUsed(f"network used: {args[:2]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket.socket, "sendto", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    monkeypatch.setattr(socket, "gethostbyname_ex", refuse)
    yield


def test_normalization_touches_no_network(no_network: None) -> None:
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))  # the guard works
    import leadworker.common.domains

    # A fresh extractor, so that the public suffix list is loaded now, with the network blocked.
    importlib.reload(leadworker.common.domains)
    records = [
        LeadRecord(
            company_name="Acme Ltd",
            website="https://www.acme.co.uk/",
            emails=["Sales@Acme.co.uk"],
            phones=["020 7946 0000"],
        ),
        LeadRecord(
            company_name="Kyoto KK", website="kyoto-shop.jp", emails=["info@kyoto-shop.jp"], phones=["+81 3-1234-5678"]
        ),
        LeadRecord(company_name="New TLD", website="https://brand.photography/", emails=["hi@brand.photography"]),
        LeadRecord(company_name="Unicode", website="https://bücher.de/", emails=["kontakt@bücher.de"]),
        LeadRecord(company_name="Private suffix", website="https://mysite.github.io/", emails=["me@gmail.com"]),
    ]
    leads = [normalize_record(r, geography="London, UK") for r in records]
    # a site on a hosting platform of the list's private section is its own (issue #11), not github.io's
    assert [lead.domain for lead in leads] == [
        "acme.co.uk",
        "kyoto-shop.jp",
        "brand.photography",
        "bücher.de",
        "mysite.github.io",
    ]
    assert all(lead.emails for lead in leads)
    assert leads[0].phones[0].e164 == "+442079460000"
    assert leads[4].emails[0].free
