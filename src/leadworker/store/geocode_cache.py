"""Lead coordinates in the database: which leads need placing, their location, the HTTP geocoder's answers by
query (``geocodes``) and its pace across every worker (``geocoder_pace``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from leadworker.enrich.geocode import Location, PlaceInput
from leadworker.store.pool import Database


@dataclass(frozen=True)
class LeadPlace:
    lead_id: int
    place: PlaceInput
    geo_query: str | None
    precision: str | None
    source: str | None


_PLACE_COLUMNS = "id, country, city, region, postal_code, address, geo_query, geo_precision, geo_source"


def _lead_place(row: Any) -> LeadPlace:
    place = PlaceInput(
        country=row["country"],
        city=row["city"],
        region=row["region"],
        postal_code=row["postal_code"],
        address=row["address"],
    )
    return LeadPlace(row["id"], place, row["geo_query"], row["geo_precision"], row["geo_source"])


async def lead_places(db: Database, lead_ids: Sequence[int]) -> list[LeadPlace]:
    """The live leads among ``lead_ids`` with what they say about where they are."""
    rows = await db.fetch(
        f"SELECT {_PLACE_COLUMNS} FROM leads WHERE id = ANY($1::bigint[]) AND merged_into IS NULL ORDER BY id",
        list(lead_ids),
    )
    return [_lead_place(r) for r in rows]


async def leads_to_refine(db: Database, source: str, limit: int) -> list[LeadPlace]:
    """Live leads placed offline (or not at all) that have an address or postal code the HTTP geocoder
    ``source`` has not been asked about for their current place."""
    rows = await db.fetch(
        f"""SELECT {_PLACE_COLUMNS} FROM leads
             WHERE merged_into IS NULL AND country IS NOT NULL AND (address IS NOT NULL OR postal_code IS NOT NULL)
               AND geo_source IS DISTINCT FROM $1 AND geocoded_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM geocodes g WHERE g.query = $1 || '?' || leads.geo_query)
             ORDER BY id LIMIT $2""",
        source,
        limit,
    )
    return [_lead_place(r) for r in rows]


async def save_locations(db: Database, placed: Iterable[tuple[int, str | None, Location | None]]) -> None:
    """``(lead id, the place key it was computed from, its location or None)``: a lead placed nowhere keeps no
    coordinates, but remembers what was tried, so it is not tried again until its place changes."""
    rows = list(placed)
    if not rows:
        return
    await db.execute(
        """UPDATE leads l
              SET latitude = t.lat, longitude = t.lon, geo_precision = t.precision, geo_source = t.source,
                  geo_query = t.query, geocoded_at = now()
             FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[])
                  AS t(id, lat, lon, precision, source, query)
            WHERE l.id = t.id""",
        [lead_id for lead_id, _, _ in rows],
        [loc.latitude if loc else None for _, _, loc in rows],
        [loc.longitude if loc else None for _, _, loc in rows],
        [loc.precision if loc else None for _, _, loc in rows],
        [loc.source if loc else None for _, _, loc in rows],
        [query for _, query, _ in rows],
    )


def geocode_key(source: str, place_key: str) -> str:
    """The cache key of what geocoder ``source`` answered for a lead place (:meth:`PlaceInput.key`)."""
    return f"{source}?{place_key}"


async def cached_geocode(db: Database, query: str) -> tuple[bool, Location | None]:
    """``(known, location)``: whether the geocoder was asked ``query`` (:func:`geocode_key`) before, and what
    it answered."""
    row = await db.fetchrow(
        "SELECT found, latitude, longitude, precision, display_name FROM geocodes WHERE query = $1", query
    )
    if row is None:
        return False, None
    if not row["found"]:
        return True, None
    source = query.partition("?")[0]
    return True, Location(row["latitude"], row["longitude"], row["precision"], source, row["display_name"])


async def save_geocode(db: Database, query: str, location: Location | None) -> None:
    await db.execute(
        """INSERT INTO geocodes (query, found, latitude, longitude, precision, display_name)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (query) DO UPDATE
              SET found = EXCLUDED.found, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                  precision = EXCLUDED.precision, display_name = EXCLUDED.display_name, fetched_at = now()""",
        query,
        location is not None,
        location.latitude if location else None,
        location.longitude if location else None,
        location.precision if location else None,
        location.label if location else None,
    )


async def reserve_slot(db: Database, endpoint: str, interval: float) -> float:
    """Reserve the next request slot of ``endpoint`` (slots are ``interval`` seconds apart across every worker
    and host); returns the seconds to wait until it."""
    wait = await db.fetchval(
        """INSERT INTO geocoder_pace AS p (endpoint, next_at)
           VALUES ($1, clock_timestamp() + $2 * interval '1 second')
           ON CONFLICT (endpoint) DO UPDATE
              SET next_at = greatest(p.next_at, clock_timestamp()) + $2 * interval '1 second'
           RETURNING extract(epoch FROM p.next_at - clock_timestamp()) - $2""",
        endpoint,
        interval,
    )
    return max(0.0, float(wait))
