"""Numba kernels of the bounded-confidence cascade over CSR arrays.

A user ``v`` engages with message ``s`` iff ``x_v - eps < s < x_v + eps`` (or, with backfire,
``s < x_v - eps_bf`` or ``s > x_v + eps_bf``), each bound computed in float64 exactly as numpy does,
so the breakpoints ``x_v +- eps`` used by the optimum search are the exact places where engagement
changes. Kernels here take validated arrays; nothing is checked.

``cascade`` is one BFS. ``engagement_batch`` (message values), ``window_bounds`` (ranges of
segments, for the optimum search) and ``window_counts`` (ranges of points and segments, for the
near-optimal set) share the bit-parallel core ``_spread_bits``: one BFS carries 64 queries at
once as the bits of a uint64 per user. ``connectivity_sweep`` computes engagement
on every segment of a symmetric graph by offline dynamic connectivity.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
BITS = 64


# How many queued users ahead a BFS prefetches: the row pointer PREFETCH ahead, the row half as far.
PREFETCH = 16


@intrinsic
def _prefetch(typingctx, array, index):
    """Hint the CPU to load ``array[index]`` into cache (LLVM prefetch, read, high locality).

    A BFS over a big graph waits on two dependent cache misses per queued user (row pointer, then
    row); the queue says which users come next, so their rows can be fetched in advance.
    """
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32]), "llvm.prefetch.p0"
        )
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def _bit_range(a, b):
    """uint64 with bits a..b-1 set, for 0 <= a, b <= 64 (empty when a >= b)."""
    if a >= b:
        return _ZERO
    return (_ALL >> np.uint64(BITS - (b - a))) << np.uint64(a)


@njit(cache=True, inline="always")
def _count_below(keys, t, inclusive):
    """Number of sorted ``keys`` < t (``inclusive``: <= t), by binary search."""
    lo = 0
    hi = keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < t or (inclusive and keys[mid] == t):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def cascade(indptr, indices, opinions, source, message, epsilon, epsilon_backfire, engaged):
    """One cascade; writes the engaged users to ``engaged`` (capacity n) in BFS order, returns how many.

    A first sequential pass marks the users who would engage (``waiting``); the BFS then touches
    one byte per edge, and clearing the byte on first contact makes every user face the message
    once. Only engaged users are queued, so the queue is the engaged list itself.
    ``epsilon_backfire = inf`` switches backfire off.
    """
    n = opinions.shape[0]
    waiting = np.empty(n, np.uint8)
    for v in range(n):
        x = opinions[v]
        waiting[v] = (x - epsilon < message and message < x + epsilon) or message < x - epsilon_backfire or message > x + epsilon_backfire
    waiting[source] = 0  # the source posts; it is never tested
    count = 0
    head = 0
    u = source
    while True:
        if head + PREFETCH < count:
            _prefetch(indptr, engaged[head + PREFETCH])
        if head + PREFETCH // 2 < count:
            _prefetch(indices, indptr[engaged[head + PREFETCH // 2]])
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if waiting[v]:
                waiting[v] = 0
                engaged[count] = v
                count += 1
        if head == count:
            return count
        u = engaged[head]
        head += 1


ALIVE, REACHED, PENDING, QUEUED = 0, 1, 2, 3


@njit(cache=True)
def _spread_bits(indptr, indices, source, state, full, touched):
    """Bit-parallel BFS: bit j of ``state[v, REACHED]`` is set iff v is reached in query j.

    ``state[v, ALIVE]`` holds the queries where v engages. A user passes on the bits it newly
    received (``PENDING``), restricted at each out-neighbour to the queries where that neighbour
    engages and has not been reached yet. FIFO order lets a user collect bits from several
    in-neighbours before it is processed. A user's four words share one 32-byte row: one cache
    line per edge. Fills ``touched`` with the users reached in at least one query (source
    excluded) and returns their number.
    """
    n = state.shape[0]
    queue = np.empty(n, np.int64)
    state[source, REACHED] = full
    state[source, PENDING] = full
    state[source, QUEUED] = _ONE
    queue[0] = source
    head = 0
    size = 1
    n_touched = 0
    while size > 0:
        if PREFETCH < size:
            _prefetch(indptr, queue[(head + PREFETCH) % n])
        if PREFETCH // 2 < size:
            _prefetch(indices, indptr[queue[(head + PREFETCH // 2) % n]])
        u = queue[head]
        head += 1
        if head == n:
            head = 0
        size -= 1
        state[u, QUEUED] = _ZERO
        p = state[u, PENDING]
        state[u, PENDING] = _ZERO
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            new = p & state[v, ALIVE] & ~state[v, REACHED]
            if new != _ZERO:
                if state[v, REACHED] == _ZERO:
                    touched[n_touched] = v
                    n_touched += 1
                state[v, REACHED] |= new
                state[v, PENDING] |= new
                if state[v, QUEUED] == _ZERO:
                    state[v, QUEUED] = _ONE
                    tail = head + size
                    if tail >= n:
                        tail -= n
                    queue[tail] = v
                    size += 1
    return n_touched


@njit(cache=True)
def _new_state(n):
    """Zeroed (n, 4) uint64 rows aligned to 64 bytes, so that no row straddles two cache lines."""
    buffer = np.zeros(4 * n + 8, np.uint64)
    skip = ((64 - buffer.ctypes.data % 64) % 64) // 8
    return buffer[skip : skip + 4 * n].reshape((n, 4))


@njit(cache=True, inline="always")
def _add_bits(counts, mask):
    """counts[j] += bit j of mask, for all 64 j (a loop LLVM vectorises)."""
    for j in range(BITS):
        counts[j] += (mask >> np.uint64(j)) & _ONE


@njit(cache=True, inline="always")
def _reached_counts(indptr, indices, source, state, n_queries):
    """Run the bit-parallel BFS of ``n_queries`` queries; the number of users reached in each."""
    touched = np.empty(state.shape[0], np.int64)
    n_touched = _spread_bits(indptr, indices, source, state, _bit_range(0, n_queries), touched)
    counts = np.zeros(BITS, np.uint64)
    for i in range(n_touched):
        _add_bits(counts, state[touched[i], REACHED])
    return counts


@njit(cache=True, parallel=True)
def engagement_batch(indptr, indices, opinions, source, epsilon, epsilon_backfire, messages):
    """Engagement for each of the sorted, distinct ``messages``; 64 per BFS pass, passes in parallel."""
    n = opinions.shape[0]
    k = messages.shape[0]
    n_pass = (k + BITS - 1) // BITS
    result = np.zeros(k, np.int64)
    backfire = epsilon_backfire < np.inf
    for p in prange(n_pass):
        keys = messages[p * BITS : min(k, (p + 1) * BITS)]
        n_keys = keys.shape[0]
        state = _new_state(n)
        for v in range(n):
            x = opinions[v]
            m = _bit_range(_count_below(keys, x - epsilon, True), _count_below(keys, x + epsilon, False))
            if backfire:
                m |= _bit_range(0, _count_below(keys, x - epsilon_backfire, False))
                m |= _bit_range(_count_below(keys, x + epsilon_backfire, True), n_keys)
            state[v, ALIVE] = m
        counts = _reached_counts(indptr, indices, source, state, n_keys)
        for j in range(n_keys):
            result[p * BITS + j] = np.int64(counts[j])
    return result


@njit(cache=True, inline="always")
def _window_masks(state, range_lo, range_hi, wlo, whi, cover):
    """Bit j of ``state[v, ALIVE]``: user v engages on every index of window j (``cover``), or on
    some index of it. The windows ``wlo[j]..whi[j]`` are sorted and disjoint, so those lying within
    (or meeting) one range of v are a run of bits found by two binary searches."""
    for v in range(range_lo.shape[0]):
        m = _ZERO
        for r in range(range_lo.shape[1]):
            a = range_lo[v, r]
            b = range_hi[v, r]
            if a <= b:
                if cover:
                    m |= _bit_range(_count_below(wlo, a, False), _count_below(whi, b, True))
                else:
                    m |= _bit_range(_count_below(whi, a, False), _count_below(wlo, b, True))
        state[v, ALIVE] = m


@njit(cache=True, inline="always")
def _cut_window(diff, start, lo, hi, a, b, m, j, whole_lo, whole_hi):
    """+1 on the segments of window j (lo..hi, stored from ``start``) inside a..b, unless window j is
    wholly inside (counted apart) or v was not reached in it."""
    if not (whole_lo <= j < whole_hi) and (m >> np.uint64(j)) & _ONE != _ZERO:
        diff[start + max(a, lo) - lo] += 1
        diff[start + min(b, hi) - lo + 1] -= 1


@njit(cache=True, parallel=True)
def window_bounds(indptr, indices, source, range_lo, range_hi, win_lo, win_hi, pass_ptr, out_ptr):
    """Upper bounds on engagement per segment from reachability within windows of segments.

    User v engages on the segments ``range_lo[v, r]..range_hi[v, r]`` (inclusive, empty when lo > hi).
    A window W = ``win_lo[w]..win_hi[w]`` is one query: users engaging somewhere in W may relay, so
    the users reached, ``Reach_W``, include everyone engaged at any segment of W, and
    ``|engaging at j  and  in Reach_W|`` bounds engagement at j from above (exactly it when W is
    one segment). Pass p holds the sorted, disjoint windows ``pass_ptr[p]..pass_ptr[p+1]-1``;
    the bound for segment ``win_lo[w] + t`` is written to ``out[out_ptr[w] + t]``.
    """
    n = range_lo.shape[0]
    n_ranges = range_lo.shape[1]
    n_pass = pass_ptr.shape[0] - 1
    out = np.zeros(out_ptr[-1], np.int64)
    for p in prange(n_pass):
        w0 = pass_ptr[p]
        n_win = pass_ptr[p + 1] - w0
        wlo = win_lo[w0 : w0 + n_win]
        whi = win_hi[w0 : w0 + n_win]
        base = out_ptr[w0]
        state = _new_state(n)
        _window_masks(state, range_lo, range_hi, wlo, whi, False)
        touched = np.empty(n, np.int64)
        n_touched = _spread_bits(indptr, indices, source, state, _bit_range(0, n_win), touched)
        # Windows lying wholly inside a user's range gain 1 on every segment (a per-window
        # counter); the at most two windows cut by the range's ends get a difference-array update.
        whole = np.zeros(BITS, np.uint64)
        diff = np.zeros(out_ptr[w0 + n_win] - base + 1, np.int64)
        for i in range(n_touched):
            v = touched[i]
            m = state[v, REACHED]
            for r in range(n_ranges):
                a = range_lo[v, r]
                b = range_hi[v, r]
                if a > b:
                    continue
                j0 = _count_below(whi, a, False)
                j1 = _count_below(wlo, b, True)
                w_in0 = _count_below(wlo, a, False)
                w_in1 = _count_below(whi, b, True)
                _add_bits(whole, m & _bit_range(w_in0, w_in1))
                if j0 < j1:
                    _cut_window(diff, out_ptr[w0 + j0] - base, wlo[j0], whi[j0], a, b, m, j0, w_in0, w_in1)
                    if j1 - 1 > j0:
                        _cut_window(diff, out_ptr[w0 + j1 - 1] - base, wlo[j1 - 1], whi[j1 - 1], a, b, m, j1 - 1, w_in0, w_in1)
        running = 0  # one prefix sum over the pass: a window's -1 past its end lands on the next start
        for j in range(n_win):
            start = out_ptr[w0 + j] - base
            for t in range(whi[j] - wlo[j] + 1):
                running += diff[start + t]
                out[base + start + t] = np.int64(whole[j]) + running
    return out


@njit(cache=True)
def induced_subgraph(indptr, indices, nodes, new_id):
    """CSR of the subgraph on ``nodes`` (closed under out-neighbours), relabelled by ``new_id``."""
    k = nodes.shape[0]
    sub_indptr = np.zeros(k + 1, np.int64)
    for i in range(k):
        u = nodes[i]
        sub_indptr[i + 1] = sub_indptr[i] + indptr[u + 1] - indptr[u]
    sub_indices = np.empty(sub_indptr[k], np.int32)
    for i in range(k):
        u = nodes[i]
        pos = sub_indptr[i]
        for e in range(indptr[u], indptr[u + 1]):
            sub_indices[pos] = new_id[indices[e]]
            pos += 1
    return sub_indptr, sub_indices


@njit(cache=True, inline="always")
def _find(parent, x):
    """Root of x's tree (no path compression: unions must stay undoable)."""
    while parent[x] != x:
        x = parent[x]
    return x


@njit(cache=True)
def _edge_pieces(indptr, indices, range_lo, range_hi):
    """Undirected edges {u, v} (u < v) with a segment range where both ends engage, one row per
    piece (the intersections of the ends' ranges): arrays u, v, lo, hi."""
    n = range_lo.shape[0]
    n_ranges = range_lo.shape[1]
    count = 0
    piece_u = np.empty(0, np.int32)
    piece_v = np.empty(0, np.int32)
    piece_lo = np.empty(0, np.int64)
    piece_hi = np.empty(0, np.int64)
    for fill in range(2):
        if fill == 1:
            piece_u = np.empty(count, np.int32)
            piece_v = np.empty(count, np.int32)
            piece_lo = np.empty(count, np.int64)
            piece_hi = np.empty(count, np.int64)
            count = 0
        for u in range(n):
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                if v <= u:
                    continue
                for ru in range(n_ranges):
                    for rv in range(n_ranges):
                        lo = max(range_lo[u, ru], range_lo[v, rv])
                        hi = min(range_hi[u, ru], range_hi[v, rv])
                        if lo <= hi:
                            if fill == 1:
                                piece_u[count] = u
                                piece_v[count] = v
                                piece_lo[count] = lo
                                piece_hi[count] = hi
                            count += 1
    return piece_u, piece_v, piece_lo, piece_hi


@njit(cache=True)
def _sweep_leaves(first, last, edge_u, edge_v, edge_lo, edge_hi, n, source, values):
    """Engagement at segments first..last: divide and conquer over the segment range.

    Entering a node that covers segments L..R, the parent's partial edges alive on all of L..R
    are united (union-find by size, logged so they can be undone on leaving) and those alive on
    part of it are written, after the parent's list, into one growing buffer for the node's
    halves. An edge is partial at a node only if one of its ends lies inside, so lists shrink
    geometrically with depth and each edge is handled O(log S) times, streaming through memory.
    A node without partial edges has one value on all its segments.
    """
    parent = np.arange(n).astype(np.int32)
    comp = np.ones(n, np.int32)
    undo = np.empty(n, np.int32)
    buf = np.empty((4 * edge_u.shape[0] + 64, 4), np.int32)  # rows: u, v, lo, hi
    # Frames: segment range, partial-edge list start/end in the buffer, undo-log length on entry,
    # and which half comes next (0 left, 1 right, 2 done).
    f_lo = np.empty(64, np.int64)
    f_hi = np.empty(64, np.int64)
    f_start = np.empty(64, np.int64)
    f_end = np.empty(64, np.int64)
    f_saved = np.empty(64, np.int64)
    f_next = np.empty(64, np.int64)
    n_undo = 0
    # The root is entered from the full edge list, stored as the buffer's first rows.
    end = 0
    for k in range(edge_u.shape[0]):
        if edge_lo[k] <= last and edge_hi[k] >= first:
            if edge_lo[k] <= first and edge_hi[k] >= last:
                n_undo = _union(parent, comp, undo, n_undo, edge_u[k], edge_v[k])
            else:
                buf[end, 0], buf[end, 1], buf[end, 2], buf[end, 3] = edge_u[k], edge_v[k], edge_lo[k], edge_hi[k]
                end += 1
    if end == 0:
        values[first : last + 1] = comp[_find(parent, source)] - 1
        return
    f_lo[0], f_hi[0], f_start[0], f_end[0], f_saved[0], f_next[0] = first, last, 0, end, 0, 0
    depth = 1
    while depth > 0:
        d = depth - 1
        if f_next[d] == 2:
            n_undo = _rollback(parent, comp, undo, n_undo, f_saved[d])
            depth -= 1
            continue
        mid = (f_lo[d] + f_hi[d]) >> 1
        lo = f_lo[d] if f_next[d] == 0 else mid + 1
        hi = mid if f_next[d] == 0 else f_hi[d]
        f_next[d] += 1
        start, end = f_start[d], f_end[d]
        if end + (end - start) > buf.shape[0]:
            grown = np.empty((2 * buf.shape[0] + end - start, 4), np.int32)
            grown[:end] = buf[:end]
            buf = grown
        saved = n_undo
        child_end = end
        for k in range(start, end):
            if buf[k, 2] <= hi and buf[k, 3] >= lo:
                if buf[k, 2] <= lo and buf[k, 3] >= hi:
                    n_undo = _union(parent, comp, undo, n_undo, buf[k, 0], buf[k, 1])
                else:
                    buf[child_end, 0], buf[child_end, 1] = buf[k, 0], buf[k, 1]
                    buf[child_end, 2], buf[child_end, 3] = buf[k, 2], buf[k, 3]
                    child_end += 1
        if child_end == end:
            values[lo : hi + 1] = comp[_find(parent, source)] - 1
            n_undo = _rollback(parent, comp, undo, n_undo, saved)
        else:
            f_lo[depth], f_hi[depth], f_start[depth], f_end[depth] = lo, hi, end, child_end
            f_saved[depth], f_next[depth] = saved, 0
            depth += 1


@njit(cache=True, inline="always")
def _union(parent, comp, undo, n_undo, u, v):
    """Unites u's and v's sets by size, logging the attached root; returns the log length."""
    a = _find(parent, u)
    b = _find(parent, v)
    if a != b:
        if comp[a] < comp[b]:
            a, b = b, a
        parent[b] = a
        comp[a] += comp[b]
        undo[n_undo] = b
        n_undo += 1
    return n_undo


@njit(cache=True, inline="always")
def _rollback(parent, comp, undo, n_undo, saved):
    """Undoes the unions logged after position ``saved``."""
    while n_undo > saved:
        n_undo -= 1
        b = undo[n_undo]
        comp[parent[b]] -= comp[b]
        parent[b] = b
    return n_undo


@njit(cache=True, parallel=True)
def connectivity_sweep(indptr, indices, source, range_lo, range_hi, n_segments, n_tasks):
    """Engagement on every segment of a symmetric graph by offline dynamic connectivity.

    On a symmetric graph the engaged users at segment j are the source's connected component,
    minus the source, in the subgraph of users engaging at j plus the source. Each undirected
    edge is present on the segments where both ends engage; :func:`_sweep_leaves` walks the
    segment axis by divide and conquer with an undoable union-find. ``n_tasks`` blocks of
    segments are swept in parallel. The source's ranges must cover every segment.
    """
    edge_u, edge_v, edge_lo, edge_hi = _edge_pieces(indptr, indices, range_lo, range_hi)
    values = np.zeros(n_segments, np.int64)
    tasks = max(1, min(n_tasks, n_segments))
    for t in prange(tasks):
        first = t * n_segments // tasks
        last = (t + 1) * n_segments // tasks - 1
        _sweep_leaves(first, last, edge_u, edge_v, edge_lo, edge_hi, range_lo.shape[0], source, values)
    return values


@njit(cache=True, parallel=True)
def window_counts(indptr, indices, source, range_lo, range_hi, win_lo, win_hi, pass_ptr, cover):
    """Engagement over windows of an index space (the optimum's leaves: points and segments).

    User v engages on the indices ``range_lo[v, r]..range_hi[v, r]`` (inclusive, empty when lo >
    hi). A window ``win_lo[w]..win_hi[w]`` is one query. With ``cover``, only users engaging on
    every index of the window may engage: the count reached bounds engagement at each index of
    the window from below (and is it, for a one-index window); without, users engaging somewhere
    in the window may: an upper bound. Pass p holds the sorted, disjoint windows
    ``pass_ptr[p]..pass_ptr[p+1]-1`` (at most 64), run as the bits of one BFS.
    """
    n = range_lo.shape[0]
    n_pass = pass_ptr.shape[0] - 1
    out = np.zeros(win_lo.shape[0], np.int64)
    for p in prange(n_pass):
        w0 = pass_ptr[p]
        n_win = pass_ptr[p + 1] - w0
        wlo = win_lo[w0 : w0 + n_win]
        whi = win_hi[w0 : w0 + n_win]
        state = _new_state(n)
        _window_masks(state, range_lo, range_hi, wlo, whi, cover)
        counts = _reached_counts(indptr, indices, source, state, n_win)
        for j in range(n_win):
            out[w0 + j] = np.int64(counts[j])
    return out
