"""One Monte Carlo run of each stochastic cascade, from one source for one message (numba, CSR arrays).

The block kernels of :mod:`engagegen.engagement._stochastic_kernels` (one source, many messages)
and the calibration kernels (many cascades at once) call these, so every path simulates exactly
the same cascade for the same ``(seed, run)``. Each function starts from ``queue[0] = source``,
marks the users it reaches with ``stamp[v] = tag`` and returns ``(tail, work, tried)``: the
engaged users are ``queue[1:tail]`` in the order they engaged, ``work`` the edges examined. A run
stops once ``cap`` users have engaged (``cap >= n`` never stops one).

With ``track``, each run also records, for every user the post tried to engage (``tried[:tried]``
users, in order), its hazard ``hazard[v]``: the sum over those tries, until the user engaged, of
the probability that the try succeeds given what happened before it. Its expectation is exactly
the probability that the user engages (the sum of a counting process's compensator), and it varies
far less than the 0/1 outcome, which is what the calibration's marginals are estimated from.
"""

from __future__ import annotations

from numba import njit

from engagegen.engagement._random import uniform


@njit(cache=True)
def independent_cascade_spread(indptr, indices, opinions, source, s, p, epsilon, key, stamp, tag, queue, cap, track, hazard, tried,
                               tried_stamp):
    """Edge ``e = (u, v)`` is live iff ``uniform(key, e) < p`` (``epsilon <= 0``) or
    ``< p * max(0, 1 - |s - x_v| / epsilon)``; the engaged users are what the source reaches over
    live edges. A try's hazard is its edge's probability. ``tried_stamp[v] == tag`` marks users tried."""
    stamp[source] = tag
    queue[0] = source
    head, tail, work, n_tried = 0, 1, 0, 0
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
            if pe <= 0.0:
                continue
            if track:
                if tried_stamp[v] != tag:
                    tried_stamp[v] = tag
                    hazard[v] = 0.0
                    tried[n_tried] = v
                    n_tried += 1
                hazard[v] += pe
            if uniform(key, e) < pe:
                stamp[v] = tag
                queue[tail] = v
                tail += 1
                if tail - 1 >= cap:
                    break
    return tail, work, n_tried


@njit(cache=True)
def linear_threshold_spread(indptr, indices, weights, opinions, source, s, epsilon, key, stamp, touched, influence, tag, queue, cap,
                            track, hazard, tried):
    """User ``v`` draws its threshold ``uniform(key, v)`` and engages when the summed weights of its
    engaged in-neighbours reach it; with ``epsilon > 0`` only users with ``|s - x_v| < epsilon``
    can. ``touched[v] == tag`` says ``influence[v]`` belongs to this run. Raising the influence
    from a to b has hazard ``(b - a) / (1 - a)`` (the threshold is uniform and above a)."""
    stamp[source] = tag
    queue[0] = source
    head, tail, work, n_tried = 0, 1, 0, 0
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
                if track:
                    hazard[v] = 0.0
                    tried[n_tried] = v
                    n_tried += 1
            before = influence[v]
            influence[v] += weights[e]
            if track and before < 1.0:
                hazard[v] += (min(influence[v], 1.0) - before) / (1.0 - before)
            if influence[v] >= uniform(key, v):
                stamp[v] = tag
                queue[tail] = v
                tail += 1
                if tail - 1 >= cap:
                    break
    return tail, work, n_tried


@njit(cache=True)
def noisy_bounded_confidence_spread(indptr, indices, opinions, source, s, epsilon, p, noise, key, stamp, tested, tag, queue, cap,
                                    track, hazard, tried):
    """A user reached for the first time engages with probability ``p`` when ``x_v - epsilon < s <
    x_v + epsilon`` (the bounded-confidence test, computed as the deterministic kernel computes it)
    and ``noise`` otherwise: its coin ``uniform(key, v)`` is drawn once per run, so each user faces
    the post once, and that one try's probability is its hazard. ``tested[v] == tag`` marks users
    who already faced it."""
    stamp[source] = tag
    tested[source] = tag
    queue[0] = source
    head, tail, work, n_tried = 0, 1, 0, 0
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
            if chance <= 0.0:
                continue
            if track:
                hazard[v] = chance
                tried[n_tried] = v
                n_tried += 1
            if uniform(key, v) < chance:
                stamp[v] = tag
                queue[tail] = v
                tail += 1
                if tail - 1 >= cap:
                    break
    return tail, work, n_tried
