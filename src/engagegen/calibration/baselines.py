"""Simple forecasters an engagement model must beat, fitted on the training cascades of a fold.

- ``reachable``: everyone the post can reach along the network's edges engages (the predicted
  set); as probabilities, the training share of reachable users who engaged, and of the others.
- ``opinion``: the graph ignored; a user's chance depends only on the distance ``|s - x|`` of
  its opinion from the post's, the training share engaged in each of 20 bins of distance. Its
  predicted set: the users closest in opinion.
- ``popularity``: a user's share of training cascades it engaged in, with a prior of one cascade
  at the base rate scaled by the user's in-degree (so users who never engaged rank by degree).
- ``base rate``: every user engages with the training share of engaged (user, cascade) pairs;
  it ranks nobody above anybody, so it predicts no set.

Shares are smoothed towards the training base rate b, as ``(engaged + b) / (pairs + 1)``. The
opinion baseline reads each training cascade's engaged users at their leave-one-out opinions, as
the models do. ROC-AUC pools the folds, whose shares differ: a constant forecast scores near, not
exactly, 0.5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engagegen.calibration.cascades import ObservedCascades
from engagegen.calibration.metrics import Accumulator
from engagegen.engagement._stochastic_kernels import reachable_mask
from engagegen.network.graph import SocialNetwork

__all__ = ["BASELINES", "ReachStats", "reach_stats", "baseline_accumulators"]

BASELINES = ("reachable", "opinion", "popularity", "base rate")
_EDGES = np.linspace(0.0, 1.0, 21)


class ReachStats:
    """Per cascade: how many users its author can reach (the author left out), and how many of
    its engaged users are among them. Computed once per strongly connected component of authors."""

    def __init__(self, network: SocialNetwork, cascades: ObservedCascades) -> None:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        n = network.n_users
        graph = csr_matrix((np.ones(network.n_edges, np.int8), network.indices, network.indptr), shape=(n, n))
        _, component = connected_components(graph, directed=True, connection="strong")
        self.size = np.zeros(len(cascades), np.int64)
        self.engaged = np.zeros(len(cascades), np.int64)
        of = component[cascades.sources]
        for label in np.unique(of).tolist():
            mine = np.flatnonzero(of == label)
            mask = reachable_mask(network.indptr, network.indices, int(cascades.sources[mine[0]]))
            self.size[mine] = int(mask.sum()) - 1
            for c in mine.tolist():
                self.engaged[c] = int(mask[cascades.engaged(c)].sum())


def reach_stats(network: SocialNetwork, cascades: ObservedCascades) -> ReachStats:
    return ReachStats(network, cascades)


def _share(engaged: Any, pairs: Any, prior: float) -> Any:
    return (engaged + prior) / (pairs + 1.0)


def _reachable(reach: ReachStats, cascades: ObservedCascades, train: np.ndarray, test: np.ndarray, n: int, base_rate: float) -> Accumulator:
    sizes = cascades.sizes
    inside = _share(reach.engaged[train].sum(), reach.size[train].sum(), base_rate)
    outside = _share((sizes[train] - reach.engaged[train]).sum(), ((n - 1) - reach.size[train]).sum(), base_rate)
    acc = Accumulator()
    for c in test.tolist():
        hit, size, observed = reach.engaged[c], reach.size[c], sizes[c]
        acc.add_levels([inside, outside], [hit, observed - hit], [size - hit, (n - 1 - size) - (observed - hit)])
        union = size + observed - hit
        acc.add_cascade(observed_size=observed, predicted_size=size, jaccard=hit / union if union else 1.0)
    return acc


def _distance_bins(sorted_x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Per message value, how many opinions lie in each bin of distance ``|s - x|``."""
    edges = np.concatenate([_EDGES[1:-1], [np.inf]])
    upper = np.searchsorted(sorted_x, s[:, None] + edges[None, :], side="left")
    lower = np.searchsorted(sorted_x, s[:, None] - edges[None, :], side="right")
    cumulative = upper - lower
    return np.diff(np.concatenate([np.zeros((len(s), 1), np.int64), cumulative], axis=1), axis=1)


def _bin(d: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(_EDGES, d, side="right") - 1, 0, len(_EDGES) - 2)


def _opinion(cascades: ObservedCascades, train: np.ndarray, test: np.ndarray, opinions: np.ndarray, overrides: np.ndarray,
             base_rate: float) -> Accumulator:
    sorted_x = np.sort(opinions)
    bins = len(_EDGES) - 1
    of = cascades.cascade_of
    s_entry = cascades.messages[of]
    x_entry = np.where(np.isnan(overrides), opinions[cascades.users], overrides)
    in_train = np.isin(of, train)

    pairs = _distance_bins(sorted_x, cascades.messages[train]).sum(axis=0).astype(np.float64)
    pairs -= np.bincount(_bin(np.abs(cascades.messages[train] - opinions[cascades.sources[train]])), minlength=bins)
    moved = in_train & ~np.isnan(overrides)  # engaged users read at their leave-one-out opinions
    pairs -= np.bincount(_bin(np.abs(s_entry[moved] - opinions[cascades.users[moved]])), minlength=bins)
    pairs += np.bincount(_bin(np.abs(s_entry[moved] - x_entry[moved])), minlength=bins)
    engaged = np.bincount(_bin(np.abs(s_entry[in_train] - x_entry[in_train])), minlength=bins).astype(np.float64)
    rate = _share(engaged, pairs, base_rate)

    acc = Accumulator()
    test_pairs = _distance_bins(sorted_x, cascades.messages[test])
    order = np.argsort(opinions, kind="stable")
    for row, c in enumerate(test.tolist()):
        s = float(cascades.messages[c])
        here = test_pairs[row].astype(np.float64)
        here[_bin(np.array([abs(s - opinions[cascades.sources[c]])]))[0]] -= 1
        users = cascades.engaged(c)
        hit = np.bincount(_bin(np.abs(s - opinions[users])), minlength=bins)
        acc.add_levels(rate, hit, here - hit)
        size = float((rate * here).sum())
        k = int(round(size))
        at = int(np.searchsorted(sorted_x, s))
        window = order[max(0, at - k - 1):at + k + 1]
        window = window[window != cascades.sources[c]]
        nearest = window[np.argsort(np.abs(opinions[window] - s), kind="stable")[:k]]
        union = len(np.union1d(nearest, users))
        acc.add_cascade(observed_size=len(users), predicted_size=size,
                        jaccard=len(np.intersect1d(nearest, users)) / union if union else 1.0)
    return acc


def _popularity(network: SocialNetwork, cascades: ObservedCascades, train: np.ndarray, test: np.ndarray, base_rate: float) -> Accumulator:
    n = network.n_users
    in_train = np.isin(cascades.cascade_of, train)
    counts = np.bincount(cascades.users[in_train], minlength=n)
    degree = network.in_degree.astype(np.float64)
    prior = np.clip(base_rate * degree / max(degree.mean(), 1e-12), 1e-12, 0.5)
    q = (counts + prior) / (len(train) + 1.0)
    in_test = np.isin(cascades.cascade_of, test)
    hits = np.bincount(cascades.users[in_test], minlength=n).astype(np.float64)
    authored = np.bincount(cascades.sources[test], minlength=n)
    acc = Accumulator()
    acc.add_levels(q, hits, len(test) - hits - authored)
    ranking = np.lexsort((-degree, -q))
    total = float(q.sum())
    for c in test.tolist():
        users = cascades.engaged(c)
        size = total - float(q[cascades.sources[c]])
        k = int(round(size))
        top = ranking[:k + 1]
        top = top[top != cascades.sources[c]][:k]
        union = len(np.union1d(top, users))
        acc.add_cascade(observed_size=len(users), predicted_size=size, jaccard=len(np.intersect1d(top, users)) / union if union else 1.0)
    return acc


def _base_rate(cascades: ObservedCascades, test: np.ndarray, n: int, base_rate: float) -> Accumulator:
    acc = Accumulator()
    engaged = float(cascades.sizes[test].sum())
    acc.add_levels([base_rate], [engaged], [len(test) * (n - 1) - engaged])
    for c in test.tolist():
        acc.add_cascade(observed_size=float(cascades.sizes[c]), predicted_size=base_rate * (n - 1), jaccard=math.nan)
    return acc


def baseline_accumulators(network: SocialNetwork, cascades: ObservedCascades, reach: ReachStats, train: np.ndarray, test: np.ndarray,
                          opinions: np.ndarray, overrides: np.ndarray) -> dict[str, Accumulator]:
    """Every baseline fitted on ``train`` and scored on ``test`` (cascade indices), with one fold's
    opinions (and the leave-one-out ``overrides`` of the training cascades' engaged users)."""
    n = network.n_users
    base_rate = (float(cascades.sizes[train].sum()) + 0.5) / (len(train) * (n - 1.0) + 1.0)
    return {
        "reachable": _reachable(reach, cascades, train, test, n, base_rate),
        "opinion": _opinion(cascades, train, test, opinions, overrides, base_rate),
        "popularity": _popularity(network, cascades, train, test, base_rate),
        "base rate": _base_rate(cascades, test, n, base_rate),
    }
