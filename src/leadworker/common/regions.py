"""Region hints for phone parsing: a job's geography, a site's country TLD, a page's language."""

from __future__ import annotations

import re

import phonenumbers

SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)

# Country names as people write them in a job's geography (English and local names), to ISO 3166 codes.
_COUNTRY_NAMES = {
    "united states": "US",
    "usa": "US",
    "us": "US",
    "america": "US",
    "united states of america": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "britain": "GB",
    "germany": "DE",
    "deutschland": "DE",
    "austria": "AT",
    "österreich": "AT",
    "switzerland": "CH",
    "schweiz": "CH",
    "suisse": "CH",
    "france": "FR",
    "spain": "ES",
    "españa": "ES",
    "italy": "IT",
    "italia": "IT",
    "netherlands": "NL",
    "the netherlands": "NL",
    "holland": "NL",
    "nederland": "NL",
    "belgium": "BE",
    "belgique": "BE",
    "belgië": "BE",
    "luxembourg": "LU",
    "ireland": "IE",
    "portugal": "PT",
    "denmark": "DK",
    "danmark": "DK",
    "sweden": "SE",
    "sverige": "SE",
    "norway": "NO",
    "norge": "NO",
    "finland": "FI",
    "suomi": "FI",
    "iceland": "IS",
    "poland": "PL",
    "polska": "PL",
    "czechia": "CZ",
    "czech republic": "CZ",
    "slovakia": "SK",
    "hungary": "HU",
    "romania": "RO",
    "bulgaria": "BG",
    "greece": "GR",
    "croatia": "HR",
    "slovenia": "SI",
    "serbia": "RS",
    "ukraine": "UA",
    "turkey": "TR",
    "türkiye": "TR",
    "israel": "IL",
    "united arab emirates": "AE",
    "uae": "AE",
    "saudi arabia": "SA",
    "egypt": "EG",
    "south africa": "ZA",
    "nigeria": "NG",
    "kenya": "KE",
    "morocco": "MA",
    "india": "IN",
    "pakistan": "PK",
    "bangladesh": "BD",
    "china": "CN",
    "japan": "JP",
    "south korea": "KR",
    "korea": "KR",
    "taiwan": "TW",
    "hong kong": "HK",
    "singapore": "SG",
    "malaysia": "MY",
    "indonesia": "ID",
    "thailand": "TH",
    "vietnam": "VN",
    "philippines": "PH",
    "australia": "AU",
    "new zealand": "NZ",
    "canada": "CA",
    "mexico": "MX",
    "méxico": "MX",
    "brazil": "BR",
    "brasil": "BR",
    "argentina": "AR",
    "chile": "CL",
    "colombia": "CO",
    "peru": "PE",
    "russia": "RU",
    "estonia": "EE",
    "latvia": "LV",
    "lithuania": "LT",
    "malta": "MT",
    "cyprus": "CY",
}

# Country-code TLDs whose ISO code differs.
_TLD_REGIONS = {"uk": "GB"}

_SPLIT = re.compile(r"[,;/|()]+")


def split_geography(text: str) -> list[str]:
    """The parts of a free-text place (``12 Oak St, 80331 München; Germany`` → three parts)."""
    return [p.strip() for p in _SPLIT.split(text) if p.strip()]


def region_from_geography(geography: str | None) -> str | None:
    """``"Berlin, Germany"`` → ``DE``; ``"GB"`` → ``GB``; the last recognisable part wins."""
    if not geography:
        return None
    parts = [p.strip() for p in _SPLIT.split(geography) if p.strip()]
    for part in reversed(parts):
        code = region_from_name(part)
        if code:
            return code
    return None


def region_from_name(name: str) -> str | None:
    """A country name or ISO code to a region phonenumbers knows."""
    text = name.strip()
    if len(text) == 2 and text.upper() in SUPPORTED_REGIONS:
        return text.upper()
    code = _COUNTRY_NAMES.get(text.casefold())
    return code if code in SUPPORTED_REGIONS else None


def region_from_tld(tld: str | None) -> str | None:
    if not tld:
        return None
    code = _TLD_REGIONS.get(tld.lower(), tld.upper())
    return code if code in SUPPORTED_REGIONS else None


def region_from_lang(lang: str | None) -> str | None:
    """``de-AT`` → ``AT``; a bare language gives nothing (``en`` is spoken everywhere)."""
    if not lang:
        return None
    parts = re.split(r"[-_]", lang.strip())
    if len(parts) >= 2 and parts[1].upper() in SUPPORTED_REGIONS:
        return parts[1].upper()
    return None
