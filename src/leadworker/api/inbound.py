"""Inbound webhooks: a CRM's contact event (HubSpot, GoHighLevel, Pipedrive...) becomes an ``inline`` job.

Sources are read from ``LEADWORKER_INBOUND_SOURCES``, a YAML (or JSON) file of ``name: {...}``::

    hubspot:
      secret: "a long random string"          # shared with the sender
      signature_header: X-HubSpot-Signature   # default X-Leadworker-Signature; hex HMAC-SHA256 of the raw
                                              #   body, "sha256=" in front allowed
      event_id: eventId                       # dotted path to the sender's event id (a repeat makes no job)
      records: contacts                       # optional dotted path to a list of records (else: the body)
      fields:                                 # lead field: dotted path inside a record
        company_name: properties.company
        emails: properties.email
        phones: properties.phone
        website: properties.website
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leadworker.contracts import LeadRecord
from leadworker.errors import UsageError

DEFAULT_SIGNATURE_HEADER = "X-Leadworker-Signature"


@dataclass(frozen=True)
class InboundSource:
    name: str
    secret: bytes
    signature_header: str
    event_id: str
    records: str | None
    fields: dict[str, str]

    def signed(self, body: bytes, signature: str | None) -> bool:
        if not signature:
            return False
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.strip().removeprefix("sha256=").lower())


def dig(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``properties.email``, ``contacts.0.id``), or None."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def records_of(source: InboundSource, body: Any) -> list[dict[str, Any]]:
    """The lead records an event carries, mapped to lead fields (empty values left out)."""
    found = dig(body, source.records) if source.records else body
    items = found if isinstance(found, list) else [found]
    records = []
    for item in items:
        record = {field: dig(item, path) for field, path in source.fields.items()}
        record = {k: v for k, v in record.items() if v not in (None, "", [])}
        if record:
            records.append(record)
    return records


def load_sources(path: Path | None) -> dict[str, InboundSource]:
    """The sources of the file at ``path`` (none if unset); raises :class:`UsageError` naming what is wrong."""
    if path is None:
        return {}
    try:
        raw = (
            yaml.safe_load(path.read_text(encoding="utf-8"))
            if path.suffix != ".json"
            else json.loads(path.read_text(encoding="utf-8"))
        )
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"LEADWORKER_INBOUND_SOURCES: cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"LEADWORKER_INBOUND_SOURCES: {path} must map source names to their settings")
    return {str(name): _source(path, str(name), spec) for name, spec in raw.items()}


def _source(path: Path, name: str, spec: Any) -> InboundSource:
    where = f"LEADWORKER_INBOUND_SOURCES: {path}: {name}"
    if not isinstance(spec, dict) or not isinstance(spec.get("secret"), str) or len(spec["secret"]) < 16:
        raise UsageError(f"{where}: 'secret' (at least 16 characters) is required")
    if not isinstance(spec.get("event_id"), str):
        raise UsageError(f"{where}: 'event_id' (the dotted path to the sender's event id) is required")
    fields = spec.get("fields")
    if not isinstance(fields, dict) or not fields or not all(isinstance(v, str) for v in fields.values()):
        raise UsageError(f"{where}: 'fields' must map lead fields to dotted paths")
    unknown = sorted(set(fields) - set(LeadRecord.model_fields))
    if unknown:
        raise UsageError(f"{where}: fields {unknown} are not lead fields")
    return InboundSource(
        name=name,
        secret=spec["secret"].encode(),
        event_id=spec["event_id"],
        signature_header=str(spec.get("signature_header") or DEFAULT_SIGNATURE_HEADER),
        records=spec.get("records"),
        fields={str(k): v for k, v in fields.items()},
    )
