"""Contacts seen across sites: which registrable domains showed which e-mail or phone (``shared_contacts``)."""

from __future__ import annotations

from collections.abc import Sequence

from leadworker.store.pool import Database


async def record_and_count(db: Database, sightings: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], int]:
    """Record ``(kind, value, domain)`` sightings (each once, however often it is seen) and return, for every
    ``(kind, value)`` among them, the number of distinct domains that showed it, these included. Rows are
    inserted in key order, so that two jobs recording the same contacts at once cannot deadlock."""
    if not sightings:
        return {}
    kinds, values, domains = (list(column) for column in zip(*sightings, strict=True))
    await db.execute(
        """
        INSERT INTO shared_contacts (kind, value, domain)
        SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
        """,
        kinds,
        values,
        domains,
    )
    rows = await db.fetch(
        """
        SELECT s.kind, s.value, count(*) AS domains
          FROM shared_contacts s
          JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS t(kind, value)
            ON s.kind = t.kind AND s.value = t.value
         GROUP BY s.kind, s.value
        """,
        kinds,
        values,
    )
    return {(row["kind"], row["value"]): row["domains"] for row in rows}
