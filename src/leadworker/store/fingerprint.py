"""The identity of a raw lead: which fields make two records "the same record", and their SHA-256.

Only what identifies the record counts: names, web and postal addresses, e-mails, phones and social
profiles, each in a canonical form (case, whitespace and order do not matter). Timestamps, job ids, the page a
value was found on and free text such as descriptions do not: the same company scraped twice is one raw lead.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

from leadworker.contracts import LeadRecord

_PHONE_KEEP = re.compile(r"[^\d+]")


def _text(value: str | None) -> str:
    return " ".join(value.split()).casefold() if value else ""


def _host(value: str | None) -> str:
    if not value:
        return ""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        host = (urlsplit(text).hostname or "").lower().rstrip(".")
    except ValueError:
        return _text(value)
    return host[4:] if host.startswith("www.") else host


def _phone(value: str) -> str:
    return _PHONE_KEEP.sub("", value)


def identity(record: LeadRecord) -> dict[str, Any]:
    """The canonical identity fields of ``record``."""
    return {
        "company_name": _text(record.company_name),
        "website": _host(record.website),
        "emails": sorted({e.strip().lower() for e in record.emails if e.strip()}),
        "phones": sorted({p for p in (_phone(x) for x in record.phones) if p}),
        "address": _text(record.address),
        "postal_code": _text(record.postal_code),
        "city": _text(record.city),
        "country": _text(record.country),
        "socials": sorted({v.strip().lower().rstrip("/") for v in record.socials.values() if v.strip()}),
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(record: LeadRecord) -> bytes:
    """SHA-256 (32 bytes) of the canonical JSON of the record's identity."""
    return hashlib.sha256(canonical_json(identity(record)).encode("utf-8")).digest()
