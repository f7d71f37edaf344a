"""Numba kernels of the recommenders and the feed cascade; they take validated arrays and check nothing."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

NEG_INF = -np.inf


@njit(cache=True, parallel=True)
def topk_rows(scores, k):
    """The k largest finite-or-not-minus-infinity entries of each row, best first.

    Ties go to the lower column (post id), so a post appended at the end of a pool loses every tie.
    Rows with fewer than k eligible entries (> -inf) are padded with index -1 and value -inf.
    """
    u, m = scores.shape
    idx = np.full((u, k), -1, np.int64)
    val = np.full((u, k), NEG_INF)
    for i in prange(u):
        count = 0
        for j in range(m):
            v = scores[i, j]
            if not v > NEG_INF:  # -inf and NaN are ineligible
                continue
            if count == k and not v > val[i, k - 1]:
                continue
            pos = count if count < k else k - 1
            while pos > 0 and val[i, pos - 1] < v:
                val[i, pos] = val[i, pos - 1]
                idx[i, pos] = idx[i, pos - 1]
                pos -= 1
            val[i, pos] = v
            idx[i, pos] = j
            if count < k:
                count += 1
    return idx, val


@njit(cache=True, parallel=True)
def exclude_own(users, pa_indptr, pa_posts, scores):
    """Set to -inf the score of every post a user wrote (nobody is recommended their own posts)."""
    n_auth = pa_indptr.shape[0] - 1
    for i in prange(users.shape[0]):
        a = users[i]
        if 0 <= a < n_auth:
            for e in range(pa_indptr[a], pa_indptr[a + 1]):
                scores[i, pa_posts[e]] = NEG_INF


@njit(cache=True, parallel=True)
def followee_mask(users, fol_indptr, fol_indices, pa_indptr, pa_posts, m):
    """(len(users), m) bool: post j was written by an account the user follows."""
    out = np.zeros((users.shape[0], m), np.bool_)
    n_auth = pa_indptr.shape[0] - 1
    for i in prange(users.shape[0]):
        v = users[i]
        for e in range(fol_indptr[v], fol_indptr[v + 1]):
            a = fol_indices[e]
            if a < n_auth:
                for f in range(pa_indptr[a], pa_indptr[a + 1]):
                    out[i, pa_posts[f]] = True
    return out


@njit(cache=True, parallel=True)
def mmr_select(short_idx, short_rel, opinion, embedding, gram, use_gram, lam, content_weight, opinion_weight, k):
    """Greedy maximal marginal relevance over each user's shortlist.

    Step j picks the candidate maximising ``lam * rel - (1 - lam) * max_{selected} sim``, where
    ``sim = content_weight * max(cos, 0) + opinion_weight * (1 - |o_a - o_b|)``; ties go to the
    earlier shortlist position. Returns the picks (post ids, -1 when the shortlist runs out) and the
    winning MMR value of each step (-inf when it ran out).
    """
    u, M = short_idx.shape
    picked = np.full((u, k), -1, np.int64)
    best = np.full((u, k), NEG_INF)
    d = embedding.shape[1]
    for i in prange(u):
        penalty = np.zeros(M)  # max similarity to the selected posts so far
        taken = np.zeros(M, np.bool_)
        for j in range(k):
            top = -1
            top_val = NEG_INF
            for c in range(M):
                if taken[c] or short_idx[i, c] < 0:
                    continue
                value = lam * short_rel[i, c] - (1.0 - lam) * penalty[c]
                if value > top_val:
                    top_val = value
                    top = c
            if top < 0:
                break
            taken[top] = True
            p = short_idx[i, top]
            picked[i, j] = p
            best[i, j] = top_val
            for c in range(M):
                q = short_idx[i, c]
                if taken[c] or q < 0:
                    continue
                if use_gram:
                    cos = gram[p, q]
                else:
                    cos = 0.0
                    for t in range(d):
                        cos += embedding[p, t] * embedding[q, t]
                sim = content_weight * max(cos, 0.0) + opinion_weight * (1.0 - abs(opinion[p] - opinion[q]))
                if j == 0 or sim > penalty[c]:
                    penalty[c] = sim
    return picked, best


# ---------------------------------------------------------------------------------------- feed cascade


@njit(cache=True, inline="always")
def _newer_posts(fpt_indptr, fpt_times, v, after, upto):
    """How many posts by v's followees have a time in (after, upto] (times sorted per user)."""
    lo = fpt_indptr[v]
    hi = fpt_indptr[v + 1]
    a, b = lo, hi
    while a < b:  # first time > after
        mid = (a + b) >> 1
        if fpt_times[mid] > after:
            b = mid
        else:
            a = mid + 1
    first = a
    a, b = first, hi
    while a < b:  # first time > upto
        mid = (a + b) >> 1
        if fpt_times[mid] > upto:
            b = mid
        else:
            a = mid + 1
    return a - first


@njit(cache=True)
def follow_visible(seen, latest, fpt_indptr, fpt_times, now, k_follow):
    """Users (not yet seen) whose follow feed shows the post: a followee shared it at time ``latest``
    and fewer than ``k_follow`` newer posts by their followees push it out of the feed by ``now``."""
    n = seen.shape[0]
    out = np.zeros(n, np.bool_)
    if k_follow <= 0:
        return out
    for v in range(n):
        if not seen[v] and latest[v] > NEG_INF:
            out[v] = _newer_posts(fpt_indptr, fpt_times, v, latest[v], now) < k_follow
    return out


@njit(cache=True)
def share(newly, out_indptr, out_indices, latest, now):
    """Users in ``newly`` shared the post at time ``now``: their followers' follow feeds get it."""
    for i in range(newly.shape[0]):
        u = newly[i]
        for e in range(out_indptr[u], out_indptr[u + 1]):
            latest[out_indices[e]] = now


@njit(cache=True)
def _one_message(s, opinions, epsilon, source, rounds, k_follow, lo, hi, min_likes,
                 out_indptr, out_indices, fpt_indptr, fpt_times, seen, latest, queue):
    n = opinions.shape[0]
    for v in range(n):
        seen[v] = False
        latest[v] = NEG_INF
    seen[source] = True
    for e in range(out_indptr[source], out_indptr[source + 1]):
        latest[out_indices[e]] = 0.0
    likes = 0
    for r in range(rounds):
        now = float(r + 1)
        count = 0
        for v in range(n):
            if seen[v]:
                continue
            show = False
            if k_follow > 0 and latest[v] > NEG_INF:
                show = _newer_posts(fpt_indptr, fpt_times, v, latest[v], now) < k_follow
            if not show:
                show = lo[r, v] < s and s < hi[r, v] and likes >= min_likes[r, v]
            if show:
                seen[v] = True
                x = opinions[v]
                if x - epsilon < s and s < x + epsilon:
                    queue[likes + count] = v
                    count += 1
        for i in range(likes, likes + count):
            u = queue[i]
            for e in range(out_indptr[u], out_indptr[u + 1]):
                latest[out_indices[e]] = now
        likes += count
    return likes


@njit(cache=True, parallel=True)
def feed_cascade_batch(messages, opinions, epsilon, source, rounds, k_follow, lo, hi, min_likes,
                       out_indptr, out_indices, fpt_indptr, fpt_times, n_tasks):
    """Engaged users of the feed cascade for each message value (admission in interval form).

    Round r: a user not yet seen gets the post if their follow feed shows it (see
    :func:`follow_visible`) or the recommender admits it (``lo[r] < s < hi[r]`` and the post's likes,
    the users engaged so far, reach ``min_likes[r]``); a user who gets it engages iff within
    ``epsilon``, and shares it to their followers for the next round.
    """
    out = np.zeros(messages.shape[0], np.int64)
    n = opinions.shape[0]
    tasks = max(1, min(n_tasks, messages.shape[0]))
    for t in prange(tasks):
        seen = np.zeros(n, np.bool_)
        latest = np.empty(n)
        queue = np.empty(n, np.int64)
        for j in range(t, messages.shape[0], tasks):
            out[j] = _one_message(messages[j], opinions, epsilon, source, rounds, k_follow, lo, hi, min_likes,
                                  out_indptr, out_indices, fpt_indptr, fpt_times, seen, latest, queue)
    return out


@njit(cache=True)
def followee_post_times(fol_indptr, fol_indices, pa_indptr, pa_posts, times):
    """CSR over users: the sorted times of every post written by an account the user follows."""
    n = fol_indptr.shape[0] - 1
    n_auth = pa_indptr.shape[0] - 1
    indptr = np.zeros(n + 1, np.int64)
    for v in range(n):
        c = 0
        for e in range(fol_indptr[v], fol_indptr[v + 1]):
            a = fol_indices[e]
            if a < n_auth:
                c += pa_indptr[a + 1] - pa_indptr[a]
        indptr[v + 1] = indptr[v] + c
    out = np.empty(indptr[n])
    for v in range(n):
        c = indptr[v]
        for e in range(fol_indptr[v], fol_indptr[v + 1]):
            a = fol_indices[e]
            if a < n_auth:
                for f in range(pa_indptr[a], pa_indptr[a + 1]):
                    out[c] = times[pa_posts[f]]
                    c += 1
        out[indptr[v]:indptr[v + 1]].sort()
    return indptr, out
