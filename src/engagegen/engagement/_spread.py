"""One Monte Carlo run of each stochastic cascade, from one source for one message (numba, CSR arrays).

The block kernels of :mod:`engagegen.engagement._stochastic_kernels` (one source, many messages)
and the calibration kernels (many cascades at once) call these, so every path simulates exactly
the same cascade for the same ``(seed, run)``. Each function starts from ``queue[0] = source``,
marks the users it reaches with ``stamp[v] = tag`` and returns ``(tail, work)``: the engaged users
are ``queue[1:tail]`` in the order they engaged, ``work`` the edges examined. A run stops once
``cap`` users have engaged (``cap >= n`` never stops one).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engagegen.engagement._random import uniform


@njit(cache=True)
def independent_cascade_spread(indptr, indices, opinions, source, s, p, epsilon, key, stamp, tag, queue, cap):
    """Edge ``e = (u, v)`` is live iff ``uniform(key, e) < p`` (``epsilon <= 0``) or
    ``< p * max(0, 1 - |s - x_v| / epsilon)``; the engaged users are what the source reaches over
    live edges."""
    stamp[source] = tag
    queue[0] = source
    head, tail, work = 0, 1, 0
    while head < tail and tail - 1 < cap:
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
                if tail - 1 >= cap:
                    break
    return tail, work


@njit(cache=True)
def linear_threshold_spread(indptr, indices, weights, opinions, source, s, epsilon, key, stamp, touched, influence, tag,
                            queue, cap):
    """User ``v`` draws its threshold ``uniform(key, v)`` and engages when the summed weights of its
    engaged in-neighbours reach it; with ``epsilon > 0`` only users with ``|s - x_v| < epsilon``
    can. ``touched[v] == tag`` says ``influence[v]`` belongs to this run."""
    stamp[source] = tag
    queue[0] = source
    head, tail, work = 0, 1, 0
    while head < tail and tail - 1 < cap:
        u = queue[head]
        head += 1
        work += indptr[u + 1] - indptr[u] + 1
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if stamp[v] == tag:
                continue
            if epsilon > 0.0 and not abs(s - opinions[v]) < epsilon:
                continue
            if touched[v] != tag:
                touched[v] = tag
                influence[v] = 0.0
            influence[v] += weights[e]
            if influence[v] >= uniform(key, v):
                stamp[v] = tag
                queue[tail] = v
                tail += 1
                if tail - 1 >= cap:
                    break
    return tail, work


@njit(cache=True)
def noisy_bounded_confidence_spread(indptr, indices, opinions, source, s, epsilon, p, noise, key, stamp, tested, tag,
                                    queue, cap):
    """A user reached for the first time engages with probability ``p`` when ``x_v - epsilon < s <
    x_v + epsilon`` (the bounded-confidence test, computed as the deterministic kernel computes it)
    and ``noise`` otherwise: its coin ``uniform(key, v)`` is drawn once per run, so each user faces
    the post once. ``tested[v] == tag`` marks users who already faced it."""
    stamp[source] = tag
    tested[source] = tag
    queue[0] = source
    head, tail, work = 0, 1, 0
    while head < tail and tail - 1 < cap:
        u = queue[head]
        head += 1
        work += indptr[u + 1] - indptr[u] + 1
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if tested[v] == tag:
                continue
            tested[v] = tag
            x = opinions[v]
            chance = p if (x - epsilon < s and s < x + epsilon) else noise
            if chance > 0.0 and uniform(key, v) < chance:
                stamp[v] = tag
                queue[tail] = v
                tail += 1
                if tail - 1 >= cap:
                    break
    return tail, work


def no_cap(n_users: int) -> np.int64:
    """The ``cap`` that never stops a run."""
    return np.int64(n_users)
