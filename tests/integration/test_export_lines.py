"""The JSON Lines export writes the JSON columns as PostgreSQL renders them, not decoded and encoded again:
the lines are still those that encoding the decoded row gives (byte for byte for text, whatever it holds; in
value for numbers, which jsonb writes in plain notation)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from leadworker.enrich.scoring import explain
from leadworker.store.email_verdicts import FREE_MAIL_REASON
from leadworker.store.lead_export import EXPORT_FIELDS, JSON_FIELDS, stream_lead_pages
from leadworker.store.lead_files import lead_lines
from leadworker.store.pool import Database

TRICKY = 'Quote " back \\ slash\nnew\tline \x01 \u2028 ünï €😀 </script>'

_SEED = """
INSERT INTO raw_leads (id, content_hash, source_type, source_url, record)
VALUES (1, sha256('1'), 'website', $1, '{}'), (2, sha256('2'), 'website', NULL, '{}');
INSERT INTO leads (id, company_name, domain, emails, phones, score, segment, score_components, scored_at)
VALUES (1, $1, 'acme.example', ARRAY['info@acme.example', 'x@gmail.com'], ARRAY['+15550001', '+15550002'],
        50, 'warm', jsonb_build_object('rule', 50, $1::text, 0.25), now()),
       (2, 'Tiny', NULL, '{}', '{}', 1, 'cold', '{"w": 1e-05, "big": 12345678901234567890, "exact": 12.50}', now());
INSERT INTO lead_sources (raw_lead_id, lead_id) VALUES (1, 1), (2, 2);
INSERT INTO lead_values (lead_id, field, value, detail, raw_lead_id, provider, source_url)
VALUES (1, 'phone', '+15550001', jsonb_build_object('type', 'mobile', 'place', $1::text), 1, NULL, $1),
       (1, 'phone', '+15550001', '{"type": "later"}', NULL, 'hunter', NULL),
       (1, 'company_name', $1, NULL, 1, NULL, $1);
INSERT INTO email_checks (address, domain, status, reason, role, free, disposable, smtp)
VALUES ('info@acme.example', 'acme.example', 'risky', $1, true, false, false, NULL),
       ('x@gmail.com', 'gmail.com', 'safe', 'accepted', false, true, false, 'accepted');
"""


def plain(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    assert isinstance(value, uuid.UUID), value
    return str(value)


def decoded_line(row: dict[str, Any]) -> str:
    """The line as the export wrote it before: the JSON columns decoded, then the whole row encoded."""
    row = {**row, **{name: json.loads(row[name]) for name in JSON_FIELDS if row.get(name) is not None}}
    row["explanation"] = explain(row.get("components"))
    return json.dumps({name: row.get(name) for name in EXPORT_FIELDS}, default=plain, ensure_ascii=False)


async def test_json_lines_pass_the_json_columns_through(db: Database) -> None:
    async with db.transaction() as conn:
        for statement in filter(str.strip, _SEED.split(";\n")):
            await conn.execute(statement, *([TRICKY] if "$1" in statement else []))
    rows = [row async for page in stream_lead_pages(db) for row in page]
    lines = [line async for line in lead_lines(db, fmt="jsonl")]
    assert len(rows) == len(lines) == 2
    assert all(isinstance(rows[0][name], str) for name in JSON_FIELDS)
    assert lines[0] == decoded_line(rows[0]) + "\n"  # text: byte for byte
    first = json.loads(lines[0])
    assert first["company_name"] == TRICKY
    assert [c["reason"] for c in first["email_checks"]] == [TRICKY, FREE_MAIL_REASON]
    assert first["phone_checks"][0]["type"] == "mobile" and first["phone_checks"][0]["place"] == TRICKY
    assert first["phone_checks"][1]["type"] is None
    assert first["provenance"][0]["url"] == TRICKY and first["sources"][0]["source_url"] == TRICKY
    assert list(first) == list(EXPORT_FIELDS)
    assert json.loads(lines[1]) == json.loads(decoded_line(rows[1]))  # numbers: the same values
    assert json.loads(lines[1])["components"] == {"w": 1e-05, "big": 12345678901234567890, "exact": 12.5}
