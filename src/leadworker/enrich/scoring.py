"""Scoring a canonical lead for a job: 0-100 from weighted components, every component stored beside the score.

Components, each a value from 0 to 1:

- ``completeness``: name, website, e-mail, phone, address and a contact person, weighted by how much a sales
  team needs each.
- ``keywords``: the share of the job's keywords found in the lead's name, description, categories and domain.
- ``industry``: the job's industry in the lead's categories or name (1.0), or only in its description or domain
  (0.8).
- ``geography``: the job's country against the lead's, and the job's place names against the lead's address.
- ``contact_quality``: the best e-mail (a person's address on the company's own domain beats a role address such
  as info@, which beats free-mail; an address verified ``invalid`` counts for nothing, a ``risky`` one no more
  than a role address) and the best phone (mobile beats fixed line beats toll-free), plus a named
  contact.
- ``source_quality``: where the lead comes from (its own website beats a directory beats an import), plus a bonus
  when several sources agree and when a provider enriched it.

The score is the weighted mean of the components that apply (a job without keywords has no ``keywords``
component: its weight is left out, not counted as zero), times 100, rounded. Segments: ``hot`` from
``score_hot``, ``warm`` from ``score_warm``, else ``cold``. The same inputs always give the same result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from leadworker.common.domains import site_identity, site_label
from leadworker.common.regions import region_from_geography, region_from_name
from leadworker.enrich import SCORE_COMPONENTS
from leadworker.enrich.normalization import fold

COMPONENTS = SCORE_COMPONENTS

DEFAULT_WEIGHTS: dict[str, float] = {
    "completeness": 0.20,
    "keywords": 0.15,
    "industry": 0.10,
    "geography": 0.15,
    "contact_quality": 0.25,
    "source_quality": 0.15,
}

SEGMENTS = ("hot", "warm", "cold")

_PHONE_QUALITY = {
    "mobile": 1.0,
    "fixed_line_or_mobile": 0.8,
    "fixed_line": 0.7,
    "voip": 0.5,
    "uan": 0.5,
    "personal_number": 0.5,
    "toll_free": 0.4,
    "shared_cost": 0.4,
}
_SOURCE_QUALITY = {"website": 0.8, "directory": 0.6, "inline": 0.5}


@dataclass(frozen=True)
class ScoringPolicy:
    weights: Mapping[str, float]
    hot: int = 70
    warm: int = 40

    @classmethod
    def build(cls, overrides: Mapping[str, float] | None = None, hot: int = 70, warm: int = 40) -> ScoringPolicy:
        return cls(weights={**DEFAULT_WEIGHTS, **(overrides or {})}, hot=hot, warm=warm)

    def segment(self, score: int) -> str:
        return "hot" if score >= self.hot else "warm" if score >= self.warm else "cold"


@dataclass(frozen=True)
class EmailFacts:
    address: str
    role: bool
    free: bool
    status: str | None = None
    """The verification verdict (``safe``, ``risky``, ``invalid``, ``unknown``), None when not verified."""


@dataclass(frozen=True)
class PhoneFacts:
    e164: str
    type: str
    region: str | None


@dataclass(frozen=True)
class LeadProfile:
    """What scoring reads of a canonical lead."""

    company_name: str | None = None
    legal_form: str | None = None
    domain: str | None = None
    website: str | None = None
    address: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    contact_name: str | None = None
    description: str | None = None
    categories: tuple[str, ...] = ()
    socials: tuple[str, ...] = ()
    """Social networks the lead has a profile on (``linkedin``, ``facebook``...)."""
    emails: tuple[EmailFacts, ...] = ()
    phones: tuple[PhoneFacts, ...] = ()
    source_types: Mapping[str, int] = field(default_factory=dict)
    """Raw leads per source type (``website``, ``inline``, ``directory:<recipe>``...)."""
    providers: int = 0
    """Providers that returned data for the lead."""


@dataclass(frozen=True)
class JobCriteria:
    keywords: tuple[str, ...] = ()
    industry: str | None = None
    geography: str | None = None

    @classmethod
    def from_criteria(cls, criteria: Mapping[str, Any] | None) -> JobCriteria:
        criteria = criteria or {}
        keywords = tuple(k for k in (criteria.get("keywords") or []) if isinstance(k, str) and k.strip())
        industry = criteria.get("industry") if isinstance(criteria.get("industry"), str) else None
        geography = criteria.get("geography") if isinstance(criteria.get("geography"), str) else None
        return cls(keywords=keywords, industry=industry or None, geography=geography or None)


@dataclass(frozen=True)
class Component:
    value: float | None
    """0-1, or None when the component does not apply (the job gave nothing to match)."""
    detail: str


@dataclass(frozen=True)
class ScoreResult:
    score: int
    segment: str
    components: dict[str, Component]
    weights: Mapping[str, float]

    def components_json(self) -> dict[str, Any]:
        """Stored beside the score: each component's value, weight, points and why."""
        applicable = sum(self.weights.get(n, 0.0) for n, c in self.components.items() if c.value is not None)
        out: dict[str, Any] = {}
        for name, component in self.components.items():
            weight = self.weights.get(name, 0.0)
            points = (
                round(100 * weight * component.value / applicable, 1)
                if component.value is not None and applicable > 0
                else None
            )
            out[name] = {
                "value": None if component.value is None else round(component.value, 3),
                "weight": weight,
                "points": points,
                "detail": component.detail,
            }
        return out


class Scored(Protocol):
    """A score as it is stored: the rule score (:class:`ScoreResult`) or a learned one."""

    @property
    def score(self) -> int: ...

    @property
    def segment(self) -> str: ...

    def components_json(self) -> dict[str, Any]: ...


EXPLAIN_ITEMS = 6
"""Contributions an explanation names, the largest first."""


def explain(components: Mapping[str, Any] | None, limit: int = EXPLAIN_ITEMS) -> str:
    """A score's components in one line, the largest contributions first: ``+12 mobile phone, +8 industry
    match, (minus)15 free-mail only`` for a learned score (the points of each feature, negative ones with a
    minus sign U+2212; ``baseline`` is where the average lead stands), ``+25 contact quality
    (direct e-mail, mobile)`` for a rule score."""
    if not components:
        return ""
    learned = "baseline" in components
    parts: list[tuple[float, str]] = []
    for name, item in components.items():
        if (
            name in ("baseline", "other")
            or not isinstance(item, Mapping)
            or not isinstance(item.get("points"), (int, float))
        ):
            continue
        points = float(item["points"])
        if round(points) == 0:
            continue
        sign = "+" if points > 0 else "\u2212"
        text = str(item.get("detail") or name) if learned else f"{name.replace('_', ' ')} ({item.get('detail')})"
        parts.append((points, f"{sign}{abs(points):.0f} {text}"))
    parts.sort(key=lambda p: -abs(p[0]))
    head = ", ".join(text for _, text in parts[:limit])
    if learned and isinstance(components["baseline"], Mapping):
        base = components["baseline"].get("points")
        return f"{head} (the average lead: {base:.0f})" if isinstance(base, (int, float)) else head
    return head


# --- text matching ----------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str | None) -> list[str]:
    return _WORD.findall(fold(text)) if text else []


def _stem(word: str) -> str:
    return word[: max(4, len(word) - 3)] if len(word) > 4 else word


def word_matches(wanted: str, found: str) -> bool:
    """Loose match of two words: equal, or sharing a stem (plumbing / plumber, dental / dentistry)."""
    if wanted == found:
        return True
    if len(wanted) < 4 or len(found) < 4:
        return False
    return found.startswith(_stem(wanted)) or wanted.startswith(_stem(found))


def phrase_in(phrase: str, haystack: Sequence[str]) -> bool:
    """Every word of ``phrase`` matches some word of ``haystack``."""
    wanted = words(phrase)
    return bool(wanted) and all(any(word_matches(w, h) for h in haystack) for w in wanted)


# --- components -------------------------------------------------------------------------------------------


def _completeness(p: LeadProfile) -> Component:
    parts = {
        "name": (0.15, bool(p.company_name)),
        "website": (0.20, bool(p.domain or p.website)),
        "email": (0.25, any(e.status != "invalid" for e in p.emails)),
        "phone": (0.25, bool(p.phones)),
        "address": (0.10, bool(p.address or (p.city and p.postal_code))),
        "contact": (0.05, bool(p.contact_name)),
    }
    value = sum(weight for weight, present in parts.values() if present)
    missing = [name for name, (_, present) in parts.items() if not present]
    return Component(value, "complete" if not missing else "missing " + ", ".join(missing))


def _lead_words(p: LeadProfile) -> tuple[list[str], list[str]]:
    """``(strong, weak)`` words: name and categories; description and domain."""
    strong = words(p.company_name) + [w for c in p.categories for w in words(c)]
    domain_label = site_label(p.domain or "")
    weak = words(p.description) + words(domain_label.replace("-", " "))
    return strong, weak


def _keywords(p: LeadProfile, job: JobCriteria) -> Component:
    if not job.keywords:
        return Component(None, "the job has no keywords")
    strong, weak = _lead_words(p)
    text = strong + weak
    matched = [k for k in job.keywords if phrase_in(k, text)]
    value = len(matched) / len(job.keywords)
    detail = f"matched {len(matched)} of {len(job.keywords)}" + (f": {', '.join(matched)}" if matched else "")
    return Component(value, detail)


def _industry(p: LeadProfile, job: JobCriteria) -> Component:
    if not job.industry:
        return Component(None, "the job has no industry")
    strong, weak = _lead_words(p)
    if phrase_in(job.industry, strong):
        return Component(1.0, f"{job.industry} in name or categories")
    if phrase_in(job.industry, weak):
        return Component(0.8, f"{job.industry} in description or domain")
    return Component(0.0, f"no sign of {job.industry}")


def _geography(p: LeadProfile, job: JobCriteria) -> Component:
    if not job.geography:
        return Component(None, "the job has no geography")
    wanted_country = region_from_geography(job.geography)
    places = [part.strip() for part in re.split(r"[,;/|()]+", job.geography) if part.strip()]
    places = [part for part in places if region_from_name(part) is None]
    scores: list[float] = []
    notes: list[str] = []
    if wanted_country:
        if p.country == wanted_country:
            scores.append(1.0)
            notes.append(f"in {wanted_country}")
        elif p.country is None:
            scores.append(0.5)
            notes.append("country unknown")
        else:
            scores.append(0.0)
            notes.append(f"in {p.country}, not {wanted_country}")
    if places:
        location = words(" ".join(x for x in (p.address, p.city, p.region, p.postal_code) if x))
        if any(phrase_in(place, location) for place in places):
            scores.append(1.0)
            notes.append("place matches")
        elif not location:
            scores.append(0.5)
            notes.append("no address")
        else:
            scores.append(0.0)
            notes.append(f"not in {', '.join(places)}")
    if not scores:
        return Component(None, f"{job.geography!r} names no known country or place")
    return Component(sum(scores) / len(scores), "; ".join(notes))


def _email_quality(p: LeadProfile) -> tuple[float, str]:
    best, label = 0.0, "no e-mail" if not p.emails else "no valid e-mail"
    for email in p.emails:
        if email.status == "invalid":
            continue
        domain = email.address.rpartition("@")[2]
        own = not email.free and (p.domain is None or (site_identity(domain) or domain) == p.domain)
        if not email.role and own:
            value, kind = 1.0, "direct e-mail"
        elif not email.role or own:
            value, kind = 0.6, "role e-mail" if email.role else "personal free-mail"
        else:
            value, kind = 0.3, "role e-mail elsewhere"
        if email.status == "risky" and value > 0.6:
            value, kind = 0.6, "risky e-mail"
        if value > best:
            best, label = value, kind
    return best, label


def _phone_quality(p: LeadProfile) -> tuple[float, str]:
    best, label = 0.0, "no phone"
    for phone in p.phones:
        value = _PHONE_QUALITY.get(phone.type, 0.2)
        if value > best:
            best, label = value, phone.type.replace("_", " ")
    return best, label


def _contact_quality(p: LeadProfile) -> Component:
    email, email_label = _email_quality(p)
    phone, phone_label = _phone_quality(p)
    person = 1.0 if p.contact_name else 0.0
    value = 0.5 * email + 0.4 * phone + 0.1 * person
    return Component(value, f"{email_label}, {phone_label}" + (", named contact" if person else ""))


def _source_quality(p: LeadProfile) -> Component:
    if not p.source_types and not p.providers:
        return Component(0.0, "no sources")
    kinds = {t.split(":", 1)[0] for t in p.source_types}
    base = max((_SOURCE_QUALITY.get(k, 0.4) for k in kinds), default=0.4)
    sources = sum(p.source_types.values())
    bonus = 0.15 if sources >= 2 else 0.0
    bonus += 0.05 if p.providers else 0.0
    names = sorted(kinds) + (["provider"] if p.providers else [])
    return Component(min(1.0, base + bonus), f"{sources} source(s): {', '.join(names)}")


def score_lead(profile: LeadProfile, job: JobCriteria, policy: ScoringPolicy) -> ScoreResult:
    """Score ``profile`` for ``job``. Deterministic: the same inputs give the same result."""
    components = {
        "completeness": _completeness(profile),
        "keywords": _keywords(profile, job),
        "industry": _industry(profile, job),
        "geography": _geography(profile, job),
        "contact_quality": _contact_quality(profile),
        "source_quality": _source_quality(profile),
    }
    total_weight = sum(policy.weights.get(n, 0.0) for n, c in components.items() if c.value is not None)
    if total_weight <= 0:
        score = 0
    else:
        weighted = sum(policy.weights.get(n, 0.0) * c.value for n, c in components.items() if c.value is not None)
        score = max(0, min(100, round(100 * weighted / total_weight)))
    return ScoreResult(score=score, segment=policy.segment(score), components=components, weights=policy.weights)
