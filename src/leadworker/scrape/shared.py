"""Evidence across sites: an e-mail or phone that several unrelated company sites show is a vendor's.

A booking platform's help line, a hosting company's support address, an agency's studio number: a contact
that :data:`SHARED_DOMAINS` or more registrable domains show belongs to none of them. Each site of a job and
each site stored before are counted (``shared_contacts``, see :mod:`leadworker.store.shared_contacts`); a
contact that reaches the count is moved from the lead's e-mails or phones to its ``third_party`` with the
reason ``shared``. An address on the lead's own domain is never moved. Sites stored before the count was
reached keep what they had until they are scraped again.
"""

from __future__ import annotations

from collections.abc import Mapping

from leadworker.common.domains import registrable_domain
from leadworker.contracts import LeadRecord, ThirdPartyContact
from leadworker.store.pool import Database
from leadworker.store.shared_contacts import record_and_count

SHARED_DOMAINS = 3
"""Distinct registrable domains that make a contact a vendor's. Two sites may share a number for good reasons
(a franchise's call centre, a family's two businesses); three unrelated ones rarely do."""


def sightings(records: list[tuple[str, LeadRecord]]) -> list[tuple[str, str, str]]:
    """``(kind, value, domain)`` of every contact, the company's and someone else's, of the website leads."""
    seen: list[tuple[str, str, str]] = []
    for source, record in records:
        domain = record.attributes.get("domain")
        if source != "website" or not isinstance(domain, str):
            continue
        seen += [("email", email, domain) for email in record.emails]
        seen += [("phone", phone, domain) for phone in record.phones]
        seen += [(third.kind, third.value, domain) for third in record.third_party]
    return seen


def move_shared(
    records: list[tuple[str, LeadRecord]], domains: Mapping[tuple[str, str], int], threshold: int = SHARED_DOMAINS
) -> list[tuple[str, LeadRecord]]:
    """The records with every contact that ``threshold`` or more domains show moved to ``third_party``."""
    moved: list[tuple[str, LeadRecord]] = []
    for source, record in records:
        domain = record.attributes.get("domain")
        shared = (
            []
            if source != "website"
            else [
                (kind, value)
                for kind, values in (("email", record.emails), ("phone", record.phones))
                for value in values
                if domains.get((kind, value), 0) >= threshold
                and not (kind == "email" and registrable_domain(value.split("@")[1]) == domain)
            ]
        )
        if not shared:
            moved.append((source, record))
            continue
        gone = {value for _, value in shared}
        others = [
            ThirdPartyContact(
                value=value,
                kind="email" if kind == "email" else "phone",
                reason="shared",
                context=f"shown by {domains[(kind, value)]} unrelated sites",
                url=record.evidence.get(value),
            )
            for kind, value in shared
        ]
        moved.append(
            (
                source,
                record.model_copy(
                    update={
                        "emails": [e for e in record.emails if e not in gone],
                        "phones": [p for p in record.phones if p not in gone],
                        "evidence": {k: v for k, v in record.evidence.items() if k not in gone},
                        "third_party": record.third_party + others,
                    }
                ),
            )
        )
    return moved


async def apply_shared(db: Database, records: list[tuple[str, LeadRecord]]) -> list[tuple[str, LeadRecord]]:
    """Record the contacts of ``records`` and move the ones several sites show to ``third_party``."""
    seen = sightings(records)
    if not seen:
        return records
    return move_shared(records, await record_and_count(db, seen))
