"""The enrichment baseline: a plain loop over leads calling the libraries directly, no database, no queue.

Per lead: each phone parsed with phonenumbers (region from the record's country), validated, formatted as
E.164, typed, its time zones looked up; each e-mail checked with email-validator (no DNS); the website reduced
to its registrable domain with tldextract (bundled suffix list). This is the floor of the work the normalize
stage does; the score stage adds comparatively little on top.
"""

from __future__ import annotations

import time
from typing import Any

import phonenumbers
import tldextract
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezones

_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def enrich(lead: dict[str, Any]) -> dict[str, Any]:
    region = lead.get("country") or "US"
    phones = []
    for raw in lead.get("phones", []):
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        phones.append(
            (
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                phonenumbers.number_type(number),
                phone_timezones.time_zones_for_number(number),
            )
        )
    emails = []
    for raw in lead.get("emails", []):
        try:
            emails.append(validate_email(raw, check_deliverability=False).normalized)
        except EmailNotValidError:
            continue
    website = lead.get("website")
    domain = None
    if website:
        parts = _extract(website)
        domain = f"{parts.domain}.{parts.suffix}" if parts.suffix else None
    return {"phones": phones, "emails": emails, "domain": domain}


def run(leads: list[dict[str, Any]]) -> float:
    """Leads per second of the plain loop over ``leads``."""
    started = time.perf_counter()
    for lead in leads:
        enrich(lead)
    return len(leads) / (time.perf_counter() - started)
