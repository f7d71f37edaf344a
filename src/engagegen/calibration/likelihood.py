"""The scores a calibration minimises: per-user log-loss or Brier score of Monte Carlo marginals.

For a cascade with source a and message s, a model gives every other user v a probability q_v of
engaging; the observed cascade says y_v (1: engaged). The scores of the cascade are

    log-loss = - sum over v != a of [ y_v log q_v + (1 - y_v) log(1 - q_v) ]     (nats)
    Brier    =   sum over v != a of (y_v - q_v)^2

sums of strictly proper scores: the expectation under the true probabilities is smallest when q_v
is the true probability, so the true parameters minimise the expected score of a model family that
holds them (the log-loss is the independence log-likelihood; the exact likelihood of an unordered
engaged set is intractable for cascade models, its marginals are not).

q_v comes from R Monte Carlo runs with common random numbers (the same coins for every parameter
value), conditioned on the cascade having at least ``min_size`` engaged users as the data do.
With ``min_size == 1`` it is the mean over runs of v's hazard sum (:mod:`engagegen.engagement._spread`)
divided by the exact probability that anyone engages; otherwise the share of the runs reaching
``min_size`` in which v engaged. Both estimate q_v and (from sums of squares) q_v^2 without bias,
so the Brier score's estimate is unbiased. The log-loss scores the forecast
``(1 - 0.01) q_v + 0.01 * base_rate``, never 0 or 1. Runs stop at ``cap`` engaged users (twice the
largest observed cascade), and a cascade whose first 8 runs mostly reach it gets no more: only
parameter values predicting cascades far larger than any observed do that, and they score far
worse anyway; this bounds the cost of exploring them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engagegen.calibration import _kernels
from engagegen.calibration.cascades import ObservedCascades
from engagegen.calibration.models import BuiltinModel, CustomModel
from engagegen.engagement import LinearThreshold
from engagegen.network.graph import SocialNetwork

__all__ = ["Scorer", "Marginals", "default_cap"]


def default_cap(cascades: ObservedCascades, n_users: int) -> int:
    """Runs stop at twice the largest observed cascade (at least 100 users, at most everyone)."""
    return int(min(n_users, max(100, 2 * int(cascades.sizes.max()))))


@dataclass(frozen=True)
class Marginals:
    """One cascade's forecast: ``users`` engage with probabilities ``q``, every other user but the
    source with ``q0``; ``size`` the expected number engaged (given at least ``min_size``)."""

    users: np.ndarray
    q: np.ndarray
    q0: float
    size: float


class Scorer:
    """Scores parameter values of a model on observed cascades over one set of opinions.

    opinions: every user's opinion; overrides: per engaged entry of ``cascades`` (aligned with
    ``cascades.users``) the opinion that user has while its cascade is simulated, NaN to keep the
    shared one (leave-one-out opinions, :meth:`CascadeOpinions.leave_one_out`).
    """

    def __init__(self, network: SocialNetwork, cascades: ObservedCascades, opinions: np.ndarray, overrides: np.ndarray | None = None,
                 *, base_rate: float, min_size: int = 1, seed: int = 0, cap: int | None = None) -> None:
        self.network = network
        self.cascades = cascades
        self.opinions = np.ascontiguousarray(opinions, dtype=np.float64)
        self.overrides = np.full(len(cascades.users), np.nan) if overrides is None else np.asarray(overrides, dtype=np.float64)
        self.floor = _kernels.MIX * float(base_rate)
        self.min_size = int(min_size)
        self.seed = np.uint64(seed)
        self.cap = np.int64(default_cap(cascades, network.n_users) if cap is None else cap)
        self._weights: np.ndarray | None = None
        self._workspaces: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _lt_weights(self, spec: BuiltinModel) -> np.ndarray:
        if spec.kind != _kernels.LT:
            return np.zeros(1)
        if self._weights is None:
            self._weights = LinearThreshold().edge_weights(self.network)
        return self._weights

    def _threads(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._workspaces is None:
            k, n = _kernels.threads(), self.network.n_users
            self._workspaces = (np.zeros((k, _kernels.INT_ROWS, n), np.int64), np.zeros((k, _kernels.FLOAT_ROWS, n)), np.zeros((k, n)))
        return self._workspaces

    def scores(self, spec: BuiltinModel | CustomModel, values: dict[str, float], chosen: np.ndarray,
               n_runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Brier score, log-loss (nats) and expected size of each cascade in ``chosen`` under ``values``."""
        chosen = np.asarray(chosen, dtype=np.int64)
        if isinstance(spec, CustomModel):
            out = [self._protocol_marginals(spec, values, int(c)) for c in chosen.tolist()]
            both = np.array([self._scores(m, int(c)) for m, c in zip(out, chosen.tolist())]).reshape(-1, 2)
            return both[:, 0], both[:, 1], np.array([m.size for m in out])
        ws, fs, copies = self._threads()
        ws[:] = 0  # stamps of an earlier call would collide with this call's
        brier, loss, size = np.empty(len(chosen)), np.empty(len(chosen)), np.empty(len(chosen))
        c = self.cascades
        _kernels.cascade_scores(spec.kind, spec.kernel_params(values), self.network.indptr, self.network.indices, self._lt_weights(spec),
                                self.opinions, c.sources, c.messages, c.indptr, c.users, self.overrides, chosen, int(n_runs),
                                self.seed, self.min_size, self.cap, self.floor, ws, fs, copies, brier, loss, size)
        return brier, loss, size

    def marginals(self, spec: BuiltinModel | CustomModel, values: dict[str, float], chosen: np.ndarray, n_runs: int) -> list[Marginals]:
        """The forecast of every cascade in ``chosen`` (for the validation metrics)."""
        if isinstance(spec, CustomModel):
            return [self._protocol_marginals(spec, values, int(c)) for c in np.asarray(chosen).tolist()]
        ws, fs = _kernels.workspace(self.network.n_users)
        opinions = self.opinions.copy()
        params, weights = spec.kernel_params(values), self._lt_weights(spec)
        out, tag, c = [], 0, self.cascades
        for i in np.asarray(chosen).tolist():
            lo, hi = c.indptr[i], c.indptr[i + 1]
            users, q, tag = _kernels.cascade_marginal(
                spec.kind, params, self.network.indptr, self.network.indices, weights, opinions, c.sources[i], c.messages[i],
                c.users[lo:hi], self.overrides[lo:hi], int(n_runs), self.seed, self.min_size, self.cap, ws, fs, tag)
            out.append(Marginals(users, (1.0 - _kernels.MIX) * np.clip(q, 0.0, 1.0) + self.floor, self.floor, float(q.sum())))
        return out

    def _protocol_marginals(self, spec: CustomModel, values: dict[str, float], c: int) -> Marginals:
        """A protocol model's marginals from ``simulate`` (its activation probabilities, or its
        active users), mixed with the background engagement as the built-in models' are."""
        cas = self.cascades
        lo, hi = cas.indptr[c], cas.indptr[c + 1]
        opinions = self.opinions.copy()
        swap = ~np.isnan(self.overrides[lo:hi])
        opinions[cas.users[lo:hi][swap]] = self.overrides[lo:hi][swap]
        model = spec.build(values)
        result = model.simulate(self.network.with_opinions(opinions), int(cas.sources[c]), float(cas.messages[c]))
        prob = result.extra.get("activation_probability") if result.extra else None
        if prob is None:
            prob = np.zeros(self.network.n_users)
            prob[np.asarray(result.active, dtype=np.int64)] = 1.0
        prob = np.asarray(prob, dtype=np.float64).copy()
        prob[int(cas.sources[c])] = 0.0
        users = np.flatnonzero(prob > 0)
        return Marginals(users, (1.0 - _kernels.MIX) * prob[users] + self.floor, self.floor, float(result.engaged))

    def _scores(self, m: Marginals, c: int) -> tuple[float, float]:
        """Brier score (of the model's own probabilities) and log-loss of one protocol forecast."""
        observed = self.cascades.engaged(c)
        hit = np.isin(m.users, observed)
        misses = len(observed) - int(hit.sum())
        rest = self.network.n_users - 1 - len(m.users) - misses
        raw = (m.q - self.floor) / (1.0 - _kernels.MIX)
        brier = float(misses + ((1.0 - raw[hit]) ** 2).sum() + (raw[~hit] ** 2).sum())
        loss = float(-np.log(m.q[hit]).sum() - np.log1p(-m.q[~hit]).sum() - misses * np.log(m.q0) - rest * np.log1p(-m.q0))
        return brier, loss
