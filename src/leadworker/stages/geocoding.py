"""Placing a batch of canonical leads on the map, run by the normalize stage before it asks for scores.

Every lead whose place (country, city, region, postal code, address) changed since it was last placed gets
city coordinates from the offline gazetteer at once. With an HTTP geocoder configured, a lead with an address or
a postal code is then refined from the geocoder's cached answer, or by asking it; requests are paced across every
worker (``LEADWORKER_GEOCODER_RATE``, 1 a second by default, Nominatim's usage policy), so a batch asks at most
:data:`ASK_PER_BATCH` new places and the normalize stage's periodic work refines the rest in the background.
A geocoder that does not answer leaves the offline location in place; it never fails a batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from leadworker.common.geo import Gazetteer, default_gazetteer
from leadworker.config import Settings
from leadworker.enrich.geocode import GeocoderUnavailable, HttpGeocoder, Location, http_query, locate_offline
from leadworker.store import geocode_cache as geocoding
from leadworker.store.geocode_cache import LeadPlace
from leadworker.store.pool import Database

ASK_PER_BATCH = 3
"""New places a batch may ask the HTTP geocoder about (at 1 request a second: the batch waits 3 s at most)."""

log = structlog.get_logger(__name__)


@dataclass
class PlaceReport:
    placed: int = 0
    refined: int = 0
    asked: int = 0
    unavailable: bool = False
    """The geocoder failed: nothing more is asked of it in this batch or run."""


class LeadPlacer:
    """Gives leads coordinates (see the module's doc)."""

    def __init__(self, db: Database, gazetteer: Gazetteer, geocoder: HttpGeocoder | None = None) -> None:
        self.db = db
        self.gazetteer = gazetteer
        self.geocoder = geocoder

    async def close(self) -> None:
        if self.geocoder is not None:
            await self.geocoder.close()

    async def place_leads(self, lead_ids: Sequence[int]) -> PlaceReport:
        report = PlaceReport()
        changed = [lp for lp in await geocoding.lead_places(self.db, lead_ids) if lp.place.key() != lp.geo_query]
        if not changed:
            return report
        if any(lp.place.city for lp in changed):
            await asyncio.to_thread(self.gazetteer.load)  # the first build takes seconds: keep the event loop free
        located = [(lp, locate_offline(self.gazetteer, lp.place)) for lp in changed]
        report.placed = sum(1 for _, loc in located if loc is not None)
        if self.geocoder is not None:
            located = [(lp, await self._refine(lp, loc, report)) for lp, loc in located]
        if self.geocoder is None:
            # Nothing found and nothing to clear: writing down what was tried only serves the HTTP geocoder.
            located = [(lp, loc) for lp, loc in located if loc is not None or lp.source is not None]
        await geocoding.save_locations(self.db, [(lp.lead_id, lp.place.key(), loc) for lp, loc in located])
        return report

    async def refine_pending(self, limit: int) -> int:
        """Ask the HTTP geocoder about up to ``limit`` leads placed offline only; returns how many it refined."""
        if self.geocoder is None:
            return 0
        report = PlaceReport()
        pending = await geocoding.leads_to_refine(self.db, self.geocoder.source, limit)
        located = [(lp, await self._refine(lp, None, report, budget=limit)) for lp in pending]
        await geocoding.save_locations(self.db, [(lp.lead_id, lp.place.key(), loc) for lp, loc in located if loc])
        return report.refined

    async def _refine(
        self, lp: LeadPlace, offline: Location | None, report: PlaceReport, budget: int = ASK_PER_BATCH
    ) -> Location | None:
        geocoder = self.geocoder
        assert geocoder is not None
        params, key = http_query(lp.place), lp.place.key()
        if params is None or key is None:
            return offline
        cache_key = geocoding.geocode_key(geocoder.source, key)
        known, location = await geocoding.cached_geocode(self.db, cache_key)
        if not known:
            if report.unavailable or report.asked >= budget:
                return offline
            report.asked += 1
            try:
                location = await geocoder.search(params)
            except GeocoderUnavailable as exc:
                report.unavailable = True
                log.warning(
                    "geocoder unavailable; the lead keeps its offline location", lead_id=lp.lead_id, error=str(exc)
                )
                return offline
            await geocoding.save_geocode(self.db, cache_key, location)
        if location is None:
            return offline
        report.refined += 1
        return location


def lead_placer(settings: Settings, db: Database) -> LeadPlacer:
    """The placer ``settings`` describe: offline always, refined by ``LEADWORKER_GEOCODER_URL`` when set."""
    geocoder = None
    if settings.geocoder_url:
        url, interval = settings.geocoder_url, 1.0 / settings.geocoder_rate

        async def pace() -> None:
            await asyncio.sleep(await geocoding.reserve_slot(db, url, interval))

        geocoder = HttpGeocoder(url, user_agent=settings.user_agent, timeout=settings.geocoder_timeout, pace=pace)
    return LeadPlacer(db, default_gazetteer(), geocoder)
