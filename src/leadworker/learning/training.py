"""Training a model on recorded outcomes, and measuring it beside the rule score on the same held-out split.

Examples are leads whose latest outcome is ``won`` (the positive class), ``lost`` or ``bad_data``; a lead whose
latest outcome is ``contacted`` is undecided and left out. They are ordered by the outcome's time: the newest
``test_fraction`` is held out, the model is fitted on the older ones (a model is judged on outcomes that came
after everything it learnt from, as it will be used).

The model is a logistic regression (scikit-learn) over standardized features, with balanced class weights and
an L1 (lasso) penalty whose strength (C, thirteen values from 0.001 to 10) is chosen by stratified 5-fold
cross-validation on the training part (by AUC); its intercept is then shifted by the training part's prior
log-odds, so that the probabilities are not those of a world with as many wins as losses. The lasso, not a
ridge: of some eighty features an outcome usually depends on a few, many overlap (the rule score and its
components, the country and the top-level domain, an address and a postal code), and a ridge penalty strong
enough not to overfit the rest spreads weight over every feature that correlates with the outcome by chance,
which ranks the held-out leads worse; the lasso keeps the few (and so is easier to read: the others weigh 0).
It is stored as fitted on the training part, so the held-out figures are the stored model's own. The figures: ROC AUC,
average precision, Brier score and a calibration table (ten bins of predicted probability: how many leads, the
mean prediction, the share won), for the model and for the rule score (score / 100 as a probability).

scikit-learn and numpy are imported inside the functions that need them: scoring never imports this module's
dependencies (``pip install leadworker[ml]`` brings them).
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadworker.learning.features import CATEGORICAL, NUMERIC_FEATURES, FeatureSet, encode, one_hot_names
from leadworker.learning.model import LearnedModel

MIN_CATEGORY_COUNT = 3
"""A value of an open-ended field becomes a feature of its own when this many training leads have it."""
CALIBRATION_BINS = 10


class NotEnoughOutcomes(Exception):
    """Too few outcomes of a class to train (or to hold some out): the message says which."""


@dataclass(frozen=True)
class Example:
    """A lead with a decided outcome, as it is scored now."""

    lead_id: int
    at: dt.datetime
    won: bool
    features: FeatureSet
    rule_score: int


@dataclass(frozen=True)
class Trained:
    """A fitted model (its ``model_id`` is 0 until stored) and what it measured."""

    model: LearnedModel
    report: dict[str, Any]
    """``metrics``, ``rule_score``, ``counts``, ``window``, ``regularization``: stored with the model."""
    test: tuple[Example, ...]


def split(
    examples: Sequence[Example], *, min_per_class: int, test_fraction: float
) -> tuple[list[Example], list[Example]]:
    """``(train, test)``: time-ordered, the newest ``test_fraction`` held out. Raises :class:`NotEnoughOutcomes`."""
    ordered = sorted(examples, key=lambda e: (e.at, e.lead_id))
    won = sum(e.won for e in ordered)
    others = len(ordered) - won
    if won < min_per_class or others < min_per_class:
        raise NotEnoughOutcomes(
            f"not enough outcomes to train: {won} won and {others} lost or bad_data, at least {min_per_class} of "
            "each are needed (LEADWORKER_LEARN_MIN_OUTCOMES)"
        )
    n_test = max(1, round(len(ordered) * test_fraction))
    train, test = ordered[:-n_test], ordered[-n_test:]
    for name, part in (("training", train), ("held-out", test)):
        positives = sum(e.won for e in part)
        if positives == 0 or positives == len(part):
            raise NotEnoughOutcomes(
                f"the {name} part ({len(part)} outcomes, oldest first) holds only "
                f"{'won' if positives else 'lost or bad_data'} outcomes; record more of the other kind"
            )
    return train, test


def vocabulary(examples: Sequence[Example], max_values: int) -> dict[str, tuple[str, ...]]:
    """Per open-ended field, its most frequent values in ``examples`` (at most ``max_values``, each held by at
    least :data:`MIN_CATEGORY_COUNT` leads)."""
    out: dict[str, tuple[str, ...]] = {}
    for group in CATEGORICAL:
        counts = Counter(v for e in examples for v in set(e.features.categories.get(group, ())))
        common = sorted((v for v, n in counts.items() if n >= MIN_CATEGORY_COUNT), key=lambda v: (-counts[v], v))
        out[group] = tuple(common[:max_values])
    return out


def _matrix(examples: Sequence[Example], names: Sequence[str], vocab: dict[str, tuple[str, ...]]) -> Any:
    import numpy as np

    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(examples), len(names)))
    for row, example in enumerate(examples):
        for name, value in encode(example.features, vocab).items():
            column = index.get(name)
            if column is not None:
                matrix[row, column] = value
    return matrix


def measure(labels: Sequence[bool], probabilities: Sequence[float]) -> dict[str, Any]:
    """AUC, average precision, Brier score and the calibration table of ``probabilities`` against ``labels``."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = [int(v) for v in labels]
    p = [min(1.0, max(0.0, float(v))) for v in probabilities]
    bins: list[dict[str, Any]] = []
    for b in range(CALIBRATION_BINS):
        low, high = b / CALIBRATION_BINS, (b + 1) / CALIBRATION_BINS
        members = [
            (pi, yi)
            for pi, yi in zip(p, y, strict=True)
            if low <= pi < high or (b == CALIBRATION_BINS - 1 and pi == 1.0)
        ]
        if members:
            bins.append(
                {
                    "from": low,
                    "to": high,
                    "count": len(members),
                    "predicted": round(sum(m[0] for m in members) / len(members), 4),
                    "observed": round(sum(m[1] for m in members) / len(members), 4),
                }
            )
    return {
        "auc": round(float(roc_auc_score(y, p)), 4),
        "average_precision": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "count": len(y),
        "won": sum(y),
        "calibration": bins,
    }


def _l1(estimator: type) -> dict[str, Any]:
    """The L1 penalty in the installed scikit-learn's words: ``l1_ratio=1`` since 1.8 deprecated ``penalty``
    (which 1.4 to 1.7 need: there ``l1_ratio`` alone is ignored)."""
    penalty = inspect.signature(estimator).parameters.get("penalty")
    if penalty is None or penalty.default == "deprecated":  # deprecated, or gone in a later release
        return {"l1_ratio": 1.0}
    return {"penalty": "l1"}


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def train(examples: Sequence[Example], *, min_per_class: int, test_fraction: float, max_categories: int) -> Trained:
    """Fit a model on ``examples`` and measure it and the rule score on the held-out newest outcomes."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_part, test_part = split(examples, min_per_class=min_per_class, test_fraction=test_fraction)
    vocab = vocabulary(train_part, max_categories)
    candidates = [*NUMERIC_FEATURES, *one_hot_names(vocab)]
    matrix = _matrix(train_part, candidates, vocab)
    varying = [i for i in range(len(candidates)) if float(np.ptp(matrix[:, i])) > 0]
    names = [candidates[i] for i in varying]
    x_train = matrix[:, varying]
    y_train = np.array([int(e.won) for e in train_part])
    folds = max(2, min(5, int(y_train.sum()), int(len(y_train) - y_train.sum())))
    # The scaler is inside the pipeline, so that each fold is scaled by its own training part.
    # liblinear visits the features in a random order: seeded, the same outcomes train the same model.
    lasso = LogisticRegression(
        class_weight="balanced", solver="liblinear", max_iter=5000, random_state=0, **_l1(LogisticRegression)
    )
    search = GridSearchCV(
        make_pipeline(StandardScaler(), lasso),
        {"logisticregression__C": list(np.logspace(-3, 1, 13))},
        scoring="roc_auc",
        cv=StratifiedKFold(folds, shuffle=True, random_state=0),
    ).fit(x_train, y_train)
    scaler, fitted = search.best_estimator_[0], search.best_estimator_[-1]
    model = LearnedModel(
        model_id=0,
        features=tuple(names),
        coefficients=tuple(float(c) for c in fitted.coef_[0]),
        # Balanced class weights fit the log-odds of a 50:50 world; shifting the intercept by the training
        # part's prior log-odds (King & Zeng's prior correction) makes 100 x P(won) a probability again,
        # without changing any ranking (AUC).
        intercept=float(fitted.intercept_[0]) + math.log(y_train.sum() / (len(y_train) - y_train.sum())),
        means=tuple(float(m) for m in scaler.mean_),
        scales=tuple(float(s) for s in scaler.scale_),
        vocabulary=vocab,
    )
    labels = [e.won for e in test_part]
    report = {
        "metrics": measure(labels, [model.probability(e.features) for e in test_part]),
        "rule_score": measure(labels, [e.rule_score / 100 for e in test_part]),
        "counts": {
            "outcomes": len(examples),
            "won": sum(e.won for e in examples),
            "not_won": sum(not e.won for e in examples),
            "train": len(train_part),
            "test": len(test_part),
            "features": len(names),
        },
        "window": {
            "train_from": _iso(train_part[0].at),
            "train_to": _iso(train_part[-1].at),
            "test_from": _iso(test_part[0].at),
            "test_to": _iso(test_part[-1].at),
        },
        "regularization": {
            "C": float(fitted.C),
            "folds": folds,
            "cv_auc": round(float(search.best_score_), 4),
            "class_weight": "balanced",
            "penalty": "l1",
        },
    }
    return Trained(model=model, report=report, test=tuple(test_part))


def auc_on(model: LearnedModel, examples: Sequence[Example]) -> float:
    """``model``'s ROC AUC on ``examples`` (the active model on a candidate's held-out part)."""
    from sklearn.metrics import roc_auc_score

    score = roc_auc_score([int(e.won) for e in examples], [model.probability(e.features) for e in examples])
    return round(float(score), 4) if not math.isnan(score) else 0.0
