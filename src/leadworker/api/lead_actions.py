"""Reading leads, for the API's routes and the dashboard alike: a page of the list (filters, text search, keyset
by lead id) and one lead in full. Bad input is an :class:`ApiError` naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from leadworker.api.problems import ApiError
from leadworker.api.services import ApiServices
from leadworker.api.views import decode_cursor, encode_cursor
from leadworker.store.lead_export import lead_detail
from leadworker.store.lead_pages import page_leads


def lead_cursor(cursor: str | None) -> int:
    """The lead id a leads page's ``next`` cursor stands for (0: the first page); a 422 if it is not one."""
    if cursor is None:
        return 0
    (after,) = decode_cursor(cursor, 1)
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
        raise ApiError(422, "cursor: not a cursor this API gave", fields={"cursor": "invalid"})
    return after


def check_text(q: str | None) -> None:
    """A 422 if the text searched for holds control characters."""
    if q is not None and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in q):
        raise ApiError(422, "q: must not hold control characters", fields={"q": "must not hold control characters"})


async def leads_page(
    services: ApiServices,
    *,
    segment: str | None,
    min_score: int | None,
    country: str | None,
    job_id: uuid.UUID | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[asyncpg.Record], str | None]:
    """One page of live leads by id, and the cursor of the next page (None on the last)."""
    after = lead_cursor(cursor)
    check_text(q)
    rows = await page_leads(
        services.db,
        segment=segment,
        min_score=min_score,
        country=country,
        job_id=job_id,
        q=q,
        after_id=after,
        limit=limit,
    )
    return rows, encode_cursor(rows[-1]["lead_id"]) if len(rows) == limit else None


async def lead_or_404(services: ApiServices, lead_id: int) -> dict[str, Any]:
    """Everything known about one lead (values with provenance, sources, scores per job), or a 404."""
    detail = await lead_detail(services.db, lead_id)
    if detail is None:
        raise ApiError(404, f"no lead {lead_id}")
    return detail
