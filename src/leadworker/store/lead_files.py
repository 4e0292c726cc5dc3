"""``leadworker leads export``: canonical leads streamed to CSV or JSON Lines, one row at a time.

Rows come a page at a time (:func:`leadworker.store.lead_export.stream_lead_pages`) and are written as they
arrive, so memory stays flat for any number of leads. CSV cells hold lists joined with ``; `` and nested values
(score components, sources, provenance) as JSON; JSON Lines keep them nested. Every CSV cell goes through
:func:`leadworker.common.spreadsheet.neutralize_cell`: the text is scraped, and a spreadsheet must not run it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, TextIO

from leadworker.common.spreadsheet import neutralize_cell
from leadworker.enrich.scoring import explain
from leadworker.store.lead_export import EXPORT_FIELDS, JSON_FIELDS, Near, stream_lead_pages
from leadworker.store.pool import Database

FORMATS = ("csv", "jsonl")
SEGMENTS = ("hot", "warm", "cold")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> str:
    return neutralize_cell(_text(value))


def _json_line(row: dict[str, Any]) -> str:
    """A row as a line of JSON Lines: its JSON text columns (:data:`JSON_FIELDS`) written as they came, not
    decoded and encoded again (half the time of a line went to that). Each stands in the encoded line as a
    placeholder that holds a NUL, which no value read from PostgreSQL can hold, until it is swapped for its
    text. jsonb renders JSON as ``json.dumps`` does (``", "`` and ``": "``, its key order kept by decoding)."""
    components = row.get("components")
    fields: dict[str, Any] = {}
    for name in EXPORT_FIELDS:
        fields[name] = f"\0{name}" if name in JSON_FIELDS and row.get(name) is not None else row.get(name)
    fields["explanation"] = explain(json.loads(components) if components is not None else None)
    line = json.dumps(fields, default=_json_default, ensure_ascii=False)
    for name in JSON_FIELDS:
        if row.get(name) is not None:
            line = line.replace(f'"\\u0000{name}"', row[name], 1)
    return line + "\n"


async def lead_lines(
    db: Database,
    *,
    fmt: str,
    job_id: uuid.UUID | None = None,
    segment: str | None = None,
    min_score: int | None = None,
    country: str | None = None,
    q: str | None = None,
    near: Near | None = None,
    not_in_job: uuid.UUID | None = None,
    whole_pages: bool = False,
) -> AsyncIterator[str]:
    """The selected leads in ``fmt``, a line at a time (CSV: the header first), as they are read; with
    ``whole_pages``, the lines of each page read joined in one string (the API sends it in one write instead
    of one a line)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n") if fmt == "csv" else None

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    if writer is not None:
        writer.writerow(EXPORT_FIELDS)
        yield take()
    async for page in stream_lead_pages(
        db,
        job_id=job_id,
        segment=segment,
        min_score=min_score,
        country=country,
        q=q,
        near=near,
        not_in_job=not_in_job,
    ):
        lines = []
        for row in page:
            if writer is not None:
                row = {**row, **{name: json.loads(row[name]) for name in JSON_FIELDS if row.get(name) is not None}}
                row["explanation"] = explain(row.get("components"))
                writer.writerow([_cell(row.get(name)) for name in EXPORT_FIELDS])
                lines.append(take())
            else:
                lines.append(_json_line(row))
        if whole_pages:
            yield "".join(lines)
        else:
            for line in lines:
                yield line


async def export_leads(
    db: Database,
    out: TextIO,
    *,
    fmt: str,
    job_id: uuid.UUID | None = None,
    segment: str | None = None,
    min_score: int | None = None,
    near: Near | None = None,
    not_in_job: uuid.UUID | None = None,
) -> int:
    """Write the selected leads to ``out`` in ``fmt``; return how many (``near``: within a radius, nearest
    first; ``not_in_job``: only those of ``job_id`` that job did not find)."""
    lines = -1 if fmt == "csv" else 0
    async for line in lead_lines(
        db, fmt=fmt, job_id=job_id, segment=segment, min_score=min_score, near=near, not_in_job=not_in_job
    ):
        out.write(line)
        lines += 1
    return lines
