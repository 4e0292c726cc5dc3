"""Placing a lead on the map: offline at city precision from the gazetteer (:mod:`leadworker.common.geo`), refined by
an HTTP geocoder compatible with Nominatim's ``/search`` when ``LEADWORKER_GEOCODER_URL`` names one.

A lead is placed from its city (and its region, which tells US namesakes apart) within its country; without a
city, or for a town too small for the gazetteer, only the HTTP geocoder can place it (postal code, address).
The HTTP geocoder is asked for the address when the lead has one (``street`` precision when the answer is a
street or a house), else for the postal code (``postcode``), else for the city (``city``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from leadworker.common.geo import Gazetteer, place_key

PRECISIONS = ("street", "postcode", "city")
OFFLINE_SOURCE = "geonames"


@dataclass(frozen=True)
class PlaceInput:
    """What a lead says about where it is."""

    country: str | None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    address: str | None = None

    def key(self) -> str | None:
        """What the lead's location was computed from (None: too little to place it): a lead is placed
        again only when this changes."""
        if not self.country or not (self.city or self.postal_code or self.address):
            return None
        parts = (self.country, self.city, self.region, self.postal_code, self.address)
        return "|".join(place_key(p) if p else "" for p in parts)


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    precision: str
    source: str
    label: str | None = None


def locate_offline(gazetteer: Gazetteer, place: PlaceInput) -> Location | None:
    """The lead's city in its country, from the gazetteer: city precision."""
    if not place.country or not place.city:
        return None
    town = gazetteer.locate(place.city, place.country, place.region)
    if town is None:
        return None
    return Location(town.latitude, town.longitude, "city", OFFLINE_SOURCE, f"{town.name}, {town.country}")


def http_query(place: PlaceInput) -> dict[str, str] | None:
    """The ``/search`` parameters for ``place``, or None when it has nothing finer than what the gazetteer
    gives (no address, no postal code) or no country."""
    if not place.country or not (place.address or place.postal_code):
        return None
    params = {"countrycodes": place.country.lower(), "format": "jsonv2", "limit": "1"}
    if place.address:
        extra = [p for p in (place.postal_code, place.city) if p and p not in place.address]
        params["q"] = ", ".join([place.address, *extra])
    else:
        params["postalcode"] = place.postal_code or ""
        if place.city:
            params["city"] = place.city
    return params


class GeocoderUnavailable(Exception):
    """The geocoder did not answer usefully now (network, timeout, 429, 5xx): try again later."""


def _precision(answer: dict[str, Any], params: dict[str, str]) -> str:
    rank = answer.get("place_rank")
    kind = str(answer.get("addresstype") or answer.get("type") or "")
    if "q" in params and isinstance(rank, int) and rank >= 26:
        return "street"
    if kind == "postcode" or ("postalcode" in params and "q" not in params):
        return "postcode"
    return "city"


def read_answer(body: Any, params: dict[str, str], source: str) -> Location | None:
    """The first result of a ``/search`` answer (a JSON list), or None when it found nothing."""
    if not isinstance(body, list) or not body or not isinstance(body[0], dict):
        return None
    first = body[0]
    try:
        lat, lon = float(first["lat"]), float(first["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    label = first.get("display_name")
    return Location(lat, lon, _precision(first, params), source, str(label)[:300] if label else None)


def search_endpoint(url: str) -> str:
    """``https://host`` or ``https://host/`` → ``https://host/search``; a URL ending in ``/search`` as it is."""
    path = urlsplit(url).path.rstrip("/")
    return url if path.endswith("/search") else url.rstrip("/") + "/search"


class HttpGeocoder:
    """A Nominatim-compatible ``/search`` client. ``pace`` is awaited before every request (it spaces requests
    out across every worker, :func:`leadworker.store.geocode_cache.reserve_slot`)."""

    def __init__(self, url: str, *, user_agent: str, timeout: float, pace: Callable[[], Awaitable[None]]) -> None:
        self.endpoint = search_endpoint(url)
        self.source = "geocoder:" + (urlsplit(url).hostname or "http")
        self.user_agent, self.timeout, self.pace = user_agent, timeout, pace
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def search(self, params: dict[str, str]) -> Location | None:
        """The place ``params`` name, or None if the geocoder knows none; raises :class:`GeocoderUnavailable`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.user_agent}, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        await self.pace()
        try:
            async with self._session.get(self.endpoint, params=params) as response:
                if response.status == 429 or response.status >= 500:
                    raise GeocoderUnavailable(f"the geocoder answered {response.status}")
                if response.status != 200:
                    return None
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GeocoderUnavailable(f"the geocoder did not answer: {exc or type(exc).__name__}") from exc
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise GeocoderUnavailable("the geocoder's answer is not JSON") from exc
        return read_answer(body, params, self.source)
