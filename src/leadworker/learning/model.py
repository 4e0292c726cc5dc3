"""A learned model as data, and scoring with it: a dot product and a sigmoid, no scikit-learn.

A model (:class:`LearnedModel`) is what training stored as JSON: the feature names, the logistic regression's
coefficients over standardized features, its intercept, the scaler's means and scales, and the vocabulary of
the one-hot encoded fields. At load the scaler is folded into the coefficients, so that scoring a lead is a sum
over its non-zero features::

    logit = b0 + sum(w_i * x_i)        w_i = coef_i / scale_i,   b0 = intercept - sum(coef_i * mean_i / scale_i)
    P(won) = 1 / (1 + exp(-logit))     score = round(100 * P(won))

Explanations: ``b0`` is the logit of a lead with none of the features (every one zero), the *baseline*; each
feature moves the logit by ``c_i = w_i * x_i``. In score points, feature ``i`` contributes
``c_i * (100 * P - 100 * P0) / (logit - b0)`` (``P0``: the baseline's probability). This is the integrated
gradient of the score along the straight line from the baseline to the lead: every contribution keeps its
sign, and the baseline plus the contributions add up to the score exactly (before rounding).
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

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.coefficients) == len(self.means) == len(self.scales) == n):
            raise ModelError("features, coefficients, means and scales differ in length")
        if any(not s > 0 for s in self.scales):
            raise ModelError("a scale is not positive")
        weights = {name: c / s for name, c, s in zip(self.features, self.coefficients, self.scales, strict=True)}
        baseline = self.intercept - sum(
            c * m / s for c, m, s in zip(self.coefficients, self.means, self.scales, strict=True)
        )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "baseline", baseline)

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

    def contributions(self, features: FeatureSet) -> dict[str, tuple[float, float]]:
        """Feature name → ``(value, logit contribution)`` for the model's features that are non-zero."""
        encoded = encode(features, self.vocabulary)
        weights = self.weights
        return {name: (x, weights[name] * x) for name, x in encoded.items() if name in weights and x}

    def probability(self, features: FeatureSet) -> float:
        """P(won) of a lead with ``features``."""
        return sigmoid(self.baseline + sum(c for _, c in self.contributions(features).values()))

    def score(self, features: FeatureSet, hot: float, warm: float) -> LearnedScore:
        """The learned score of a lead: ``round(100 * P(won))``, its segment by the probability thresholds, and
        the points each feature contributes (see the module's docstring)."""
        parts = self.contributions(features)
        logit = self.baseline + sum(c for _, c in parts.values())
        p, p0 = sigmoid(logit), sigmoid(self.baseline)
        delta = logit - self.baseline
        # d(100 P)/d(logit) averaged over the path; at a zero path its limit, the slope at the baseline.
        slope = 100 * (p - p0) / delta if abs(delta) > 1e-9 else 100 * p0 * (1 - p0)
        components: dict[str, dict[str, Any]] = {
            BASELINE: {
                "value": None,
                "weight": round(self.baseline, 4),
                "points": round(100 * p0, 1),
                "detail": f"model {self.model_id}: a lead with none of these signals",
                "model": self.model_id,
            }
        }
        for name, (x, c) in parts.items():
            components[name] = {
                "value": round(x, 3),
                "weight": round(self.weights[name], 4),
                "points": round(c * slope, 1),
                "detail": label(name, x),
            }
        segment = "hot" if p >= hot else "warm" if p >= warm else "cold"
        return LearnedScore(score=round(100 * p), segment=segment, probability=p, components=components)
