"""Contact verification and geography without services: verdicts, the gazetteer (with the network blocked),
distances, the geocoder's answers, phones' carrier and place, the new settings."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from leadworker.common.geo import bounding_boxes, default_gazetteer, haversine_km, parse_near, place_country, place_key
from leadworker.config import Settings
from leadworker.enrich.geocode import PlaceInput, http_query, locate_offline, read_answer, search_endpoint
from leadworker.enrich.normalization import Phone, Rejected, normalize_phone
from leadworker.enrich.verify import MailDomain, is_disposable, verdict

MX = MailDomain("acme.com", "mx", ("mx1.acme.com",), 300)


@pytest.mark.parametrize(
    ("role", "disposable", "mail", "smtp", "status", "reason"),
    [
        (False, False, MX, None, "safe", "via MX"),
        (False, False, MailDomain("acme.com", "address", ("acme.com",)), None, "safe", "no MX"),
        (True, False, MX, None, "risky", "role address"),
        (False, True, MX, None, "invalid", "disposable"),
        (False, False, MailDomain("acme.com", "null_mx"), None, "invalid", "null MX"),
        (False, False, MailDomain("acme.com", "no_mail"), None, "invalid", "no mail servers"),
        (False, False, MailDomain("acme.com", "no_domain"), None, "invalid", "does not exist"),
        (False, False, MailDomain("acme.com", "unknown", error="timeout"), None, "unknown", "timeout"),
        (False, False, MailDomain("acme.com", "mx", ("mx.sedoparking.com",)), None, "risky", "parking"),
        (False, False, MX, "rejected", "invalid", "refused"),
        (False, False, MX, "accepted", "safe", "accepts the address"),
        (
            False,
            False,
            MailDomain("acme.com", "mx", ("mx1.acme.com",), catch_all=True),
            "accepted",
            "risky",
            "catch-all",
        ),
        (False, False, MX, "deferred", "safe", "via MX"),
    ],
)
def test_verdicts(role: bool, disposable: bool, mail: MailDomain, smtp: str | None, status: str, reason: str) -> None:
    result = verdict(role=role, disposable=disposable, mail=mail, smtp=smtp)
    assert result.status == status and reason in result.reason


def test_disposable_domains_come_from_the_list() -> None:
    assert is_disposable("mailinator.com") and is_disposable("sub.mailinator.com")
    assert not is_disposable("acme.com") and not is_disposable("gmail.com")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("muenchen", "DE"),
        ("München", "DE"),
        ("Munich", "DE"),
        ("chicago", "US"),
        ("new-york", "US"),
        ("New York", "US"),
        ("koeln", "DE"),
        ("zuerich", "CH"),
        ("wien", "AT"),
        ("sao-paulo", "BR"),
        ("Deutschland", "DE"),
        ("GB", "GB"),
        ("no-such-place-xyz", None),
        ("", None),
        ("Portland, US", "US"),
        ("Hamburg, Deutschland", "DE"),
        ("Lyon, somewhere", "FR"),
    ],
)
def test_place_country_reads_places_and_slugs(no_network: None, text: str, country: str | None) -> None:
    assert place_country(text) == country


def test_offline_geocoding_with_the_network_blocked(no_network: None) -> None:
    berlin = locate_offline(default_gazetteer(), PlaceInput(country="DE", city="Berlin"))
    assert berlin is not None and berlin.precision == "city" and berlin.source == "geonames"
    assert haversine_km(berlin.latitude, berlin.longitude, 52.52, 13.405) < 25
    # Namesakes: the country decides, then the region (a US state by name or code).
    assert locate_offline(default_gazetteer(), PlaceInput(country="CA", city="London")) is not None
    springfield = default_gazetteer().locate("Springfield", "US", "Illinois")
    assert springfield is not None and springfield.admin1 == "IL"
    maine = default_gazetteer().locate("Portland", "US", "ME")
    assert maine is not None and haversine_km(maine.latitude, maine.longitude, 43.66, -70.26) < 25
    assert locate_offline(default_gazetteer(), PlaceInput(country=None, city="Berlin")) is None
    assert locate_offline(default_gazetteer(), PlaceInput(country="DE", city="Nowhere-Am-See")) is None


def test_place_key() -> None:
    assert place_key("  New-York ") == "new york" and place_key("São_Paulo") == "sao paulo"


def test_distances_and_boxes() -> None:
    assert haversine_km(52.52, 13.405, 48.137, 11.575) == pytest.approx(504, abs=2)
    (box,) = bounding_boxes(52.52, 13.405, 25)
    west, south, east, north = box
    assert west < 13.405 < east and south < 52.52 < north
    # A point 24.9 km due east lies inside the box.
    assert haversine_km(52.52, 13.405, 52.52, 13.405 + 24.9 / 67.8) < 25 and east > 13.405 + 24.9 / 67.8
    across = bounding_boxes(-17.0, 179.9, 50)  # Fiji: the circle crosses the antimeridian
    assert len(across) == 2 and across[0][2] == 180.0 and across[1][0] == -180.0
    assert bounding_boxes(89.9, 0, 50) == [(-180.0, bounding_boxes(89.9, 0, 50)[0][1], 180.0, 90.0)]


@pytest.mark.parametrize("bad", ["", "52.5", "a,b", "91,0", "0,181", "nan,0", "1,2,3"])
def test_parse_near_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_near(bad)


def test_parse_near() -> None:
    assert parse_near(" 52.52 , 13.405 ") == (52.52, 13.405)


def test_geocoder_queries_and_answers() -> None:
    assert http_query(PlaceInput(country="DE", city="Berlin")) is None  # the gazetteer does as well
    street = http_query(PlaceInput(country="DE", city="Berlin", postal_code="10117", address="Unter den Linden 1"))
    assert street is not None and street["q"] == "Unter den Linden 1, 10117, Berlin" and street["countrycodes"] == "de"
    postcode = http_query(PlaceInput(country="DE", postal_code="10117"))
    assert postcode is not None and postcode["postalcode"] == "10117" and "q" not in postcode
    answer = [{"lat": "52.517", "lon": "13.388", "place_rank": 30, "display_name": "Unter den Linden 1"}]
    found = read_answer(answer, street, "geocoder:x")
    assert found is not None and found.precision == "street" and found.latitude == 52.517
    town = read_answer([{"lat": "52.5", "lon": "13.4", "place_rank": 16}], street, "geocoder:x")
    assert town is not None and town.precision == "city"
    by_code = read_answer([{"lat": "52.5", "lon": "13.4", "place_rank": 21}], postcode, "geocoder:x")
    assert by_code is not None and by_code.precision == "postcode"
    assert read_answer([], street, "x") is None and read_answer({"error": 1}, street, "x") is None
    assert read_answer([{"lat": "999", "lon": "0"}], street, "x") is None
    assert search_endpoint("https://geo.example/") == "https://geo.example/search"
    assert search_endpoint("https://geo.example/nominatim/search") == "https://geo.example/nominatim/search"


def test_phones_carry_carrier_and_place() -> None:
    mobile = normalize_phone("+49 151 23456789", [])
    assert isinstance(mobile, Phone) and mobile.type == "mobile" and mobile.carrier == "T-Mobile"
    fixed = normalize_phone("030 1234567", [("country", "DE")])
    assert isinstance(fixed, Phone) and fixed.place == "Berlin" and fixed.carrier is None
    assert fixed.detail()["valid"] is True and fixed.detail()["place"] == "Berlin"
    possible = normalize_phone("+1 200 555 0100", [])  # right length, area code 200 is unassigned
    assert isinstance(possible, Rejected) and "(possible" in possible.reason
    impossible = normalize_phone("+1 650 253 00001", [])  # one digit too many
    assert isinstance(impossible, Rejected) and "not possible" in impossible.reason


def test_settings_read_dns_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADWORKER_DNS_SERVERS", "127.0.0.1:5353, 10.0.0.2, [::1]:53")
    cfg = Settings(_env_file=None)  # type: ignore[call-arg]
    assert cfg.dns_servers == ["127.0.0.1:5353", "10.0.0.2:53", "[::1]:53"]
    assert cfg.verify_emails is True and cfg.smtp_probe is False and cfg.geocoder_url is None
    for bad in ("dns.example:53", "127.0.0.1:99999", "127.0.0.1:x"):
        monkeypatch.setenv("LEADWORKER_DNS_SERVERS", bad)
        with pytest.raises(ValueError, match="DNS server"):
            Settings(_env_file=None)  # type: ignore[call-arg]
