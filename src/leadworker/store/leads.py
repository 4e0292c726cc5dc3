"""Raw leads: preparing a job's records for the one-statement dedupe insert, and reading them back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from leadworker.contracts import LeadRecord
from leadworker.store.fingerprint import content_hash
from leadworker.store.pool import Database


@dataclass
class PreparedLeads:
    """A job's distinct records as the parallel arrays ``complete_job`` unnests."""

    hashes: list[bytes] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    source_types: list[str] = field(default_factory=list)
    source_urls: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hashes)


def prepare_leads(found: Iterable[tuple[str, LeadRecord]]) -> PreparedLeads:
    """Hash ``(source_type, record)`` pairs and drop records that repeat within the job."""
    prepared = PreparedLeads()
    seen: set[bytes] = set()
    for source_type, record in found:
        digest = content_hash(record)
        if digest in seen:
            continue
        seen.add(digest)
        prepared.hashes.append(digest)
        prepared.records.append(record.model_dump_json(exclude_defaults=True))
        prepared.source_types.append(source_type)
        prepared.source_urls.append(record.source_url)
    return prepared


async def job_leads(db: Database, job_id: uuid.UUID) -> list[dict[str, object]]:
    """Every raw lead linked to a job, new or not, oldest first."""
    rows = await db.fetch(
        """
        SELECT r.id, r.source_type, r.source_url, r.record, l.is_new, r.created_at
          FROM scrape_job_leads l
          JOIN raw_leads r ON r.id = l.raw_lead_id
         WHERE l.job_id = $1
         ORDER BY r.id
        """,
        job_id,
    )
    return [dict(r) for r in rows]
