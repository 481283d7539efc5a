"""Compiled (numba) kernels of the balance: plain loops over coordinate arrays, testable on tiny input.

:func:`pair_segments` pairs the ring segments of a cadastre (the topology's "is every edge shared
exactly?" and the linework of the union of the parcels); :func:`simple_rings` tells rings that are
certainly simple (valid polygons) from those GEOS must judge. Compiled once and cached on disk
(``cache=True``); ``nogil``: bands of a large cadastre run in threads.

Starting numba's runtime costs about 0.45 CPU s once per process (the first call of any kernel), more
than the kernels save below a few hundred thousand parcels. :func:`use_compiled` says when to use them;
otherwise the numpy forms (:func:`ring_segments_np`, :func:`pair_segments_np`: the same results) run.
"""
from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd

COMPILED_MIN_ITEMS = 250_000


def use_compiled(n_items: int, min_items: int | None = None) -> bool:
    """True when the compiled kernels pay for themselves: ``n_items`` (parcels) at least ``min_items``
    (default :data:`COMPILED_MIN_ITEMS`, ``layers/balance.yaml`` engine.compiled_min_parcels), or
    numba's runtime already started in this process (a kernel ran: nothing more to pay)."""
    limit = COMPILED_MIN_ITEMS if min_items is None else min_items
    return n_items >= limit or bool(pair_segments.signatures or simple_rings.signatures)


def ring_segments_np(xy, ring, exterior):
    """:func:`ring_segments` in numpy."""
    seg = np.flatnonzero(ring[:-1] == ring[1:])
    x, y = xy[:, 0], xy[:, 1]
    seg_ring = ring[seg]
    area2 = np.bincount(seg_ring, weights=x[seg] * y[seg + 1] - x[seg + 1] * y[seg], minlength=exterior.size)
    return seg.astype(np.int64), (exterior != (area2 > 0))[seg_ring]


def pair_segments_np(bits, start, rev, owner):
    """:func:`pair_segments` in numpy (sorting by hash: factorize, bincount)."""
    xy = bits.view(np.float64)
    # vertices as integers (identical coordinates -> same id): a hash of the bits, checked exactly
    vid = pd.factorize((bits[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ (bits[:, 1] + np.uint64(0x632BE59BD9B4E019)))[0]
    rep = np.empty(int(vid.max()) + 1 if vid.size else 0, dtype=np.int64)
    rep[vid] = np.arange(len(vid))
    if vid.size and (bits != bits[rep[vid]]).any():      # a hash collision: factorize the coordinates
        vid = pd.factorize(xy[:, 0] + 1j * xy[:, 1])[0]
    vid = vid.astype(np.int64)
    a = np.where(rev, start + 1, start)
    b = np.where(rev, start, start + 1)
    u, v = vid[a], vid[b]
    fwd = u < v
    key = np.minimum(u, v) * (int(vid.max()) + 1 if vid.size else 1) + np.maximum(u, v)
    gid = pd.factorize(key)[0]
    w = owner.astype(float)
    size = np.bincount(gid)
    turn = np.bincount(gid, weights=np.where(fwd, 1.0, -1.0))
    own_f = np.bincount(gid, weights=np.where(fwd, w, 0.0))
    own_r = np.bincount(gid, weights=np.where(fwd, 0.0, w))
    ok = ((size == 2) & (turn == 0) & (own_f != own_r))[gid]
    partner = np.where(ok, np.where(fwd, own_r[gid], own_f[gid]), -1.0).astype(np.int64)
    partner[u == v] = -2
    return partner


@nb.njit(cache=True, nogil=True)
def pair_segments(bits, start, rev, owner, strip=32768):
    """Partner parcel of each ring segment, from one pass of an open-addressing hash table.

    ``bits``: (n, 2) uint64, the bit patterns of the vertex coordinates (identical coordinates, identical
    bits; -0.0 normalised by the caller); segment ``i`` runs from vertex ``start[i]`` to ``start[i] + 1``,
    reversed when ``rev[i]`` (rings oriented with the interior on the left); ``owner[i]`` its parcel.

    Returns, per segment, the parcel that runs along it exactly once in the opposite direction, or -1
    (no such parcel, or the segment is met by more than one other, or in the same direction), or -2
    (a zero-length segment: a repeated vertex).

    The segments are first sorted into vertical strips by the x of their midpoint (both copies of an
    edge have the same midpoint, so they always meet in one strip) of about ``strip`` segments each;
    each strip is paired with its own small hash table that stays in the CPU cache: the cost stays
    linear in the segments, with no bands of parcels to overlap.

    >>> import numpy as np
    >>> xy = np.array([[0., 0], [1, 0], [1, 0], [0, 0], [5, 5], [6, 6], [7, 7], [7, 7]])
    >>> pair_segments(xy.view(np.uint64), np.array([0, 2, 4, 6]), np.zeros(4, bool), np.array([0, 1, 1, 2])
    ...               ).tolist()
    [1, 0, -1, -2]
    """
    n = start.size
    partner = np.full(n, -1, np.int64)
    dirn = np.zeros(n, np.int8)
    if n == 0:
        return partner
    xy = bits.view(np.float64)
    mid = np.empty(n)
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        a = start[i]
        mid[i] = (xy[a, 0] + xy[a + 1, 0]) * 0.5
        if mid[i] < lo:
            lo = mid[i]
        if mid[i] > hi:
            hi = mid[i]
    n_strips = max(1, n // strip)
    width = (hi - lo) / n_strips
    which = np.zeros(n, np.int64)
    count = np.zeros(n_strips + 1, np.int64)
    for i in range(n):
        k = 0
        if width > 0.0:
            k = min(int((mid[i] - lo) / width), n_strips - 1)
        which[i] = k
        count[k + 1] += 1
    for k in range(n_strips):
        count[k + 1] += count[k]
    order = np.empty(n, np.int64)
    fill = count[:-1].copy()
    for i in range(n):
        order[fill[which[i]]] = i
        fill[which[i]] += 1
    for k in range(n_strips):
        _pair_strip(bits, start, rev, owner, order[count[k]:count[k + 1]], partner, dirn)
    return partner


@nb.njit(cache=True, nogil=True)
def _pair_strip(bits, start, rev, owner, segs, partner, dirn):  # noqa: C901 - one pass, kept in one piece
    """:func:`pair_segments` for the segments ``segs`` (all copies of their edges among them)."""
    n = segs.size
    size = 1
    while size < n + n // 2 + 2:
        size *= 2
    mask = np.uint64(size - 1)
    # one row per distinct segment: first segment + 1 (0: empty slot), hash, second segment, count
    table = np.zeros((size, 4), np.int64)
    for t in range(n):
        i = segs[t]
        a = start[i]
        b = a + 1
        if rev[i]:
            a, b = b, a
        ax, ay, bx, by = bits[a, 0], bits[a, 1], bits[b, 0], bits[b, 1]
        if ax == bx and ay == by:
            partner[i] = -2
            continue
        d = 1
        if not (ax < bx or (ax == bx and ay < by)):
            d = -1
            ax, ay, bx, by = bx, by, ax, ay
        dirn[i] = d
        h = ax * np.uint64(0x9E3779B97F4A7C15)
        h = (h ^ (h >> np.uint64(29))) + ay * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(31))) + bx * np.uint64(0x94D049BB133111EB)
        h = (h ^ (h >> np.uint64(30))) + by * np.uint64(0xD6E8FEB86659FD93)
        h = h ^ (h >> np.uint64(32))
        hi = np.int64(h)
        s = np.int64(h & mask)
        while True:
            j = table[s, 0] - 1
            if j < 0:
                table[s, 0] = i + 1
                table[s, 1] = hi
                table[s, 2] = -1
                table[s, 3] = 1
                break
            if table[s, 1] == hi:
                # same hash: compare the canonical endpoints of segment j
                p = start[j]
                q = p + 1
                if rev[j]:
                    p, q = q, p
                px, py, qx, qy = bits[p, 0], bits[p, 1], bits[q, 0], bits[q, 1]
                if dirn[j] < 0:
                    px, py, qx, qy = qx, qy, px, py
                if px == ax and py == ay and qx == bx and qy == by:
                    c = table[s, 3] + 1
                    table[s, 3] = c
                    if c == 2:
                        table[s, 2] = i
                        if dirn[j] != d and owner[j] != owner[i]:
                            partner[i] = owner[j]
                            partner[j] = owner[i]
                    else:  # a third one: nobody on this edge is paired exactly
                        partner[j] = -1
                        partner[table[s, 2]] = -1
                    break
            s = (s + 1) & np.int64(size - 1)


@nb.njit(cache=True, nogil=True)
def ring_segments(xy, ring, exterior):
    """Segments of rings given as consecutive vertices (``ring``: the ring of each vertex, rings closed):
    the start vertex of each segment and whether its ring runs against the interior-on-the-left
    orientation (exterior rings counter-clockwise, holes clockwise; ``exterior`` per ring).

    >>> import numpy as np
    >>> sq = [[0., 0], [1, 0], [1, 1], [0, 1], [0, 0]]                     # counter-clockwise
    >>> start, rev = ring_segments(np.array(sq + sq[::-1]), np.repeat([0, 1], 5), np.array([True, True]))
    >>> start.tolist(), rev.tolist()
    ([0, 1, 2, 3, 5, 6, 7, 8], [False, False, False, False, True, True, True, True])
    """
    n = ring.size
    n_rings = exterior.size
    area2 = np.zeros(n_rings)
    count = 0
    for i in range(n - 1):
        if ring[i] == ring[i + 1]:
            area2[ring[i]] += xy[i, 0] * xy[i + 1, 1] - xy[i + 1, 0] * xy[i, 1]
            count += 1
    start = np.empty(count, np.int64)
    rev = np.empty(count, np.bool_)
    k = 0
    for i in range(n - 1):
        r = ring[i]
        if r == ring[i + 1]:
            start[k] = i
            rev[k] = exterior[r] != (area2[r] > 0)
            k += 1
    return start, rev


@nb.njit(cache=True, nogil=True, inline="always")
def _orient_sign(ax, ay, bx, by, cx, cy):
    """Sign of the turn a -> b -> c (1 left, -1 right), or 0 when floating point cannot tell
    (Shewchuk's first error bound of orient2d: 0 is returned for every collinear or nearly collinear
    triple, never a wrong sign)."""
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    bound = 3.3306690738754716e-16 * (abs(detleft) + abs(detright))
    if det > bound:
        return 1
    if -det > bound:
        return -1
    return 0


@nb.njit(cache=True, nogil=True)
def simple_rings(xy, offsets, max_vertices=64):
    """Per ring (vertices ``offsets[k]`` .. ``offsets[k + 1]`` - 1, closed), True when the ring is
    certainly simple: at least 4 points, finite, no repeated consecutive vertex, no two segments that
    cross or touch other than consecutive ones at their shared vertex, no consecutive segments folding
    back. A polygon made of such a ring is valid (OGC). False means "not certain" (a touch, a collinear
    triple the floating point cannot decide, more than ``max_vertices`` vertices…): ask GEOS.

    >>> import numpy as np
    >>> sq = [[0., 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    >>> bow = [[0., 0], [1, 1], [1, 0], [0, 1], [0, 0]]                     # a bow tie: self-crossing
    >>> simple_rings(np.array(sq + bow), np.array([0, 5, 10])).tolist()
    [True, False]
    """
    n_rings = offsets.size - 1
    out = np.zeros(n_rings, np.bool_)
    for k in range(n_rings):
        lo = offsets[k]
        hi = offsets[k + 1]
        m = hi - lo - 1                       # segments
        if m < 3 or m > max_vertices:
            continue
        if xy[lo, 0] != xy[hi - 1, 0] or xy[lo, 1] != xy[hi - 1, 1]:
            continue
        ok = True
        for i in range(m):
            a = lo + i
            b = a + 1
            c = lo + (i + 1) % m + 1
            if (xy[a, 0] == xy[b, 0] and xy[a, 1] == xy[b, 1]) or not (np.isfinite(xy[a, 0]) and np.isfinite(xy[a, 1])):
                ok = False            # a repeated vertex, or not a number
                break
            # consecutive segments a-b, b-c: a clear turn, or straight on (not folding back)
            s = _orient_sign(xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1], xy[c, 0], xy[c, 1])
            if s == 0 and ((xy[b, 0] - xy[a, 0]) * (xy[c, 0] - xy[b, 0])
                           + (xy[b, 1] - xy[a, 1]) * (xy[c, 1] - xy[b, 1])) <= 0.0:
                ok = False
                break
        if not ok:
            continue
        for i in range(m):
            a = lo + i
            ax, ay, bx, by = xy[a, 0], xy[a, 1], xy[a + 1, 0], xy[a + 1, 1]
            for j in range(i + 2, m):
                if i == 0 and j == m - 1:     # the first and the last segment share the closing vertex
                    continue
                c = lo + j
                cx, cy, dx, dy = xy[c, 0], xy[c, 1], xy[c + 1, 0], xy[c + 1, 1]
                if (max(ax, bx) < min(cx, dx) or max(cx, dx) < min(ax, bx)
                        or max(ay, by) < min(cy, dy) or max(cy, dy) < min(ay, by)):
                    continue
                o1 = _orient_sign(ax, ay, bx, by, cx, cy)
                o2 = _orient_sign(ax, ay, bx, by, dx, dy)
                o3 = _orient_sign(cx, cy, dx, dy, ax, ay)
                o4 = _orient_sign(cx, cy, dx, dy, bx, by)
                if o1 == 0 or o2 == 0 or o3 == 0 or o4 == 0 or (o1 != o2 and o3 != o4):
                    ok = False                # touching, collinear or crossing: not certain
                    break
            if not ok:
                break
        out[k] = ok
    return out
