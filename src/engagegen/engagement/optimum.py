"""Exact optimum of the bounded-confidence cascade over message values s in [0, 1].

Engagement changes only where s crosses a breakpoint ``x_w +- epsilon`` (and ``x_w +- epsilon_backfire``)
of a user w reachable from the source. The breakpoints strictly inside (0, 1), with 0 and 1, cut
[0, 1] into open *segments* (constant engagement) and *points*. A user engages at a point exactly
when it engages on both neighbouring segments, so a point is never better than either neighbour:
the optimum is reached on segments, and an optimal interval runs through a point only when the
point reaches the optimum too. Messages are floats: a segment between two adjacent floats holds
no message (rounding makes these, e.g. 0.3 - 0.1 and 0.1 + 0.1 are adjacent) and is skipped, so
a reported optimum is always reachable. Two exact searches find every optimal segment:

- symmetric graphs: :func:`~engagegen.engagement._bcm_kernels.connectivity_sweep` computes every
  segment at once (offline dynamic connectivity over the s-axis);
- directed graphs: branch and bound. Engagement at segment j is at most the number of reachable
  users engaging at j; windows of segments tighten it (users reachable through users engaging
  somewhere in the window), 64 windows per bit-parallel pass, until every segment whose bound
  reaches the best value found has been evaluated exactly.

:func:`near_optimal_intervals` finds where engagement reaches a fraction of the optimum, settling
windows of points and segments by lower and upper bounds (see there).

These functions take validated arguments; :meth:`BoundedConfidenceCascade.optimum` is the public door.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from engagegen.engagement import _bcm_kernels as kernels
from engagegen.engagement.base import EngagementError, Interval, Optimum
from engagegen.network.graph import SocialNetwork

__all__ = ["engagement_breakpoints", "exact_optimum", "near_optimal_intervals", "steps_to_optimum"]

SWEEP = "segment-tree connectivity sweep"
SEARCH = "branch-and-bound reachability search"


@dataclass(frozen=True)
class _Segments:
    """The source's reachable subgraph (relabelled 0..k-1) and each user's segments of engagement."""

    indptr: np.ndarray
    indices: np.ndarray
    opinions: np.ndarray
    source: int
    breakpoints: np.ndarray  # 0 = b_0 < b_1 < ... < b_S = 1; segment j is (b_j, b_{j+1})
    range_lo: np.ndarray  # (k, r) int64: user v engages on segments range_lo[v, i]..range_hi[v, i]
    range_hi: np.ndarray

    @property
    def n_segments(self) -> int:
        return len(self.breakpoints) - 1

    @property
    def filled(self) -> np.ndarray:
        """Which segments hold at least one float (message value)."""
        return _filled(self.breakpoints)


def _filled(b: np.ndarray) -> np.ndarray:
    return np.nextafter(b[:-1], 2.0) < b[1:]


def _engagement_bounds(x: np.ndarray, epsilon: float, epsilon_backfire: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per user, the open s-intervals of engagement as (lo, hi) array pairs, with the kernels' float ops."""
    bounds = [(x - epsilon, x + epsilon)]
    if math.isfinite(epsilon_backfire):
        bounds += [(np.full_like(x, -np.inf), x - epsilon_backfire), (x + epsilon_backfire, np.full_like(x, np.inf))]
    return bounds


def _breakpoints(x: np.ndarray, epsilon: float, epsilon_backfire: float) -> np.ndarray:
    ends = np.concatenate([np.concatenate(pair) for pair in _engagement_bounds(x, epsilon, epsilon_backfire)])
    inner = ends[(ends > 0.0) & (ends < 1.0)]
    return np.unique(np.concatenate([[0.0, 1.0], inner]))


def _reachable(network: SocialNetwork, source: int) -> np.ndarray:
    """Sorted ids of the source and every user reachable from it (a cascade where everyone engages)."""
    out = np.empty(network.n_users, np.int64)
    k = kernels.cascade(network.indptr, network.indices, network.opinions, source, 0.5, np.inf, np.inf, out)
    return np.sort(np.concatenate([[source], out[:k]]))


def engagement_breakpoints(network: SocialNetwork, source: int, epsilon: float, epsilon_backfire: float) -> np.ndarray:
    """0, 1 and every breakpoint in between of the users reachable from ``source`` (source excluded)."""
    nodes = _reachable(network, source)
    return _breakpoints(network.opinions[nodes[nodes != source]], epsilon, epsilon_backfire)


def _segments(network: SocialNetwork, source: int, epsilon: float, epsilon_backfire: float) -> _Segments:
    nodes = _reachable(network, source)
    new_id = np.full(network.n_users, -1, np.int64)
    new_id[nodes] = np.arange(len(nodes))
    indptr, indices = kernels.induced_subgraph(network.indptr, network.indices, nodes, new_id)
    x = network.opinions[nodes]
    src = int(new_id[source])
    others = np.arange(len(nodes)) != src
    b = _breakpoints(x[others], epsilon, epsilon_backfire)
    # Segment (b_j, b_{j+1}) lies inside (lo, hi) iff lo <= b_j and b_{j+1} <= hi.
    pairs = _engagement_bounds(x, epsilon, epsilon_backfire)
    range_lo = np.column_stack([np.searchsorted(b, lo, side="left") for lo, _ in pairs]).astype(np.int64)
    range_hi = np.column_stack([np.searchsorted(b, hi, side="right") - 2 for _, hi in pairs]).astype(np.int64)
    range_hi = np.minimum(range_hi, len(b) - 2)
    range_lo[src] = len(b)  # the source is never tested: it relays on every segment
    range_hi[src] = -1
    range_lo[src, 0], range_hi[src, 0] = 0, len(b) - 2
    return _Segments(indptr, indices, x, src, b, range_lo, range_hi)


def _count_bound(seg: _Segments) -> np.ndarray:
    """Number of reachable users (source excluded) engaging on each segment."""
    s = seg.n_segments
    lo, hi = seg.range_lo.copy(), seg.range_hi.copy()
    lo[seg.source], hi[seg.source] = 0, -1
    keep = lo <= hi
    diff = np.bincount(lo[keep], minlength=s + 1) - np.bincount(hi[keep] + 1, minlength=s + 1)
    return np.cumsum(diff)[:s]


def _window_bounds(seg: _Segments, windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bounds from the given groups of windows (each an (m, 2) array of sorted, disjoint inclusive
    ranges, run 64 per pass); returns the segment index and the bound of every window segment."""
    passes = [w[i : i + kernels.BITS] for w in windows for i in range(0, len(w), kernels.BITS)]
    win = np.concatenate(passes)
    pass_ptr = np.cumsum([0] + [len(p) for p in passes]).astype(np.int64)
    lengths = win[:, 1] - win[:, 0] + 1
    out_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    out = kernels.window_bounds(
        seg.indptr, seg.indices, seg.source, seg.range_lo, seg.range_hi,
        np.ascontiguousarray(win[:, 0]), np.ascontiguousarray(win[:, 1]), pass_ptr, out_ptr,
    )
    segment = np.repeat(win[:, 0] - out_ptr[:-1], lengths) + np.arange(out_ptr[-1])
    return segment, out


def _runs(mask: np.ndarray) -> np.ndarray:
    """(m, 2) inclusive index ranges of the maximal runs of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1])


def _need(best: int, fraction: float) -> int:
    """The least engagement k with ``k / best >= fraction``, compared in floats as results tables do
    (0.9 * 90 is 81.00000000000001 in floats, yet 81 / 90 >= 0.9)."""
    if best <= 0:
        return 0
    k = math.ceil(fraction * best)
    while k > 0 and (k - 1) / best >= fraction:
        k -= 1
    while k / best < fraction:
        k += 1
    return k


def _search_values(seg: _Segments, *, first_split: int = 64, split: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Exact engagement on every segment that can reach the optimum (-1 on the others), and upper bounds.

    Round by round, the candidate segments (holding a float, not yet exact, bound >= best value
    found) are cut into windows of ``piece`` segments whose bounds replace the current ones where
    smaller, while the 64 candidates with the highest bounds are evaluated exactly (one-segment
    windows) so the best value rises early. ``piece`` starts at S / ``first_split`` and shrinks
    ``split``-fold a round.
    """
    s = seg.n_segments
    filled = seg.filled
    bound = _count_bound(seg)
    value = np.where(bound == 0, 0, -1)  # a bound of 0 is exact
    piece = max(1, -(-s // first_split))
    while True:
        candidate = filled & (value < 0) & (bound >= value[filled].max())
        if not candidate.any():
            return value, bound
        idx = np.flatnonzero(candidate)
        groups = []
        if piece > 1:
            top = np.sort(idx[np.argsort(-bound[idx], kind="stable")[: kernels.BITS]])
            groups.append(np.column_stack([top, top]))
            windows = []
            for lo, hi in _runs(candidate):
                starts = np.arange(lo, hi + 1, piece)
                windows.append(np.column_stack([starts, np.minimum(starts + piece - 1, hi)]))
            groups.append(np.concatenate(windows))
        else:
            groups.append(np.column_stack([idx, idx]))
        segment, out = _window_bounds(seg, groups)
        np.minimum.at(bound, segment, out)
        single = np.concatenate([g[g[:, 0] == g[:, 1], 0] for g in groups])
        value[single] = bound[single]
        piece = max(1, -(-piece // split))


def _message_in(interval: Interval) -> float:
    """The midpoint, or the float next to the lower end when rounding pushes the midpoint out."""
    mid = interval.midpoint
    if mid in interval:
        return mid
    return interval.lo if interval.lo_closed else float(np.nextafter(interval.lo, 2.0))


def _leaf_runs(b: np.ndarray, point_value: np.ndarray, segment_value: np.ndarray, need: int) -> tuple[Interval, ...]:
    """Maximal runs of leaves reaching ``need`` along point 0, segment 0, point 1, ..., point S (in
    float order, segments without a float left out); a value of -1 marks a leaf known to be below."""
    s = len(b) - 1
    leaf = np.empty(2 * s + 1, np.int64)
    leaf[0::2], leaf[1::2] = point_value, segment_value
    present = np.ones(2 * s + 1, bool)
    present[1::2] = _filled(b)
    order = np.flatnonzero(present)
    # Leaf 2j is the point b_j; leaf 2j + 1 the segment (b_j, b_j+1).
    return tuple(
        Interval(float(b[first // 2]), float(b[(last + 1) // 2]), lo_closed=bool(first % 2 == 0), hi_closed=bool(last % 2 == 0))
        for first, last in order[_runs(leaf[order] >= need)]
    )


def steps_to_optimum(b: np.ndarray, point_value: np.ndarray, segment_value: np.ndarray, method: str) -> Optimum:
    """The optimum of a step function of s given at every breakpoint ``b[j]`` (``point_value``) and on
    every open segment between them (``segment_value``; -1: known to be below the best; segments
    holding no float are skipped): the maximal runs of the best value, the message in the widest.
    Every engagement model whose engagement is piecewise constant in s finds its exact optimum here.

    >>> steps_to_optimum(np.array([0.0, 0.5, 1.0]), np.array([1, 2, 1]), np.array([2, 0]), "steps").intervals
    (Interval(lo=0.0, hi=0.5, lo_closed=False, hi_closed=True),)
    """
    present = np.concatenate([point_value, segment_value[_filled(b)]])
    best = int(present.max())
    intervals = _leaf_runs(b, point_value, segment_value, best)
    widest = max(intervals, key=lambda iv: iv.width)  # the first of the widest
    return Optimum(value=best, message=_message_in(widest), intervals=intervals, exact=True, method=method)


def _optimum_from_segments(
    seg: _Segments, value: np.ndarray, bound: np.ndarray, epsilon: float, epsilon_backfire: float, method: str
) -> Optimum:
    """The optimum given exact ``value`` on every float-holding segment that can be optimal (-1 on
    the others) and upper ``bound`` on every segment: evaluates the points that could join in."""
    filled = seg.filled
    best = value[filled].max()
    # A point is at most its neighbouring segments, so only points between segments reaching
    # the best (empty segments: by their bound) may reach it.
    reach = np.where(filled, value >= best, bound >= best)
    candidate = np.ones(seg.n_segments + 1, bool)
    candidate[1:] &= reach
    candidate[:-1] &= reach
    points = np.flatnonzero(candidate)
    point_value = np.full(seg.n_segments + 1, -1, np.int64)
    point_value[points] = kernels.engagement_batch(
        seg.indptr, seg.indices, seg.opinions, seg.source, epsilon, epsilon_backfire, seg.breakpoints[points]
    )
    return steps_to_optimum(seg.breakpoints, point_value, np.where(filled, value, -1), method)


def _optimum(network: SocialNetwork, seg: _Segments, epsilon: float, epsilon_backfire: float, method: str) -> Optimum:
    if method == "auto":
        method = "sweep" if network.is_symmetric else "search"
    if method == "sweep" and not network.is_symmetric:
        raise EngagementError("the connectivity sweep needs a symmetric network (every edge u -> v with its twin v -> u)")
    if method == "sweep":
        value = kernels.connectivity_sweep(
            seg.indptr, seg.indices, seg.source, seg.range_lo, seg.range_hi, seg.n_segments, numba.get_num_threads()
        )
        return _optimum_from_segments(seg, value, value, epsilon, epsilon_backfire, SWEEP)
    if method == "search":
        return _optimum_from_segments(seg, *_search_values(seg), epsilon, epsilon_backfire, SEARCH)
    raise EngagementError(f"method must be 'auto', 'sweep' or 'search', got {method!r}")


def _leaf_ranges(seg: _Segments, epsilon: float, epsilon_backfire: float) -> tuple[np.ndarray, np.ndarray]:
    """Per user and engagement range, the inclusive range of leaves where it engages (leaf 2j is
    the point b_j, leaf 2j + 1 the segment (b_j, b_j+1)): the points strictly inside the range and
    the segments within it, with the kernels' float comparisons."""
    b = seg.breakpoints
    last = 2 * seg.n_segments
    los, his = [], []
    for r, (lo, hi) in enumerate(_engagement_bounds(seg.opinions, epsilon, epsilon_backfire)):
        p_lo, p_hi = np.searchsorted(b, lo, side="right"), np.searchsorted(b, hi, side="left") - 1
        s_lo, s_hi = seg.range_lo[:, r], seg.range_hi[:, r]  # the segments, as the optimum has them
        points, segments = p_lo <= p_hi, s_lo <= s_hi
        los.append(np.minimum(np.where(points, 2 * p_lo, last + 1), np.where(segments, 2 * s_lo + 1, last + 1)))
        his.append(np.maximum(np.where(points, 2 * p_hi, -1), np.where(segments, 2 * s_hi + 1, -1)))
    leaf_lo, leaf_hi = np.column_stack(los).astype(np.int64), np.column_stack(his).astype(np.int64)
    leaf_lo[seg.source], leaf_hi[seg.source] = last + 1, -1  # the source relays on every leaf
    leaf_lo[seg.source, 0], leaf_hi[seg.source, 0] = 0, last
    return leaf_lo, leaf_hi


def _window_counts(seg: _Segments, leaf_lo: np.ndarray, leaf_hi: np.ndarray, windows: np.ndarray, cover: bool) -> np.ndarray:
    """``kernels.window_counts`` over sorted, disjoint (m, 2) leaf windows, 64 per pass."""
    pass_ptr = np.append(np.arange(0, len(windows), kernels.BITS), len(windows)).astype(np.int64)
    return kernels.window_counts(seg.indptr, seg.indices, seg.source, leaf_lo, leaf_hi,
                                 np.ascontiguousarray(windows[:, 0]), np.ascontiguousarray(windows[:, 1]), pass_ptr, cover)


def exact_optimum(
    network: SocialNetwork, source: int, epsilon: float, epsilon_backfire: float = math.inf, method: str = "auto"
) -> Optimum:
    """The best engagement over s in [0, 1], with every maximal interval of s reaching it.

    ``method``: ``"sweep"`` (symmetric graphs only), ``"search"`` (any graph) or ``"auto"``
    (sweep when ``network.is_symmetric``). Arguments are assumed valid.

    >>> net = SocialNetwork.from_edges([(0, 1), (0, 2)], opinions=[0.5, 0.3, 0.6])
    >>> opt = exact_optimum(net, 0, epsilon=0.2)
    >>> opt.value, [str(iv) for iv in opt.intervals]
    (2, ['(0.4, 0.5)'])
    """
    return _optimum(network, _segments(network, source, epsilon, epsilon_backfire), epsilon, epsilon_backfire, method)


def near_optimal_intervals(
    network: SocialNetwork, source: int, epsilon: float, fraction: float, epsilon_backfire: float = math.inf,
    method: str = "auto", *, first_windows: int = 256,
) -> tuple[Interval, ...]:
    """Every maximal interval of s whose engagement reaches ``fraction`` of the optimum
    (``engagement / optimum >= fraction`` in floats), exactly. ``fraction`` 1 gives the optimal
    intervals; ``method`` is the optimum's search. How wide these are is how hard the network is
    to engage: a policy whose posts scatter wider cannot reach the fraction on average.
    Arguments are assumed valid (``fraction`` in (0, 1]).

    Windows of consecutive leaves (points and segments) are settled by two bounds: the users
    engaging on every leaf of a window engage at least that many at each leaf (the window is in
    the set when that reaches the level), and those engaging somewhere in it at most (out when
    that falls short); a window neither settles is halved, down to single leaves, where the two
    bounds meet (``first_windows`` to begin with). A wide set costs some thousands of cascades, not
    one per breakpoint.

    >>> net = SocialNetwork.from_edges([(0, 1), (0, 2)], opinions=[0.5, 0.3, 0.6])
    >>> [str(iv) for iv in near_optimal_intervals(net, 0, epsilon=0.2, fraction=0.5)]
    ['(0.1, 0.8)']
    """
    seg = _segments(network, source, epsilon, epsilon_backfire)
    need = _need(int(_optimum(network, seg, epsilon, epsilon_backfire, method).value), fraction)
    leaf_lo, leaf_hi = _leaf_ranges(seg, epsilon, epsilon_backfire)
    present = np.ones(2 * seg.n_segments + 1, bool)
    present[1::2] = seg.filled
    leaves = np.flatnonzero(present)
    inside = np.zeros(len(leaves), bool)
    piece = max(1, -(-len(leaves) // first_windows))
    starts = np.arange(0, len(leaves), piece)
    todo = np.column_stack([starts, np.minimum(starts + piece, len(leaves)) - 1])  # ranges of ``leaves``
    while len(todo):
        lower = _window_counts(seg, leaf_lo, leaf_hi, leaves[todo], cover=True)
        for first, last in todo[lower >= need]:
            inside[first : last + 1] = True
        unsettled = todo[(lower < need) & (todo[:, 0] < todo[:, 1])]  # a single leaf's lower bound is exact
        if not len(unsettled):
            break
        upper = _window_counts(seg, leaf_lo, leaf_hi, leaves[unsettled], cover=False)
        split = unsettled[upper >= need]
        middle = (split[:, 0] + split[:, 1]) // 2
        todo = np.concatenate([np.column_stack([split[:, 0], middle]), np.column_stack([middle + 1, split[:, 1]])])
        todo = todo[np.argsort(todo[:, 0], kind="stable")]
    value = np.full(len(present), -1, np.int64)
    value[leaves[inside]] = need
    return _leaf_runs(seg.breakpoints, value[0::2], value[1::2], need)


def _brute_force_optimum(network: SocialNetwork, source: int, epsilon: float, epsilon_backfire: float = math.inf) -> Optimum:
    """Reference for tests: engagement at every breakpoint of every user and inside every segment."""
    b = _breakpoints(network.opinions[np.arange(network.n_users) != source], epsilon, epsilon_backfire)
    inside = np.array([_message_in(Interval(lo, hi)) for lo, hi in zip(b[:-1], b[1:])])
    messages = np.unique(np.concatenate([b, inside]))  # "inside" an empty segment is an end: ignored
    value = kernels.engagement_batch(network.indptr, network.indices, network.opinions, source, epsilon, epsilon_backfire, messages)
    at = dict(zip(messages.tolist(), value.tolist()))
    return steps_to_optimum(b, np.array([at[v] for v in b]), np.array([at[v] for v in inside]), "brute force")
