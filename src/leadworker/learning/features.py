"""The features of a lead at scoring time: what a learned model reads, named so that a score can be explained.

:func:`extract` turns what the score stage sees (the lead's :class:`~leadworker.enrich.scoring.LeadProfile`, the
job's criteria and the rule score's components) into a :class:`FeatureSet`:

- ``values``: named numbers, the same names for every lead (:data:`NUMERIC_FEATURES`): the rule score and its
  components (with a flag where the job gave nothing to match), the best usable e-mail's kind, the best invalid
  one's kind and the e-mails' verification statuses, the phones' kinds, what the record holds, where it came
  from, and counts (e-mails, phones, categories, sources, social profiles, the description's length, on a log
  scale);
- ``categories``: values of open-ended fields (country, categories, legal form, top-level domain, directory,
  social networks),
  which a model one-hot encodes over the values it was trained with (at most ``learn_max_categories`` per field,
  the rest counted as ``(other)``).

Nothing here knows an outcome: the features are the same whether a lead was won or not. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from leadworker.enrich.scoring import COMPONENTS, EmailFacts, LeadProfile, ScoreResult

PHONE_KINDS = ("mobile", "fixed_line", "fixed_line_or_mobile", "voip", "toll_free", "other")
EMAIL_KINDS = ("direct", "role", "free", "role_elsewhere", "none")
EMAIL_STATUSES = ("safe", "risky", "invalid", "unverified")
SOURCE_KINDS = ("website", "directory", "inline", "other")
JOB_DEPENDENT = ("keywords", "industry", "geography")
"""Rule components that do not apply when the job gave nothing to match (their ``n/a`` flags)."""
CATEGORICAL = ("country", "category", "legal form", "tld", "directory", "social")
"""Open-ended fields, one-hot encoded by a model over the values it was trained with."""
OTHER = "(other)"
NONE = "(none)"
MAX_VALUE_LENGTH = 60


def _numeric_names() -> tuple[str, ...]:
    names = ["rule score"]
    names += [f"rule:{c}" for c in COMPONENTS]
    names += [f"rule:{c} n/a" for c in JOB_DEPENDENT]
    names += [f"email:{k}" for k in EMAIL_KINDS] + ["free-mail only"]
    names += [f"invalid email:{k}" for k in EMAIL_KINDS if k != "none"]
    names += [f"email status:{s}" for s in EMAIL_STATUSES]
    names += [f"phone:{k}" for k in PHONE_KINDS] + ["phone:none", "phone in lead's country"]
    names += ["has name", "has website", "has address", "has city", "has postal code", "has contact name"]
    names += ["has description", "has region"]
    names += [f"source:{k}" for k in SOURCE_KINDS] + ["provider data"]
    names += ["emails", "phones", "categories", "sources", "social profiles", "description length"]
    return tuple(names)


NUMERIC_FEATURES: tuple[str, ...] = _numeric_names()
"""Every numeric feature, in a fixed order (a model stores the names it uses)."""

_LABELS = {
    # name: (how it reads when the lead has it, how it reads when the lead has not)
    "rule:keywords n/a": ("job without keywords", "job with keywords"),
    "rule:industry n/a": ("job without industry", "job with an industry"),
    "rule:geography n/a": ("job without geography", "job with a geography"),
    "email:direct": ("a person's e-mail on the company domain", "no person's e-mail on the company domain"),
    "email:role": ("role e-mail on the company domain", "no role e-mail on the company domain"),
    "email:free": ("personal free-mail", "no personal free-mail"),
    "email:role_elsewhere": ("role e-mail on another domain", "no role e-mail on another domain"),
    "email:none": ("no usable e-mail", "a usable e-mail"),
    "free-mail only": ("free-mail only", "not only free-mail"),
    "invalid email:direct": ("invalid person's e-mail on the company domain", "no invalid person's e-mail"),
    "invalid email:role": ("invalid role e-mail on the company domain", "no invalid role e-mail"),
    "invalid email:free": ("invalid personal free-mail", "no invalid personal free-mail"),
    "invalid email:role_elsewhere": ("invalid role e-mail on another domain", "no invalid role e-mail elsewhere"),
    "email status:safe": ("e-mail verified safe", "no e-mail verified safe"),
    "email status:risky": ("risky e-mail", "no risky e-mail"),
    "email status:invalid": ("invalid e-mail", "no invalid e-mail"),
    "email status:unverified": ("unverified e-mail", "no unverified e-mail"),
    "phone:mobile": ("mobile phone", "no mobile phone"),
    "phone:fixed_line": ("fixed-line phone", "no fixed-line phone"),
    "phone:fixed_line_or_mobile": ("fixed-line or mobile phone", "no fixed-line or mobile phone"),
    "phone:voip": ("VoIP phone", "no VoIP phone"),
    "phone:toll_free": ("toll-free phone", "no toll-free phone"),
    "phone:other": ("other phone", "no other phone"),
    "phone:none": ("no phone", "a phone"),
    "phone in lead's country": ("phone in the lead's country", "no phone in the lead's country"),
    "has name": ("company name", "no company name"),
    "has website": ("website", "no website"),
    "has address": ("street address", "no street address"),
    "has city": ("city", "no city"),
    "has postal code": ("postal code", "no postal code"),
    "has contact name": ("named contact", "no named contact"),
    "has description": ("description", "no description"),
    "has region": ("region", "no region"),
    "source:website": ("found on its website", "not found on its website"),
    "source:directory": ("found in a directory", "not found in a directory"),
    "source:inline": ("imported", "not imported"),
    "source:other": ("other source", "no other source"),
    "provider data": ("provider data", "no provider data"),
}
_MEASURES = {
    "rule score": "rule score",
    "rule:completeness": "completeness",
    "rule:keywords": "keyword match",
    "rule:industry": "industry match",
    "rule:geography": "geography match",
    "rule:contact_quality": "contact quality",
    "rule:source_quality": "source quality",
}
"""Features measured from 0 to 1 (read with their value: ``industry match 1.0``)."""
_COUNTS = {
    "emails": ("e-mail", "e-mails"),
    "phones": ("phone", "phones"),
    "categories": ("category", "categories"),
    "sources": ("source", "sources"),
    "social profiles": ("social profile", "social profiles"),
    "description length": ("character of description", "characters of description"),
}
"""Counts, stored as log(1 + n) (read as the count: ``3 e-mails``)."""


@dataclass(frozen=True)
class FeatureSet:
    """A lead's features: named numbers and the values of open-ended fields."""

    values: dict[str, float] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _clip(value: str) -> str:
    return value.strip().lower()[:MAX_VALUE_LENGTH] or NONE


def _best_email_kind(p: LeadProfile, emails: list[EmailFacts]) -> str:
    rank = {"direct": 4, "role": 3, "free": 2, "role_elsewhere": 1}
    best = "none"
    site = p.domain
    for email in emails:
        domain = email.address.rpartition("@")[2]
        # The rule score asks the public suffix list; a suffix match on the lead's own registrable domain says
        # the same for its mail hosts (mail.acme.de) at a fraction of the cost, on every lead scored.
        own = not email.free and (site is None or domain == site or domain.endswith("." + site))
        kind = "direct" if own and not email.role else "role" if own else "free" if not email.role else "role_elsewhere"
        if best == "none" or rank[kind] > rank[best]:
            best = kind
    return best


def _email_features(p: LeadProfile) -> dict[str, float]:
    out: dict[str, float] = {}
    usable = [e for e in p.emails if e.status != "invalid"]
    out[f"email:{_best_email_kind(p, usable)}"] = 1.0
    if usable and all(e.free for e in usable):
        out["free-mail only"] = 1.0
    # The same read over the addresses verified invalid, kept apart from the usable ones (not a copy of them,
    # which would split one effect between two features): where DNS answers no name (a closed network, a
    # resolver that denies everything) every address is invalid, and what the site wrote still says something.
    invalid = [e for e in p.emails if e.status == "invalid"]
    if invalid:
        out[f"invalid email:{_best_email_kind(p, invalid)}"] = 1.0
    for email in p.emails:
        status = email.status if email.status in ("safe", "risky", "invalid") else "unverified"
        out[f"email status:{status}"] = 1.0
    return out


def _phone_features(p: LeadProfile) -> dict[str, float]:
    if not p.phones:
        return {"phone:none": 1.0}
    out: dict[str, float] = {}
    for phone in p.phones:
        kind = phone.type if phone.type in PHONE_KINDS else "other"
        out[f"phone:{kind}"] = 1.0
        if p.country and phone.region == p.country:
            out["phone in lead's country"] = 1.0
    return out


def _record_features(p: LeadProfile) -> dict[str, float]:
    present = {
        "has name": p.company_name,
        "has website": p.domain or p.website,
        "has address": p.address,
        "has city": p.city,
        "has postal code": p.postal_code,
        "has contact name": p.contact_name,
        "has description": p.description,
        "has region": p.region,
    }
    out = {name: 1.0 for name, value in present.items() if value}
    kinds = {t.split(":", 1)[0] for t in p.source_types}
    for kind in kinds:
        out[f"source:{kind if kind in SOURCE_KINDS else 'other'}"] = 1.0
    if p.providers:
        out["provider data"] = 1.0
    counts = {
        "emails": len(p.emails),
        "phones": len(p.phones),
        "categories": len(p.categories),
        "sources": sum(p.source_types.values()),
        "social profiles": len(p.socials),
        "description length": len(p.description or ""),
    }
    out.update({name: math.log1p(n) for name, n in counts.items() if n})
    return out


def _categories(p: LeadProfile) -> dict[str, tuple[str, ...]]:
    domain = p.domain or ""
    directories = sorted({t.split(":", 1)[1] for t in p.source_types if t.startswith("directory:")})
    return {
        "country": (p.country.upper() if p.country else NONE,),
        "category": tuple(dict.fromkeys(_clip(c) for c in p.categories)) or (NONE,),
        "legal form": (_clip(p.legal_form) if p.legal_form else NONE,),
        "tld": (domain.rsplit(".", 1)[-1].lower() if "." in domain else NONE,),
        "directory": tuple(_clip(d) for d in directories) or (NONE,),
        "social": tuple(_clip(s) for s in p.socials) or (NONE,),
    }


def extract(profile: LeadProfile, rule: ScoreResult) -> FeatureSet:
    """The features of ``profile``, ``rule`` being its rule score for the job (whose components carry the job's
    keywords, industry and geography)."""
    values: dict[str, float] = {"rule score": rule.score / 100}
    for name, component in rule.components.items():
        if component.value is None:
            values[f"rule:{name} n/a"] = 1.0
        elif component.value:
            values[f"rule:{name}"] = float(component.value)
    values.update(_email_features(profile))
    values.update(_phone_features(profile))
    values.update(_record_features(profile))
    return FeatureSet({k: v for k, v in values.items() if v}, _categories(profile))


def label(name: str, value: float) -> str:
    """How a feature with ``value`` reads in an explanation: ``mobile phone`` or ``no mobile phone``, ``country DE``
    or ``not country DE``, ``3 e-mails``, ``industry match 0.8``."""
    if "=" in name:
        group, _, item = name.partition("=")
        return f"{group} {item}" if value else f"not {group} {item}"
    if name in _COUNTS:
        n = round(math.expm1(value))
        return f"{n} {_COUNTS[name][0 if n == 1 else 1]}"
    if name in _MEASURES:
        return f"{_MEASURES[name]} {value:.2f}"
    present, absent = _LABELS.get(name, (name, f"no {name}"))
    return present if value else absent


def title(name: str) -> str:
    """A feature's name as a reader knows it (``mobile phone``, ``country DE``, ``e-mails``, ``industry match``)."""
    if "=" in name:
        return name.replace("=", " ", 1)
    if name in _COUNTS:
        return _COUNTS[name][1]
    return _MEASURES.get(name) or _LABELS.get(name, (name, ""))[0]


def one_hot_names(vocabulary: Mapping[str, tuple[str, ...] | list[str]]) -> list[str]:
    """The feature names of one-hot encoded fields over ``vocabulary`` (each field's ``(other)`` last)."""
    return [f"{group}={value}" for group in CATEGORICAL for value in [*vocabulary.get(group, ()), OTHER]]


def encode(features: FeatureSet, vocabulary: Mapping[str, tuple[str, ...] | list[str]]) -> dict[str, float]:
    """``features`` as one sparse mapping of feature name to value: numbers as they are, open-ended fields
    one-hot over ``vocabulary`` (a value it does not hold counts as ``(other)``; ``(none)`` only if it holds it)."""
    out = dict(features.values)
    for group in CATEGORICAL:
        known = vocabulary.get(group, ())
        for value in features.categories.get(group, ()):
            if value in known:
                out[f"{group}={value}"] = 1.0
            elif value != NONE:
                out[f"{group}={OTHER}"] = 1.0
    return out
