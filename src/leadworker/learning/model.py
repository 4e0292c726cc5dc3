"""A learned model as data, and scoring with it: a dot product and a sigmoid, no scikit-learn.

A model (:class:`LearnedModel`) is what training stored as JSON: the feature names, the logistic regression's
coefficients over standardized features, its intercept, the scaler's means and scales, and the vocabulary of
the one-hot encoded fields. At load the scaler is folded into the coefficients, so that scoring a lead is::

    logit = intercept + sum(w_i * (x_i - mean_i))        w_i = coef_i / scale_i
    P(won) = 1 / (1 + exp(-logit))                       score = round(100 * P(won))

Explanations: the intercept is the logit of the *average lead* (every feature at its training mean), the
baseline; each feature moves the logit by ``c_i = w_i * (x_i - mean_i)`` — a lead with a mobile phone where
most have none gains, one without a named contact where most have one loses. In score points, feature ``i``
contributes ``c_i * (100 * P - 100 * P0) / (logit - intercept)`` (``P0``: the baseline's probability). This is
the integrated gradient of the score along the straight line from the average lead to this one: every
contribution keeps its sign, and the baseline plus the contributions add up to the score exactly (before
rounding). The eight largest contributions of at least half a point are stored one by one, the rest summed
into one ``other`` component.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadworker.learning.features import FeatureSet, encode, label

MODEL_FORMAT = 1
BASELINE = "baseline"
"""The component of a learned score holding the baseline's points (see the module's docstring)."""
OTHER = "other"
"""The component summing the points of the features not shown one by one."""
MIN_POINTS = 0.5
MAX_SHOWN = 8
LABEL_CACHE = 10_000
"""Features a learned score's components show one by one: the largest, each of at least :data:`MIN_POINTS`."""


class ModelError(ValueError):
    """A stored model that cannot be read (a damaged or foreign body)."""


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@dataclass(frozen=True)
class LearnedScore:
    """A lead's learned score: what the score stage stores, like a rule score."""

    score: int
    segment: str
    probability: float
    components: dict[str, dict[str, Any]]

    def components_json(self) -> dict[str, Any]:
        """Stored beside the score: the baseline and each non-zero feature's value, weight, points and label."""
        return self.components


@dataclass(frozen=True)
class LearnedModel:
    """A stored model, ready to score (the scaler folded into the weights)."""

    model_id: int
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    vocabulary: dict[str, tuple[str, ...]]
    weights: dict[str, float] = field(init=False)
    baseline: float = field(init=False)
    _rounded: dict[str, float] = field(init=False, repr=False, compare=False)
    _labels: dict[tuple[str, float], str] = field(init=False, repr=False, compare=False)
    _terms: tuple[tuple[str, float, float], ...] = field(init=False, repr=False, compare=False)
    _baseline_part: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.coefficients) == len(self.means) == len(self.scales) == n):
            raise ModelError("features, coefficients, means and scales differ in length")
        if any(not s > 0 for s in self.scales) or not all(map(math.isfinite, (*self.coefficients, *self.means))):
            raise ModelError("a scale is not positive, or a number is not finite")
        weights = {name: c / s for name, c, s in zip(self.features, self.coefficients, self.scales, strict=True)}
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "baseline", self.intercept)
        object.__setattr__(self, "_rounded", {name: round(w, 4) for name, w in weights.items()})
        object.__setattr__(self, "_labels", {})
        baseline_part = {
            "value": None,
            "weight": round(self.intercept, 4),
            "points": round(100 * sigmoid(self.intercept), 1),
            "detail": f"model {self.model_id}: the average lead",
            "model": self.model_id,
        }
        object.__setattr__(self, "_baseline_part", baseline_part)
        object.__setattr__(
            self, "_terms", tuple((n, m, weights[n]) for n, m in zip(self.features, self.means, strict=True))
        )

    def _label(self, name: str, x: float) -> str:
        """:func:`label`, remembered (a feature takes few values: present or not, small counts)."""
        text = self._labels.get((name, x))
        if text is None:
            text = label(name, x)
            if len(self._labels) < LABEL_CACHE:
                self._labels[(name, x)] = text
        return text

    @classmethod
    def from_json(cls, model_id: int, body: Mapping[str, Any]) -> LearnedModel:
        """The model stored as ``body`` (raises :class:`ModelError` if it is not one)."""
        try:
            if body.get("format") != MODEL_FORMAT:
                raise ModelError(f"model format {body.get('format')!r} is not {MODEL_FORMAT}")
            return cls(
                model_id=model_id,
                features=tuple(str(f) for f in body["features"]),
                coefficients=tuple(float(c) for c in body["coefficients"]),
                intercept=float(body["intercept"]),
                means=tuple(float(m) for m in body["means"]),
                scales=tuple(float(s) for s in body["scales"]),
                vocabulary={str(k): tuple(str(v) for v in vs) for k, vs in body["vocabulary"].items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"model {model_id}: not a model body ({exc!r})") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "features": list(self.features),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "means": list(self.means),
            "scales": list(self.scales),
            "vocabulary": {k: list(v) for k, v in self.vocabulary.items()},
        }

    def _parts(self, features: FeatureSet) -> tuple[float, list[tuple[float, float, str, float]]]:
        """The logit of a lead, and ``(|c|, c, name, value)`` of every feature (``c``: its logit contribution)."""
        encoded = encode(features, self.vocabulary)
        logit = self.baseline
        parts = []
        for name, mean, weight in self._terms:
            x = encoded.get(name, 0.0)
            c = weight * (x - mean)
            logit += c
            parts.append((abs(c), c, name, x))
        return logit, parts

    def contributions(self, features: FeatureSet) -> dict[str, tuple[float, float]]:
        """Feature name → ``(value, logit contribution against the average lead)``, for every model feature."""
        return {name: (x, c) for _, c, name, x in self._parts(features)[1]}

    def probability(self, features: FeatureSet) -> float:
        """P(won) of a lead with ``features``."""
        return sigmoid(self._parts(features)[0])

    def score(self, features: FeatureSet, hot: float, warm: float) -> LearnedScore:
        """The learned score of a lead: ``round(100 * P(won))``, its segment by the probability thresholds, and
        the points each feature contributes (see the module's docstring)."""
        logit, parts = self._parts(features)
        p, p0 = sigmoid(logit), sigmoid(self.baseline)
        delta = logit - self.baseline
        # d(100 P)/d(logit) averaged over the path; at a zero path its limit, the slope at the baseline.
        slope = 100 * (p - p0) / delta if abs(delta) > 1e-9 else 100 * p0 * (1 - p0)
        components: dict[str, dict[str, Any]] = {BASELINE: dict(self._baseline_part)}
        ranked = sorted(parts, reverse=True)
        shown = [item for item in ranked[:MAX_SHOWN] if item[0] * slope >= MIN_POINTS]
        for _, c, name, x in shown:
            components[name] = {
                "value": x if x in (0.0, 1.0) else round(x, 3),
                "weight": self._rounded[name],
                "points": round(c * slope, 1),
                "detail": self._label(name, x),
            }
        if len(shown) < len(ranked):
            rest = ranked[len(shown) :]
            components[OTHER] = {
                "value": None,
                "weight": None,
                "points": round(sum(item[1] for item in rest) * slope, 1),
                "detail": f"{len(rest)} other feature{'s' if len(rest) > 1 else ''}",
            }
        segment = "hot" if p >= hot else "warm" if p >= warm else "cold"
        return LearnedScore(score=round(100 * p), segment=segment, probability=p, components=components)
