"""Counter-based random numbers for the Monte Carlo kernels (numba).

The uniform number that decides edge ``e`` (or user ``v``) in run ``r`` is a splitmix64 hash of
``(seed, stream, r, e)``: a run's outcome depends on nothing but its index, and every caller that
simulates the same run sees the same coins (common random numbers).
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
STREAM_WILLING = np.uint64(0x5B)


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
