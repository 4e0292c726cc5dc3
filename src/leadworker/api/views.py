"""Rows as JSON: ids and times as text, a job's counts and enrichment progress grouped, page cursors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from leadworker.api.problems import ApiError
from leadworker.store.jobs import decoded_criteria


def plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def job_view(row: Mapping[str, Any]) -> dict[str, Any]:
    r = dict(row)
    return {
        "job_id": str(r["id"]),
        "status": r["status"],
        "user_id": r["user_id"],
        "attempts": r["attempts"],
        "worker": r["worker"],
        "error": r["error"],
        "error_kind": r["error_kind"],
        "created_at": plain(r["created_at"]),
        "started_at": plain(r["started_at"]),
        "heartbeat_at": plain(r["heartbeat_at"]),
        "completed_at": plain(r["completed_at"]),
        "updated_at": plain(r["updated_at"]),
        "counts": {k: r[k] for k in ("pages", "pages_degraded", "found", "new", "duplicates")},
        "enrichment": {
            "normalized": r["normalized"],
            "scored": r["scored"],
            "invalid_phones": r["invalid_phones"],
            "invalid_emails": r["invalid_emails"],
            "enriched_at": plain(r["enriched_at"]),
            "error": r["enrich_error"],
            "error_kind": r["enrich_error_kind"],
            "fanout_deferred": r["fanout_deferred"],
        },
        "criteria": decoded_criteria(r["criteria"]),
    }


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain(list(values))).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The values of a cursor made by :func:`encode_cursor`; a cursor that is not one is a 422."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise ApiError(422, "cursor: not a cursor this API gave", fields={"cursor": "not a cursor this API gave"})
    return values
