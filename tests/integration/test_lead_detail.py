"""``lead_detail``: one lead with everything known about it, read in one statement, with the types its columns
give (the lists come back from the database as JSON and are turned back into timestamps and UUIDs)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from string import Template
from typing import Any

from leadworker.store.lead_export import lead_detail
from leadworker.store.pool import Database

JOB_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
JOB_B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
T = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


_SEED = """
INSERT INTO scrape_jobs (id, status) VALUES ($job_a, 'completed'), ($job_b, 'completed');
INSERT INTO raw_leads (id, content_hash, source_type, source_url, record)
VALUES (1, sha256('1'), 'website', 'https://a.example/contact', '{}'), (2, sha256('2'), 'directory', NULL, '{}'),
       (3, sha256('3'), 'website', 'https://c.example/', '{}');
INSERT INTO scrape_job_leads (job_id, raw_lead_id, is_new)
VALUES ($job_b, 1, true), ($job_a, 1, false), ($job_a, 2, true);
INSERT INTO leads (id, company_name, domain, emails, phones, score, segment, score_components, score_job_id, scored_at)
VALUES (10, 'Acme Ltd', 'acme.example', '{info@acme.example}', '{+15550001}', 70, 'hot', '{"rule": 70}', $job_b, $t0),
       (11, 'Acme Limited', NULL, '{}', '{}', NULL, NULL, NULL, NULL, NULL),
       (12, 'Other Co', 'other.example', '{}', '{}', NULL, NULL, NULL, NULL, NULL);
UPDATE leads SET merged_into = 10 WHERE id = 11;
INSERT INTO lead_sources (raw_lead_id, lead_id, linked_at) VALUES (2, 10, $t5), (1, 10, $t0), (3, 12, $t0);
INSERT INTO lead_values (id, lead_id, field, value, detail, raw_lead_id, provider, source_url, created_at)
VALUES (2, 10, 'phone', '+15550001', '{"type": "mobile", "valid": true}', 1, NULL, 'https://a.example/', $t0),
       (1, 10, 'email', 'info@acme.example', NULL, 1, NULL, 'https://a.example/contact', $t5),
       (3, 10, 'email', 'sales@acme.example', NULL, NULL, 'hunter', NULL, $t10);
INSERT INTO lead_scores (lead_id, job_id, score, segment, components, lead_revision, scored_at)
VALUES (10, $job_a, 40, 'warm', '{"rule": 40}', 1, $t0), (10, $job_b, 70, 'hot', '{"rule": 70, "weight": 0.5}', 2, $t5);
INSERT INTO lead_conflicts (lead_id, other_lead_id, kind, value, raw_lead_id, created_at)
VALUES (12, 10, 'domain', 'acme.example', 3, $t0);
INSERT INTO lead_enrichments (lead_id, provider, status, endpoint, fields, error, attempts, fetched_at)
VALUES (10, 'hunter', 'ok', 'https://api.hunter.example/', '{"emails": ["sales@acme.example"]}', NULL, 1, $t10);
INSERT INTO lead_outcomes (lead_id, recorded_lead_id, outcome, at, note, source, recorded_at)
VALUES (10, 11, 'contacted', $t0, 'called', 'api', $t5), (10, 10, 'won', $t10, NULL, 'cli', $t10);
"""


async def seed(db: Database) -> None:
    times = {f"t{m}": f"'{at(m).isoformat()}'" for m in (0, 5, 10)}
    await db.execute(Template(_SEED).substitute(job_a=f"'{JOB_A}'", job_b=f"'{JOB_B}'", **times))


class CountingDatabase:
    """Stands in for the pool and counts the statements issued through it."""

    def __init__(self, db: Database) -> None:
        self.db, self.statements = db, 0

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.statements += 1
        return await self.db.fetchrow(query, *args)


async def test_lead_detail_reads_everything_in_one_statement_with_column_types(db: Database) -> None:
    await seed(db)
    counting = CountingDatabase(db)
    detail = await lead_detail(counting, 11)  # type: ignore[arg-type]
    assert counting.statements == 1
    assert detail is not None
    lead = detail["lead"]
    assert (lead["id"], lead["company_name"], lead["scored_at"], detail["merged_from"]) == (10, "Acme Ltd", T, 11)
    assert "search_text" not in lead and not any(key.startswith("detail_") for key in lead)
    assert lead["score_components"] == {"rule": 70} and "explanation" in lead
    assert [p["type"] for p in lead["phone_checks"]] == ["mobile"]
    assert detail["absorbed"] == [11]
    assert detail["values"] == [
        {"field": "email", "value": "info@acme.example", "detail": None, "raw_lead_id": 1, "provider": None,
         "source_url": "https://a.example/contact", "created_at": at(5)},
        {"field": "email", "value": "sales@acme.example", "detail": None, "raw_lead_id": None, "provider": "hunter",
         "source_url": None, "created_at": at(10)},
        {"field": "phone", "value": "+15550001", "detail": {"type": "mobile", "valid": True}, "raw_lead_id": 1,
         "provider": None, "source_url": "https://a.example/", "created_at": at(0)},
    ]  # fmt: skip
    assert detail["sources"] == [
        {"raw_lead_id": 1, "source_type": "website", "source_url": "https://a.example/contact", "linked_at": at(0),
         "job_ids": sorted([JOB_A, JOB_B])},
        {"raw_lead_id": 2, "source_type": "directory", "source_url": None, "linked_at": at(5), "job_ids": [JOB_A]},
    ]  # fmt: skip
    scores = detail["scores"]
    assert [{k: v for k, v in s.items() if k != "explanation"} for s in scores] == [
        {"job_id": JOB_B, "score": 70, "segment": "hot", "components": {"rule": 70, "weight": 0.5},
         "lead_revision": 2, "scored_at": at(5)},
        {"job_id": JOB_A, "score": 40, "segment": "warm", "components": {"rule": 40}, "lead_revision": 1,
         "scored_at": at(0)},
    ]  # fmt: skip
    assert all("explanation" in s for s in scores)
    assert detail["conflicts"] == [
        {"other_lead_id": 12, "kind": "domain", "value": "acme.example", "raw_lead_id": 3, "created_at": at(0)}
    ]
    assert detail["enrichments"] == [
        {"provider": "hunter", "status": "ok", "endpoint": "https://api.hunter.example/",
         "fields": {"emails": ["sales@acme.example"]}, "error": None, "attempts": 1, "fetched_at": at(10)}
    ]  # fmt: skip
    assert detail["outcomes"] == [
        {"outcome": "won", "at": at(10), "note": None, "source": "cli", "recorded_lead_id": 10, "recorded_at": at(10)},
        {"outcome": "contacted", "at": at(0), "note": "called", "source": "api", "recorded_lead_id": 11,
         "recorded_at": at(5)},
    ]  # fmt: skip
    for row in detail["values"] + detail["sources"] + detail["scores"] + detail["outcomes"]:
        for key, value in row.items():
            if key.endswith("_at") or key == "at":
                assert isinstance(value, dt.datetime) and value.tzinfo is not None, (key, value)
    json.dumps(detail["values"], default=str)


async def test_lead_detail_of_a_live_lead_and_of_no_lead(db: Database) -> None:
    await seed(db)
    detail = await lead_detail(db, 12)
    assert detail is not None
    assert detail["merged_from"] is None and detail["absorbed"] == []
    assert detail["conflicts"] == [
        {"other_lead_id": 10, "kind": "domain", "value": "acme.example", "raw_lead_id": 3, "created_at": at(0)}
    ]
    assert (detail["values"], detail["scores"], detail["outcomes"], detail["enrichments"]) == ([], [], [], [])
    assert [s["job_ids"] for s in detail["sources"]] == [[]]
    assert await lead_detail(db, 999) is None
