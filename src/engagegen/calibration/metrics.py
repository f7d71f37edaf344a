"""Predictive validation on held-out cascades: how well a forecast says who engages, and how many.

Every (held-out cascade, user other than its author) pair is one prediction. A forecast is handed
over per cascade as *levels*: probabilities with how many engaged (positives) and not engaged
(negatives) users got each, so that a forecast giving most users one floor value costs nothing.
From the levels:

- ROC-AUC: the probability that an engaged pair gets a higher forecast than a non-engaged one
  (ties count half), exact;
- log-loss: nats per cascade, the sum over its users of ``-log`` of the probability given to what
  happened;
- the calibration curve: forecast against observed frequency in bins of forecast probability;

and per cascade, the predicted size (the expected number engaged) against the observed one
(mean absolute error, and mean absolute log ratio ``|log((1 + predicted) / (1 + observed))|``),
and the Jaccard similarity of the predicted engaged set (the ``round(predicted size)`` users most
likely to engage) with the observed one.

>>> acc = Accumulator()
>>> acc.add_levels([0.9, 0.1], [1, 0], [0, 2])  # one cascade: a user at 0.9 engaged, two at 0.1 did not
>>> acc.add_cascade(observed_size=1, predicted_size=1.1, jaccard=1.0)
>>> acc.add_levels([0.2], [1], [1])
>>> acc.add_cascade(observed_size=1, predicted_size=0.4, jaccard=0.0)
>>> m = acc.metrics()
>>> round(m["roc_auc"], 3), m["cascades"], round(m["size_mae"], 2)
(0.917, 2, 0.35)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Accumulator", "sparse_levels", "top_set_jaccard", "CALIBRATION_EDGES"]

# Bins of forecast probability for the calibration curve (forecasts of engagement are mostly tiny).
CALIBRATION_EDGES = np.array([0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0])


def sparse_levels(users: np.ndarray, q: np.ndarray, q0: float, observed: np.ndarray,
                  n_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The levels of a forecast giving ``users`` the probabilities ``q`` and everyone else of the
    ``n_candidates`` users ``q0``: one level per listed user, and one for the rest."""
    hit = np.isin(users, observed).astype(np.float64)
    misses = len(observed) - hit.sum()
    rest = n_candidates - len(users) - misses
    return (np.concatenate([q, [q0]]), np.concatenate([hit, [misses]]), np.concatenate([1.0 - hit, [rest]]))


def top_set_jaccard(users: np.ndarray, score: np.ndarray, size: float, observed: np.ndarray) -> float:
    """Jaccard similarity of the ``round(size)`` highest-scoring ``users`` (ties: the earlier listed)
    with the ``observed`` users; 1 when both are empty."""
    k = int(round(size))
    top = users[np.argsort(-score, kind="stable")[:k]]
    union = len(np.union1d(top, observed))
    return 1.0 if union == 0 else len(np.intersect1d(top, observed)) / union


@dataclass
class Accumulator:
    """Collects the levels, sizes and Jaccard similarities of one forecaster's held-out cascades."""

    q: list[np.ndarray] = field(default_factory=list)
    pos: list[np.ndarray] = field(default_factory=list)
    neg: list[np.ndarray] = field(default_factory=list)
    observed_sizes: list[float] = field(default_factory=list)
    predicted_sizes: list[float] = field(default_factory=list)
    jaccards: list[float] = field(default_factory=list)

    def add_levels(self, q: Sequence[float], pos: Sequence[float], neg: Sequence[float]) -> None:
        """Forecast levels: probabilities, and the engaged and not engaged pairs given each."""
        self.q.append(np.asarray(q, dtype=np.float64))
        self.pos.append(np.asarray(pos, dtype=np.float64))
        self.neg.append(np.asarray(neg, dtype=np.float64))

    def add_cascade(self, *, observed_size: float, predicted_size: float, jaccard: float) -> None:
        """One cascade's sizes and Jaccard similarity (NaN: the forecaster predicts no set)."""
        self.observed_sizes.append(float(observed_size))
        self.predicted_sizes.append(float(predicted_size))
        self.jaccards.append(float(jaccard))

    def _levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q, pos, neg = np.concatenate(self.q), np.concatenate(self.pos), np.concatenate(self.neg)
        keys, inverse = np.unique(q, return_inverse=True)
        return keys, np.bincount(inverse, weights=pos, minlength=len(keys)), np.bincount(inverse, weights=neg, minlength=len(keys))

    def roc(self) -> tuple[np.ndarray, np.ndarray]:
        """False and true positive rates as the threshold falls from the highest forecast."""
        _, pos, neg = self._levels()
        tpr = np.concatenate([[0.0], np.cumsum(pos[::-1]) / max(pos.sum(), 1e-300)])
        fpr = np.concatenate([[0.0], np.cumsum(neg[::-1]) / max(neg.sum(), 1e-300)])
        return fpr, tpr

    def calibration(self) -> list[dict[str, float]]:
        """Per bin of forecast probability: mean forecast, observed frequency and the pairs in it."""
        q, pos, neg = self._levels()
        n = pos + neg
        which = np.clip(np.searchsorted(CALIBRATION_EDGES, q, side="right") - 1, 0, len(CALIBRATION_EDGES) - 2)
        rows = []
        for b in np.unique(which).tolist():
            inside = which == b
            total = float(n[inside].sum())
            if total > 0:
                rows.append({"forecast": float((q[inside] * n[inside]).sum() / total), "observed": float(pos[inside].sum() / total),
                             "pairs": total})
        return rows

    def metrics(self) -> dict[str, float]:
        """ROC-AUC, log-loss per cascade, size errors and mean Jaccard over the held-out cascades."""
        q, pos, neg = self._levels()
        below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])  # negatives with a lower forecast
        auc = float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum())) if pos.sum() and neg.sum() else math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = -(pos * np.log(q) + neg * np.log1p(-q))
        loss = np.where((pos == 0) & (q == 0) | (neg == 0) & (q == 1), 0.0, loss)
        observed, predicted = np.array(self.observed_sizes), np.array(self.predicted_sizes)
        jaccard = np.array(self.jaccards)
        return {
            "cascades": len(observed),
            "roc_auc": auc,
            "log_loss": float(loss.sum() / len(observed)),
            "size_mae": float(np.abs(predicted - observed).mean()),
            "size_log_error": float(np.abs(np.log1p(predicted) - np.log1p(observed)).mean()),
            "predicted_size_mean": float(predicted.mean()),
            "observed_size_mean": float(observed.mean()),
            "jaccard": float(jaccard.mean()) if not np.isnan(jaccard).all() else math.nan,
        }
