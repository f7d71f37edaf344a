"""Numba kernels of the calibration: Monte Carlo runs of many observed cascades at once, scored in place.

A cascade ``c`` is a source ``sources[c]``, a message ``messages[c]`` and its observed engaged users
``obs_users[obs_indptr[c]:obs_indptr[c + 1]]``. Runs use the spread functions of the engagement
models with the same random streams, so run r of a cascade is run r of ``model.simulate`` with
the same seed. Kernels take validated arrays; nothing is checked here.

Model kinds: ``BCM_NOISY`` (params epsilon, p, noise), ``IC`` (p, epsilon; epsilon 0: no gate),
``LT`` (epsilon; ``weights`` the edge weights).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from engagegen.engagement._random import STREAM_CASCADE, STREAM_THRESHOLD, STREAM_WILLING, run_key
from engagegen.engagement._spread import independent_cascade_spread, linear_threshold_spread, noisy_bounded_confidence_spread

BCM_NOISY, IC, LT = 0, 1, 2

# Weight of the background engagement mixed into every forecast, so that none is 0 or 1.
MIX = 0.01
# A cascade whose first PILOT runs mostly (more than half) stop at the cap gets no more runs: the
# model predicts cascades far larger than any observed there, whatever the rest would show.
PILOT = 8

# Rows of the int64 and float64 workspaces of one thread.
_STAMP, _TESTED, _QUEUE, _COUNTED, _TOUCHED, _OBSERVED, _TRIED = range(7)
_INFLUENCE, _HAZARD, _SUM, _SQUARES = range(4)
INT_ROWS, FLOAT_ROWS = 7, 4


def workspace(n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """The int64 and float64 scratch arrays of one thread (stamps start at 0: nothing marked)."""
    return np.zeros((INT_ROWS, n_users), np.int64), np.zeros((FLOAT_ROWS, n_users), np.float64)


@njit(cache=True)
def _stream(kind):
    if kind == BCM_NOISY:
        return STREAM_WILLING
    if kind == IC:
        return STREAM_CASCADE
    return STREAM_THRESHOLD


@njit(cache=True)
def _first_hop(kind, params, indptr, indices, weights, opinions, source, s):
    """The exact probability that at least one user engages: the source's out-neighbours face the
    post independently first, and any of them engaging makes the cascade non-empty."""
    none = 1.0
    for e in range(indptr[source], indptr[source + 1]):
        x = opinions[indices[e]]
        if kind == BCM_NOISY:
            chance = params[1] if (x - params[0] < s and s < x + params[0]) else params[2]
        elif kind == IC:
            chance = params[0] if params[1] <= 0.0 else params[0] * max(0.0, 1.0 - abs(s - x) / params[1])
        else:
            chance = min(weights[e], 1.0) if (params[0] <= 0.0 or abs(s - x) < params[0]) else 0.0
        none *= 1.0 - chance
    return 1.0 - none


@njit(cache=True)
def _run(kind, params, indptr, indices, weights, opinions, source, s, key, ws, fs, tag, cap, track):
    """One run (the model's spread function); returns ``(tail, tried)``."""
    if kind == BCM_NOISY:
        tail, _, tried = noisy_bounded_confidence_spread(indptr, indices, opinions, source, s, params[0], params[1], params[2], key,
                                                         ws[_STAMP], ws[_TESTED], tag, ws[_QUEUE], cap, track, fs[_HAZARD], ws[_TRIED])
    elif kind == IC:
        tail, _, tried = independent_cascade_spread(indptr, indices, opinions, source, s, params[0], params[1], key, ws[_STAMP], tag,
                                                    ws[_QUEUE], cap, track, fs[_HAZARD], ws[_TRIED], ws[_TESTED])
    else:
        tail, _, tried = linear_threshold_spread(indptr, indices, weights, opinions, source, s, params[0], key, ws[_STAMP],
                                                 ws[_TESTED], fs[_INFLUENCE], tag, ws[_QUEUE], cap, track, fs[_HAZARD], ws[_TRIED])
    return tail, tried


@njit(cache=True)
def _add(v, value, ws, fs, cascade_tag, touched):
    """Add ``value`` (and its square) to user v's sums in this cascade; returns the touched count."""
    if ws[_COUNTED, v] != cascade_tag:
        ws[_COUNTED, v] = cascade_tag
        fs[_SUM, v] = 0.0
        fs[_SQUARES, v] = 0.0
        ws[_TOUCHED, touched] = v
        touched += 1
    fs[_SUM, v] += value
    fs[_SQUARES, v] += value * value
    return touched


@njit(cache=True)
def _counts(kind, params, indptr, indices, weights, opinions, source, message, seed, n_runs, min_size, cap, ws, fs, tag):
    """Runs ``0..n_runs-1`` of one cascade (fewer when the pilot runs hit the cap, see PILOT); per user, sums ``A`` (``fs[_SUM]``) and sums of squares
    ``B`` (``fs[_SQUARES]``) over runs, such that, given at least ``min_size`` engaged users,
    ``A / D`` estimates the probability q of engaging and ``(A^2 - B) / (D^2 (N - 1) / N)``
    estimates q^2, both without bias.

    ``min_size == 1``: A sums the user's hazards over all N = R runs and D = R P(non-empty), the
    exact :func:`_first_hop`, with R the runs done. Larger ``min_size``: A counts the runs of at least ``min_size``
    engaged users (N of them, D = N) in which the user engaged. Returns ``(touched, D, N, tag)``:
    the users with a sum are ``ws[_TOUCHED, :touched]``; ``tag`` is the last stamp used (stamps only
    grow, so nothing is cleared between cascades).
    """
    stream = _stream(kind)
    tag += 1
    cascade_tag = tag
    touched = 0
    hazards = min_size <= 1
    usable = 0
    capped = 0
    done = 0
    for r in range(n_runs):
        if r == PILOT and 2 * capped > PILOT:
            break
        key = run_key(seed, stream, r)
        tag += 1
        tail, tried = _run(kind, params, indptr, indices, weights, opinions, source, message, key, ws, fs, tag, cap, hazards)
        done += 1
        capped += tail - 1 >= cap
        if hazards:
            for i in range(tried):
                v = ws[_TRIED, i]
                touched = _add(v, fs[_HAZARD, v], ws, fs, cascade_tag, touched)
        elif tail - 1 >= min_size:
            usable += 1
            for i in range(1, tail):
                touched = _add(ws[_QUEUE, i], 1.0, ws, fs, cascade_tag, touched)
    if hazards:
        return touched, done * _first_hop(kind, params, indptr, indices, weights, opinions, source, message), done, tag
    return touched, float(usable), usable, tag


@njit(cache=True)
def _swap_opinions(opinions, users, values):
    """Give ``users[i]`` the opinion ``values[i]`` (NaN: keep); returns the old values to restore."""
    old = np.empty(users.shape[0], np.float64)
    for i in range(users.shape[0]):
        old[i] = opinions[users[i]]
        if not math.isnan(values[i]):
            opinions[users[i]] = values[i]
    return old


@njit(cache=True)
def _restore(opinions, users, old):
    for i in range(users.shape[0] - 1, -1, -1):  # backwards: a repeated user gets its first value back
        opinions[users[i]] = old[i]


@njit(cache=True)
def forecast(q, floor):
    """A user's forecast probability: the model's q mixed with a background engagement,
    ``(1 - MIX) * q + floor`` with ``floor = MIX * base_rate``."""
    return (1.0 - MIX) * min(max(q, 0.0), 1.0) + floor


@njit(cache=True)
def _scores(ws, fs, touched, norm, runs, observed, n_users, obs_tag, floor):
    """Brier score, log-loss (nats) and expected size of one cascade, over every user but its source.

    Brier: the sum over users of ``(y - q)^2 = y - 2 y q + q^2``, each q and q^2 replaced by its
    unbiased estimate (:func:`_counts`), so the score is estimated without bias; users the runs
    never reached add their y. Log-loss: of :func:`forecast`. ``norm == 0`` (no run can reach the
    cascade's size) forecasts q = 0 for everyone.
    """
    is_observed = ws[_OBSERVED]
    for i in range(observed.shape[0]):
        is_observed[observed[i]] = obs_tag
    brier = float(observed.shape[0])
    loss = 0.0
    size = 0.0
    hits = 0
    rest = 0
    if norm > 0.0:
        square = norm * norm * (runs - 1.0) / runs if runs > 1 else norm * norm
        rest = touched
        for i in range(touched):
            v = ws[_TOUCHED, i]
            a = fs[_SUM, v]
            q = a / norm
            size += q
            brier += (a * a - fs[_SQUARES, v]) / square if runs > 1 else q * q
            f = forecast(q, floor)
            if is_observed[v] == obs_tag:
                brier -= 2.0 * q
                loss -= math.log(f)
                hits += 1
            else:
                loss -= math.log1p(-f)
    misses = observed.shape[0] - hits
    loss -= misses * math.log(floor) + (n_users - 1 - rest - misses) * math.log1p(-floor)
    return brier, loss, size


@njit(cache=True)
def _score_slice(kind, params, indptr, indices, weights, opinions, sources, messages, obs_indptr, obs_users, obs_opinions, chosen,
                 first, step, n_runs, seed, min_size, cap, floor, ws, fs, brier, loss, mean_size):
    n_users = opinions.shape[0]
    tag = 0
    for j in range(first, chosen.shape[0], step):
        c = chosen[j]
        users = obs_users[obs_indptr[c]:obs_indptr[c + 1]]
        old = _swap_opinions(opinions, users, obs_opinions[obs_indptr[c]:obs_indptr[c + 1]])
        touched, norm, runs, tag = _counts(kind, params, indptr, indices, weights, opinions, sources[c], messages[c], seed, n_runs,
                                           min_size, cap, ws, fs, tag)
        _restore(opinions, users, old)
        tag += 1
        brier[j], loss[j], mean_size[j] = _scores(ws, fs, touched, norm, runs, users, n_users, tag, floor)


@njit(parallel=True, cache=True)
def cascade_scores(kind, params, indptr, indices, weights, opinions, sources, messages, obs_indptr, obs_users, obs_opinions, chosen,
                   n_runs, seed, min_size, cap, floor, ws, fs, opinion_copies, brier, loss, mean_size):
    """Brier score, log-loss and expected size of each cascade in ``chosen`` (outputs indexed like
    it); ``floor`` as in :func:`forecast`.

    Cascade ``c`` sees the opinions ``opinions`` except that its observed users get
    ``obs_opinions`` where that is not NaN (opinions read off the other cascades). Threads take
    every ``k``-th cascade; thread t uses ``ws[t]``, ``fs[t]`` and ``opinion_copies[t]``.
    """
    chunks = ws.shape[0]
    for t in prange(chunks):
        opinion_copies[t, :] = opinions
        _score_slice(kind, params, indptr, indices, weights, opinion_copies[t], sources, messages, obs_indptr, obs_users,
                     obs_opinions, chosen, t, chunks, n_runs, seed, min_size, cap, floor, ws[t], fs[t], brier, loss, mean_size)


@njit(cache=True)
def cascade_marginal(kind, params, indptr, indices, weights, opinions, source, message, users, user_opinions, n_runs, seed,
                     min_size, cap, ws, fs, tag):
    """One cascade's estimated engagement probabilities: ``(users, q, tag)`` for every user a run
    reached (the others: 0), with ``users`` given the opinions ``user_opinions`` (NaN: keep) while
    it runs."""
    old = _swap_opinions(opinions, users, user_opinions)
    touched, norm, _, tag = _counts(kind, params, indptr, indices, weights, opinions, source, message, seed, n_runs, min_size, cap,
                                    ws, fs, tag)
    _restore(opinions, users, old)
    if norm <= 0.0:
        touched = 0
    reached = ws[_TOUCHED, :touched].copy()
    q = np.empty(touched, np.float64)
    for i in range(touched):
        q[i] = fs[_SUM, reached[i]] / norm
    return reached, q, tag


@njit(cache=True)
def one_run(kind, params, indptr, indices, weights, opinions, source, message, seed, run, ws, fs, tag):
    """The users engaged in run ``run`` of one cascade, in the order they engaged; and the last stamp."""
    tag += 1
    tail, _ = _run(kind, params, indptr, indices, weights, opinions, source, message, run_key(seed, _stream(kind), run), ws, fs, tag,
                   opinions.shape[0], False)
    return ws[_QUEUE, 1:tail].copy(), tag


def threads() -> int:
    """How many workspaces :func:`cascade_scores` uses: a few per thread, so uneven cascades balance."""
    return max(1, 4 * numba.get_num_threads()) if numba.get_num_threads() > 1 else 1
