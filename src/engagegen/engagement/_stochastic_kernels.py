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

from engagegen.engagement.base import Cascade, EngagementError, Interval, Optimum, check_messages, check_source
from engagegen.network.graph import SocialNetwork

# splitmix64 constants (Steele, Lea & Flood 2014).
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SHIFT30, _SHIFT27, _SHIFT31, _SHIFT11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 2.0**-53

# Independent streams per use, so two models (or weights and thresholds) never share coins.
STREAM_CASCADE = np.uint64(0x1C)
STREAM_THRESHOLD = np.uint64(0x17)
STREAM_WEIGHT = np.uint64(0x3E)

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
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _SHIFT30)) * _MIX1
    z = (z ^ (z >> _SHIFT27)) * _MIX2
    return z ^ (z >> _SHIFT31)


@njit(cache=True)
def run_key(seed: np.uint64, stream: np.uint64, run: int) -> np.uint64:
    """The key of run ``run``: every random number of that run derives from it."""
    return _mix(_mix(seed ^ stream) + np.uint64(run + 1) * _GAMMA)


@njit(cache=True)
def uniform(key: np.uint64, counter: int) -> float:
    """The ``counter``-th uniform number in [0, 1) of the stream ``key`` (53 random bits)."""
    return np.float64(_mix(key + np.uint64(counter + 1) * _GAMMA) >> _SHIFT11) * _UNIT


@njit(cache=True)
def uniforms(key: np.uint64, count: int) -> np.ndarray:
    out = np.empty(count, np.float64)
    for i in range(count):
        out[i] = uniform(key, i)
    return out


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
def independent_cascade_block(indptr, indices, opinions, source, messages, p, epsilon, seed, run_lo, run_hi, counts, freq, record):
    """Runs ``run_lo..run_hi-1`` of the independent cascade; returns the work done (edges examined).

    Edge ``e = (u, v)`` is live in run ``r`` for message ``s`` iff its coin ``uniform(key_r, e)`` is
    below ``p`` (``epsilon <= 0``) or ``p * max(0, 1 - |s - x_v| / epsilon)``. Each active user tries
    each out-edge once, so the engaged set is what the source reaches over live edges. Writes the
    engaged count of (message j, run r) to ``counts[j, r]``; with ``record`` adds 1 to ``freq[v]``
    for every user v engaged by ``messages[0]``.
    """
    n = opinions.shape[0]
    # Stamps instead of clearing: user v is active in the current cascade iff stamp[v] == tag.
    stamp = np.zeros(n, np.int64)
    queue = np.empty(n, np.int64)
    tag = 0
    work = 0
    for r in range(run_lo, run_hi):
        key = run_key(seed, STREAM_CASCADE, r)
        for j in range(messages.shape[0]):
            s = messages[j]
            tag += 1
            stamp[source] = tag
            queue[0] = source
            head, tail = 0, 1
            while head < tail:
                u = queue[head]
                head += 1
                work += indptr[u + 1] - indptr[u] + 1
                for e in range(indptr[u], indptr[u + 1]):
                    v = indices[e]
                    if stamp[v] == tag:
                        continue
                    pe = p
                    if epsilon > 0.0:
                        pe = p * max(0.0, 1.0 - abs(s - opinions[v]) / epsilon)
                    if pe > 0.0 and uniform(key, e) < pe:
                        stamp[v] = tag
                        queue[tail] = v
                        tail += 1
            counts[j, r] = tail - 1
            if record and j == 0:
                for i in range(1, tail):
                    freq[queue[i]] += 1
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
    """Runs ``run_lo..run_hi-1`` of the linear threshold model; returns the work done (edges examined).

    User ``v`` draws its threshold ``theta_v = uniform(key_r, v)`` once per run and engages when the
    summed weights of its engaged in-neighbours reach it; with ``epsilon > 0`` only users with
    ``|s - x_v| < epsilon`` can engage. The final set does not depend on the visiting order.
    Outputs as in :func:`independent_cascade_block`.
    """
    n = opinions.shape[0]
    active = np.zeros(n, np.int64)
    touched = np.zeros(n, np.int64)  # touched[v] == tag: influence[v] belongs to this cascade
    influence = np.zeros(n, np.float64)
    queue = np.empty(n, np.int64)
    tag = 0
    work = 0
    for r in range(run_lo, run_hi):
        key = run_key(seed, STREAM_THRESHOLD, r)
        for j in range(messages.shape[0]):
            s = messages[j]
            tag += 1
            active[source] = tag
            queue[0] = source
            head, tail = 0, 1
            while head < tail:
                u = queue[head]
                head += 1
                work += indptr[u + 1] - indptr[u] + 1
                for e in range(indptr[u], indptr[u + 1]):
                    v = indices[e]
                    if active[v] == tag:
                        continue
                    if epsilon > 0.0 and not abs(s - opinions[v]) < epsilon:
                        continue
                    if touched[v] != tag:
                        touched[v] = tag
                        influence[v] = 0.0
                    influence[v] += weights[e]
                    if influence[v] >= uniform(key, v):
                        active[v] = tag
                        queue[tail] = v
                        tail += 1
            counts[j, r] = tail - 1
            if record and j == 0:
                for i in range(1, tail):
                    freq[queue[i]] += 1
    return work


@njit(parallel=True, cache=True)
def linear_threshold_parallel(indptr, indices, weights, opinions, source, messages, epsilon, seed, run_lo, run_hi, counts, freq, record):
    """:func:`linear_threshold_block` with its runs spread over threads in ``freq.shape[0]`` chunks."""
    chunks = freq.shape[0]
    span = run_hi - run_lo
    for c in prange(chunks):
        linear_threshold_block(indptr, indices, weights, opinions, source, messages, epsilon, seed,
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
