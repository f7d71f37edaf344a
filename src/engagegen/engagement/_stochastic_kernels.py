"""Monte Carlo kernels (numba, over CSR arrays) and the Python side the Monte Carlo models share.

Randomness is counter-based: the uniform number that decides edge ``e`` (or user ``v``) in run ``r``
is a splitmix64 hash of ``(seed, stream, r, e)``. So a run's outcome depends on nothing but its
index (not on thread scheduling or chunking), and every message value in a batch (or in a later
call with the same seed) sees the same coins: common random numbers, which make engagement a
deterministic function of the message for a fixed seed and let two messages be compared fairly.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numba
import numpy as np
from numba import njit, prange

from engagegen.engagement._random import STREAM_CASCADE, STREAM_THRESHOLD, STREAM_WEIGHT, STREAM_WILLING, run_key, uniforms
from engagegen.engagement._spread import independent_cascade_spread, linear_threshold_spread, noisy_bounded_confidence_spread
from engagegen.engagement.base import Cascade, EngagementError, Interval, Optimum, check_messages, check_source
from engagegen.network.graph import SocialNetwork

# Re-exported for the models (``K.run_key``, ``K.uniforms``, ``K.STREAM_WEIGHT``).
__all__ = ["STREAM_CASCADE", "STREAM_THRESHOLD", "STREAM_WEIGHT", "STREAM_WILLING", "run_key", "uniforms"]

# Runs done serially to measure the work per run before deciding whether to use threads.
_PILOT_RUNS = 16
# Edges to examine above which the remaining runs go over threads (a thread launch costs about
# as much as examining tens of thousands of edges, far more on a busy machine).
_PARALLEL_WORK = 2e6
# Above this many (run x user-or-edge) steps an evaluation shows a progress bar.
_PROGRESS_WORK = 2e9
# Message values evaluated per kernel call when a progress bar is shown.
_PROGRESS_BATCH = 16


@njit(cache=True)
def reachable_mask(indptr: np.ndarray, indices: np.ndarray, source: int) -> np.ndarray:
    """Users reachable from ``source`` along edges (the source included)."""
    n = indptr.shape[0] - 1
    seen = np.zeros(n, np.bool_)
    queue = np.empty(n, np.int64)
    seen[source] = True
    queue[0] = source
    head, tail = 0, 1
    while head < tail:
        u = queue[head]
        head += 1
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if not seen[v]:
                seen[v] = True
                queue[tail] = v
                tail += 1
    return seen


@njit(cache=True)
def _record(queue, tail, j, r, counts, freq, record):
    """Store the engaged count of (message j, run r); with ``record`` count the engaged users of message 0."""
    counts[j, r] = tail - 1
    if record and j == 0:
        for i in range(1, tail):
            freq[queue[i]] += 1


@njit(cache=True)
def independent_cascade_block(indptr, indices, opinions, source, messages, p, epsilon, seed, run_lo, run_hi, counts, freq, record):
    """Runs ``run_lo..run_hi-1`` of the independent cascade (:func:`~engagegen.engagement._spread.independent_cascade_spread`
    with the coins of ``run_key(seed, STREAM_CASCADE, r)``); returns the work done (edges examined).

    Writes the engaged count of (message j, run r) to ``counts[j, r]``; with ``record`` adds 1 to
    ``freq[v]`` for every user v engaged by ``messages[0]``.
    """
    n = opinions.shape[0]
    # Stamps instead of clearing: user v is active in the current cascade iff stamp[v] == tag.
    stamp = np.zeros(n, np.int64)
    queue = np.empty(n, np.int64)
    no_hazard, no_tried = np.zeros(0, np.float64), np.zeros(0, np.int64)  # hazards are not recorded here
    tag = 0
    work = 0
    for r in range(run_lo, run_hi):
        key = run_key(seed, STREAM_CASCADE, r)
        for j in range(messages.shape[0]):
            tag += 1
            tail, w, _ = independent_cascade_spread(indptr, indices, opinions, source, messages[j], p, epsilon, key, stamp, tag, queue,
                                                    n, False, no_hazard, no_tried, stamp)
            work += w
            _record(queue, tail, j, r, counts, freq, record)
    return work


@njit(parallel=True, cache=True)
def independent_cascade_parallel(indptr, indices, opinions, source, messages, p, epsilon, seed, run_lo, run_hi, counts, freq, record):
    """:func:`independent_cascade_block` with its runs spread over threads in ``freq.shape[0]`` chunks
    (one ``freq`` row per chunk)."""
    chunks = freq.shape[0]
    span = run_hi - run_lo
    for c in prange(chunks):
        independent_cascade_block(indptr, indices, opinions, source, messages, p, epsilon, seed,
                                  run_lo + c * span // chunks, run_lo + (c + 1) * span // chunks, counts, freq[c], record)


@njit(cache=True)
def linear_threshold_block(indptr, indices, weights, opinions, source, messages, epsilon, seed, run_lo, run_hi, counts, freq, record):
    """Runs ``run_lo..run_hi-1`` of the linear threshold model (thresholds from
    ``run_key(seed, STREAM_THRESHOLD, r)``); outputs as in :func:`independent_cascade_block`."""
    n = opinions.shape[0]
    stamp = np.zeros(n, np.int64)
    touched = np.zeros(n, np.int64)
    influence = np.zeros(n, np.float64)
    queue = np.empty(n, np.int64)
    no_hazard, no_tried = np.zeros(0, np.float64), np.zeros(0, np.int64)  # hazards are not recorded here
    tag = 0
    work = 0
    for r in range(run_lo, run_hi):
        key = run_key(seed, STREAM_THRESHOLD, r)
        for j in range(messages.shape[0]):
            tag += 1
            tail, w, _ = linear_threshold_spread(indptr, indices, weights, opinions, source, messages[j], epsilon, key, stamp,
                                                 touched, influence, tag, queue, n, False, no_hazard, no_tried)
            work += w
            _record(queue, tail, j, r, counts, freq, record)
    return work


@njit(parallel=True, cache=True)
def linear_threshold_parallel(indptr, indices, weights, opinions, source, messages, epsilon, seed, run_lo, run_hi, counts, freq, record):
    """:func:`linear_threshold_block` with its runs spread over threads in ``freq.shape[0]`` chunks."""
    chunks = freq.shape[0]
    span = run_hi - run_lo
    for c in prange(chunks):
        linear_threshold_block(indptr, indices, weights, opinions, source, messages, epsilon, seed,
                               run_lo + c * span // chunks, run_lo + (c + 1) * span // chunks, counts, freq[c], record)


@njit(cache=True)
def noisy_bounded_confidence_block(indptr, indices, opinions, source, messages, epsilon, p, noise, seed, run_lo, run_hi, counts,
                                   freq, record):
    """Runs ``run_lo..run_hi-1`` of the noisy bounded-confidence cascade (each user's coin from
    ``run_key(seed, STREAM_WILLING, r)``); outputs as in :func:`independent_cascade_block`."""
    n = opinions.shape[0]
    stamp = np.zeros(n, np.int64)
    tested = np.zeros(n, np.int64)
    queue = np.empty(n, np.int64)
    no_hazard, no_tried = np.zeros(0, np.float64), np.zeros(0, np.int64)  # hazards are not recorded here
    tag = 0
    work = 0
    for r in range(run_lo, run_hi):
        key = run_key(seed, STREAM_WILLING, r)
        for j in range(messages.shape[0]):
            tag += 1
            tail, w, _ = noisy_bounded_confidence_spread(indptr, indices, opinions, source, messages[j], epsilon, p, noise, key,
                                                         stamp, tested, tag, queue, n, False, no_hazard, no_tried)
            work += w
            _record(queue, tail, j, r, counts, freq, record)
    return work


@njit(parallel=True, cache=True)
def noisy_bounded_confidence_parallel(indptr, indices, opinions, source, messages, epsilon, p, noise, seed, run_lo, run_hi,
                                      counts, freq, record):
    """:func:`noisy_bounded_confidence_block` with its runs spread over threads in ``freq.shape[0]`` chunks."""
    chunks = freq.shape[0]
    span = run_hi - run_lo
    for c in prange(chunks):
        noisy_bounded_confidence_block(indptr, indices, opinions, source, messages, epsilon, p, noise, seed,
                                       run_lo + c * span // chunks, run_lo + (c + 1) * span // chunks, counts, freq[c], record)


def monte_carlo(block: Callable[..., int], parallel: Callable[..., None], args: tuple, n_users: int, n_runs: int,
                n_messages: int, record: bool) -> tuple[np.ndarray, np.ndarray]:
    """Engaged counts per (message, run), and per-user engagement counts over runs (``record``).

    A few pilot runs measure the work per run; the rest go over threads only when they are worth
    a thread launch. Counter-based randomness makes the result the same either way.
    """
    counts = np.zeros((n_messages, n_runs), np.int64)
    width = n_users if record else 0
    freq = np.zeros(width, np.int64)
    pilot = min(n_runs, _PILOT_RUNS)
    work = block(*args, 0, pilot, counts, freq, record)
    rest = n_runs - pilot
    if rest == 0:
        return counts, freq
    if numba.get_num_threads() > 1 and work / pilot * rest >= _PARALLEL_WORK:
        chunk_freq = np.zeros((max(1, min(rest, 4 * numba.get_num_threads())), width), np.int64)
        parallel(*args, pilot, n_runs, counts, chunk_freq, record)
        freq += chunk_freq.sum(axis=0)
    else:
        block(*args, pilot, n_runs, counts, freq, record)
    return counts, freq


# ---------------------------------------------------------------------------------------------------
# Python-side helpers shared by the Monte Carlo models
# ---------------------------------------------------------------------------------------------------


def check_n_runs(n_runs: Any, owner: str) -> int:
    if isinstance(n_runs, (bool, np.bool_)) or not isinstance(n_runs, numbers.Integral) or n_runs < 1:
        raise EngagementError(f"{owner}: n_runs must be an integer >= 1 (the number of Monte Carlo runs), got {n_runs!r}")
    return int(n_runs)


def check_seed(seed: Any, owner: str) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise EngagementError(f"{owner}: seed must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)


def check_epsilon(epsilon: Any, owner: str) -> float | None:
    if epsilon is None:
        return None
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, numbers.Real) or not (math.isfinite(epsilon) and epsilon > 0):
        raise EngagementError(f"{owner}: epsilon must be a finite number > 0 (or None for no opinion gate), got {epsilon!r}")
    return float(epsilon)


def check_grid_size(grid_size: Any, owner: str) -> int:
    if isinstance(grid_size, (bool, np.bool_)) or not isinstance(grid_size, numbers.Integral) or grid_size < 2:
        raise EngagementError(f"{owner}: grid_size must be an integer >= 2 (points on [0, 1]), got {grid_size!r}")
    return int(grid_size)


def summarize_runs(counts: np.ndarray) -> tuple[float, float | None, tuple[float, float] | None]:
    """Mean over runs, its standard error and a normal-approximation 95% interval (None for one run)."""
    mean = float(counts.mean())
    if counts.shape[0] < 2:
        return mean, None, None
    se = float(counts.std(ddof=1) / math.sqrt(counts.shape[0]))
    return mean, se, (mean - 1.959963984540054 * se, mean + 1.959963984540054 * se)


CountsFn = Callable[[SocialNetwork, int, np.ndarray, bool], "tuple[np.ndarray, np.ndarray]"]


def monte_carlo_cascade(counts: CountsFn, network: SocialNetwork, source: Any, message: Any, n_runs: int) -> Cascade:
    """One post of a Monte Carlo model: the mean with its standard error and 95% interval;
    ``active`` the users engaged in at least half of the runs; every user's engagement frequency in
    ``extra["activation_probability"]``."""
    source = check_source(network, source)
    s = check_messages(message)
    if len(s) != 1:
        raise EngagementError(f"simulate takes one message value, got {len(s)}; use engagement() for a batch")
    per_run, freq = counts(network, source, s, True)
    mean, se, ci = summarize_runs(per_run[0])
    probability = freq / n_runs
    return Cascade(
        engaged=mean, active=np.flatnonzero(probability >= 0.5), message=float(s[0]), source=source,
        std_error=se, ci=ci, extra={"activation_probability": probability, "n_runs": n_runs},
    )


def monte_carlo_engagement(counts: CountsFn, network: SocialNetwork, source: Any, messages: Any, n_runs: int,
                           uses_message: bool, what: str) -> np.ndarray:
    """Mean engagement per message value; one batch of runs answers all when the model ignores s.

    Large evaluations go in batches under a progress bar; common random numbers make the result
    independent of the batching.
    """
    source = check_source(network, source)
    s = check_messages(messages)
    if len(s) == 0:
        return np.empty(0)
    if not uses_message:
        return np.full(len(s), counts(network, source, s[:1], False)[0][0].mean())
    work = float(n_runs) * (network.n_edges + network.n_users) * len(s)
    if work < _PROGRESS_WORK or len(s) <= _PROGRESS_BATCH:
        return counts(network, source, s, False)[0].mean(axis=1)
    from rich.progress import Progress

    out = np.empty(len(s), np.float64)
    with Progress(transient=True) as progress:
        task = progress.add_task(what, total=len(s))
        for lo in range(0, len(s), _PROGRESS_BATCH):
            batch = s[lo : lo + _PROGRESS_BATCH]
            out[lo : lo + len(batch)] = counts(network, source, batch, False)[0].mean(axis=1)
            progress.advance(task, len(batch))
    return out


def constant_optimum(value: float, method: str) -> Optimum:
    """Every message engages alike: all of [0, 1] is optimal."""
    return Optimum(value=value, message=0.5, intervals=(Interval(0.0, 1.0, True, True),), exact=True, method=method)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """First and last index of every maximal run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]])
    starts = np.flatnonzero(~padded[:-1] & padded[1:])
    ends = np.flatnonzero(padded[:-1] & ~padded[1:]) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def grid_optimum(grid: np.ndarray, values: np.ndarray, method: str) -> Optimum:
    """The best value on a grid; intervals are the maximal runs of consecutive grid points reaching it."""
    best = float(values.max())
    intervals = tuple(Interval(float(grid[a]), float(grid[b]), True, True) for a, b in _runs(values == best))
    widest = max(intervals, key=lambda iv: iv.width)
    return Optimum(value=best, message=widest.midpoint, intervals=intervals, exact=False, method=method)


def cells_of(breakpoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut [0, 1] at sorted ``breakpoints`` (strictly inside (0, 1)) into cells.

    Cells alternate: point 0, open segment, point b_1, ..., open segment, point 1. Returns each
    cell's lower end, upper end and a message value inside it (the point itself, a segment's
    midpoint, or its upper end when the segment lies between two adjacent floats and holds none).
    """
    points = np.concatenate([[0.0], breakpoints, [1.0]])
    lo = np.empty(2 * len(points) - 1)
    hi = np.empty_like(lo)
    lo[0::2] = hi[0::2] = points
    lo[1::2], hi[1::2] = points[:-1], points[1:]
    middle = 0.5 * (lo + hi)
    inside = np.where((middle > lo) & (middle < hi), middle, np.nextafter(lo, np.inf))
    inside[0::2] = points
    return lo, hi, inside


def cells_optimum(breakpoints: np.ndarray, values: np.ndarray, method: str) -> Optimum:
    """The exact optimum of a step function: ``values[i]`` on cell i of :func:`cells_of`.

    Adjacent optimal cells merge into one interval, closed at its ends that are points. A segment
    holding no float counts as optimal exactly when both neighbouring points are.
    """
    lo, hi, inside = cells_of(breakpoints)
    is_point = np.arange(len(lo)) % 2 == 0
    empty = ~is_point & (inside >= hi)
    best = float(values[~empty].max())
    optimal = values == best
    gaps = np.flatnonzero(empty)
    optimal[gaps] = optimal[gaps - 1] & optimal[gaps + 1]
    intervals = tuple(Interval(float(lo[a]), float(hi[b]), bool(is_point[a]), bool(is_point[b])) for a, b in _runs(optimal))
    widest = max(intervals, key=lambda iv: iv.width)
    return Optimum(value=best, message=widest.midpoint, intervals=intervals, exact=True, method=method)


def step_breakpoints(network: SocialNetwork, source: int, epsilon: float) -> np.ndarray:
    """Sorted message values in (0, 1) where a model whose users' chances change only at
    ``x_w +- epsilon`` may change its engagement: those of the users w the source can reach."""
    reach = reachable_mask(network.indptr, network.indices, source)
    reach[source] = False
    x = network.opinions[reach]
    b = np.unique(np.concatenate([x - epsilon, x + epsilon]))
    return b[(b > 0.0) & (b < 1.0)]


def step_optimum(engagement: Callable[[np.ndarray], np.ndarray], steps: np.ndarray, grid_size: int, runs: str) -> Optimum:
    """The optimum of an engagement that is a step function with the given steps (common random
    numbers make it one for a fixed seed): every step's cell exactly when there are at most
    ``grid_size`` cells, otherwise a grid of ``grid_size`` points (``exact=False``)."""
    if 2 * len(steps) + 3 <= grid_size:  # cells: the points 0, steps, 1 and the segments between
        _, _, inside = cells_of(steps)
        return cells_optimum(steps, engagement(inside), f"every step of the engagement ({len(inside)} cells, {runs})")
    grid = np.linspace(0.0, 1.0, grid_size)
    return grid_optimum(grid, engagement(grid), f"grid of {grid_size} points on [0, 1] ({runs})")

