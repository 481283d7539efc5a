"""Compiled (numba) kernels of the balance: plain loops over coordinate arrays, testable on tiny input.

:func:`pair_segments` pairs the ring segments of a cadastre (the topology's "is every edge shared
exactly?" and the linework of the union of the parcels); :func:`simple_rings` tells rings that are
certainly simple (valid polygons) from those GEOS must judge; :func:`clip_areas` measures parcel x
restriction-piece pairs (the full balance's clip pass, GEOS for what it cannot decide) and
:func:`group_sums` adds them up per restriction group. Compiled once and cached on disk
(``cache=True``); ``nogil``: bands of a large cadastre run in threads.

Starting numba's runtime costs about 0.45 CPU s once per process (the first call of any kernel), more
than the kernels save below a few hundred thousand parcels, and importing numba ~0.2 s and ~90 MB:
this module is imported only when :func:`gis_planner.balance.segments.use_compiled` says the kernels
pay; otherwise the numpy forms of :mod:`gis_planner.balance.segments` (the same results) run.
"""
from __future__ import annotations

import numba as nb
import numpy as np

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
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        a = start[i]
        m = (xy[a, 0] + xy[a + 1, 0]) * 0.5
        if m < lo:
            lo = m
        if m > hi:
            hi = m
    n_strips = max(1, n // strip)
    width = (hi - lo) / n_strips
    # each segment's strip is computed again where it is needed (the same arithmetic, the same strip) rather
    # than stored: two arrays of a million segments less at the peak of memory
    count = np.zeros(n_strips + 1, np.int64)
    for i in range(n):
        count[_strip_of(xy, start[i], lo, width, n_strips) + 1] += 1
    for k in range(n_strips):
        count[k + 1] += count[k]
    order = np.empty(n, np.int64)
    fill = count[:-1].copy()
    for i in range(n):
        k = _strip_of(xy, start[i], lo, width, n_strips)
        order[fill[k]] = i
        fill[k] += 1
    for k in range(n_strips):
        _pair_strip(bits, start, rev, owner, order[count[k]:count[k + 1]], partner, dirn)
    return partner


@nb.njit(cache=True, nogil=True, inline="always")
def _strip_of(xy, a, lo, width, n_strips):
    """Strip of the segment from vertex ``a`` to ``a + 1`` (by the x of its midpoint) in :func:`pair_segments`."""
    if width > 0.0:
        return min(int(((xy[a, 0] + xy[a + 1, 0]) * 0.5 - lo) / width), n_strips - 1)
    return 0


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


SEG_APART, SEG_DOUBT, SEG_CROSS = 0, 1, 2


@nb.njit(cache=True, nogil=True, inline="always")
def _segment_relation(ax, ay, bx, by, cx, cy, dx, dy):
    """How segments a-b and c-d meet: ``SEG_CROSS`` when they properly cross, ``SEG_DOUBT`` when they
    touch, are collinear or floating point cannot tell (an orientation of 0), else ``SEG_APART``."""
    if (max(ax, bx) < min(cx, dx) or max(cx, dx) < min(ax, bx)
            or max(ay, by) < min(cy, dy) or max(cy, dy) < min(ay, by)):
        return SEG_APART
    o1 = _orient_sign(ax, ay, bx, by, cx, cy)
    o2 = _orient_sign(ax, ay, bx, by, dx, dy)
    o3 = _orient_sign(cx, cy, dx, dy, ax, ay)
    o4 = _orient_sign(cx, cy, dx, dy, bx, by)
    if o1 == 0 or o2 == 0 or o3 == 0 or o4 == 0:
        return SEG_DOUBT
    if o1 != o2 and o3 != o4:
        return SEG_CROSS
    return SEG_APART


@nb.njit(cache=True, nogil=True, inline="always")
def _ray_crossing(cx, cy, dx, dy, px, py):
    """Whether edge c-d crosses the ray from p towards +x (one step of the crossing-number test):
    1 it does, 0 it does not, -1 floating point cannot tell (p on or next to the edge)."""
    if (cy > py) == (dy > py):
        return 0
    s = _orient_sign(cx, cy, dx, dy, px, py)
    if s == 0:
        return -1
    return 1 if (s > 0) == (dy > cy) else 0


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
                if _segment_relation(ax, ay, bx, by, cx, cy, dx, dy) != SEG_APART:
                    ok = False                # touching, collinear or crossing: not certain
                    break
            if not ok:
                break
        out[k] = ok
    return out


# ---------------------------------------------------------------------------- polygon clipping
# Status of a (parcel, piece) pair in :func:`clip_areas`.
CLIP_DISJOINT = 0    # the interiors do not meet: no area, no entry
CLIP_INSIDE = 1      # the parcel lies in the piece's interior: its whole area
CLIP_CROSSING = 2    # the boundaries cross properly: the area clipped here
CLIP_HARD = 3        # undecided (touching or collinear edges, a piece ring inside the parcel, buffers): ask GEOS


@nb.njit(cache=True, nogil=True, inline="always")
def _put_crossing(dst, m, px, py, cx, cy, dp, dc):
    """Append to ``dst[:m]`` the point where the edge (px, py) -> (cx, cy) crosses the line whose signed
    distances at its ends are ``dp`` and ``dc`` (of opposite signs); the new count, or -1 when ``dst`` is full."""
    if m >= dst.shape[0]:
        return -1
    t = dp / (dp - dc)
    dst[m, 0] = px + t * (cx - px)
    dst[m, 1] = py + t * (cy - py)
    return m + 1


@nb.njit(cache=True, nogil=True, inline="always")
def _clip_half(src, n, dst, ax, ay, ex, ey, sign):
    """Sutherland-Hodgman: the open ring ``src[:n]`` cut to the half-plane left of the line through
    (ax, ay) with direction (ex, ey) (right of it when ``sign`` < 0), written to ``dst``; returns the
    new vertex count, or -1 when ``dst`` is too small. Exact in area for any (non-convex) ring: the
    winding number of the result is that of the ring inside the half-plane, 0 outside."""
    if n == 0:
        return 0
    cap = dst.shape[0]
    m = 0
    px = src[n - 1, 0]
    py = src[n - 1, 1]
    dp = sign * (ex * (py - ay) - ey * (px - ax))
    for i in range(n):
        cx = src[i, 0]
        cy = src[i, 1]
        dc = sign * (ex * (cy - ay) - ey * (cx - ax))
        if dc >= 0.0:
            if dp < 0.0:    # entering: the crossing, then the vertex
                m = _put_crossing(dst, m, px, py, cx, cy, dp, dc)
                if m < 0:
                    return -1
            if m >= cap:
                return -1
            dst[m, 0] = cx
            dst[m, 1] = cy
            m += 1
        elif dp >= 0.0:     # leaving: the crossing only
            m = _put_crossing(dst, m, px, py, cx, cy, dp, dc)
            if m < 0:
                return -1
        px, py, dp = cx, cy, dc
    return m


@nb.njit(cache=True, nogil=True, inline="always")
def _ring_area2(buf, n):
    """Twice the signed area of the open ring ``buf[:n]`` (shoelace)."""
    s = 0.0
    if n < 3:
        return s
    px = buf[n - 1, 0]
    py = buf[n - 1, 1]
    for i in range(n):
        s += px * buf[i, 1] - buf[i, 0] * py
        px = buf[i, 0]
        py = buf[i, 1]
    return s


@nb.njit(cache=True, nogil=True)
def _pair_area(pxy, pring, r0, r1, qxy, qring, q0, q1, qsign, ox, oy, xmin, ymin, xmax, ymax,
               convex, psign, buf_a, buf_b):
    """Area of parcel (rings ``r0``..``r1`` of ``pxy``/``pring``) ∩ piece (rings ``q0``..``q1``), in
    coordinates relative to (ox, oy); NaN when a buffer overflows."""
    total = 0.0
    for qr in range(q0, q1):
        lo = qring[qr]
        k = qring[qr + 1] - lo - 1                  # open ring
        if k < 3:
            continue
        if k + 8 > buf_a.shape[0]:
            return np.nan
        for i in range(k):
            buf_a[i, 0] = qxy[lo + i, 0] - ox
            buf_a[i, 1] = qxy[lo + i, 1] - oy
        # the parcel's bounding box first: what is left of the piece ring is small
        n = _clip_half(buf_a, k, buf_b, xmin, 0.0, 0.0, -1.0, 1.0)
        if n < 0:
            return np.nan
        n = _clip_half(buf_b, n, buf_a, xmax, 0.0, 0.0, 1.0, 1.0)
        if n < 0:
            return np.nan
        n = _clip_half(buf_a, n, buf_b, 0.0, ymin, 1.0, 0.0, 1.0)
        if n < 0:
            return np.nan
        n = _clip_half(buf_b, n, buf_a, 0.0, ymax, -1.0, 0.0, 1.0)
        if n < 0:
            return np.nan
        if n < 3:
            continue
        s_q = qsign[qr]
        if convex:
            lo_p = pring[r0]
            m = pring[r0 + 1] - lo_p - 1
            src = buf_a
            dst = buf_b
            for j in range(m):
                ax = pxy[lo_p + j, 0] - ox
                ay = pxy[lo_p + j, 1] - oy
                n = _clip_half(src, n, dst, ax, ay, pxy[lo_p + j + 1, 0] - ox - ax,
                               pxy[lo_p + j + 1, 1] - oy - ay, psign)
                if n < 0:
                    return np.nan
                src, dst = dst, src
                if n < 3:
                    break
            if n >= 3:
                total += s_q * _ring_area2(src, n)
            continue
        # general parcel: signed fan triangles of each ring; the piece ring is clipped to each
        m_all = n
        for pr in range(r0, r1):
            lo_p = pring[pr]
            m = pring[pr + 1] - lo_p - 1
            if m < 3:
                continue
            f = 1.0 if pr == r0 else -1.0           # exterior +, hole -
            # orientation of this ring
            a2 = 0.0
            for j in range(m):
                a2 += ((pxy[lo_p + j, 0] - ox) * (pxy[lo_p + j + 1, 1] - oy)
                       - (pxy[lo_p + j + 1, 0] - ox) * (pxy[lo_p + j, 1] - oy))
            if a2 == 0.0:
                continue
            f = f if a2 > 0.0 else -f
            vx = pxy[lo_p, 0] - ox
            vy = pxy[lo_p, 1] - oy
            for j in range(1, m - 1):
                bx = pxy[lo_p + j, 0] - ox
                by = pxy[lo_p + j, 1] - oy
                cx = pxy[lo_p + j + 1, 0] - ox
                cy = pxy[lo_p + j + 1, 1] - oy
                t2 = (bx - vx) * (cy - vy) - (cx - vx) * (by - vy)
                if t2 == 0.0:
                    continue
                sg = 1.0 if t2 > 0.0 else -1.0
                # the box-clipped piece ring (buf_a, kept) cut to the triangle v, b, c in the two halves of buf_b
                half = buf_b.shape[0] // 2
                if m_all * 4 + 8 > half:
                    return np.nan
                w0 = buf_b[:half]
                w1 = buf_b[half:]
                nn = _clip_half(buf_a, m_all, w1, vx, vy, bx - vx, by - vy, sg)
                if nn < 0:
                    return np.nan
                nn = _clip_half(w1, nn, w0, bx, by, cx - bx, cy - by, sg)
                if nn < 0:
                    return np.nan
                nn = _clip_half(w0, nn, w1, cx, cy, vx - cx, vy - cy, sg)
                if nn < 0:
                    return np.nan
                if nn >= 3:
                    total += f * sg * s_q * _ring_area2(w1, nn)
    return 0.5 * total


@nb.njit(cache=True, nogil=True, inline="always")
def _band(y, y0, h, nb):
    """Band of ordinate ``y`` (bands of height ``h`` from ``y0``, clamped to 0 .. nb - 1); monotone in y."""
    b = np.floor((y - y0) / h)
    if not (b > 0.0):
        return 0
    if b >= nb - 1:
        return nb - 1
    return int(b)


@nb.njit(cache=True, nogil=True)
def _edge_bands(qxy, qring, qgeom, per_band=8):
    """Horizontal bands of each piece's edges: per piece ``y0``, band height, band count and first band;
    per band (CSR ``ptr``) the start vertices of the edges whose y-range meets it. An edge that meets the
    y-range [a, b] is listed in one of the bands from that of a to that of b (:func:`_band` is monotone)."""
    n_g = qgeom.size - 1
    y0s = np.zeros(n_g)
    hs = np.ones(n_g)
    nbs = np.ones(n_g, np.int64)
    base = np.zeros(n_g + 1, np.int64)
    for g in range(n_g):
        lo = qring[qgeom[g]]
        hi = qring[qgeom[g + 1]]
        ylo = np.inf
        yhi = -np.inf
        for v in range(lo, hi):
            ylo = min(ylo, qxy[v, 1])
            yhi = max(yhi, qxy[v, 1])
        nb_ = max(1, (hi - lo) // per_band)
        y0s[g] = ylo
        if yhi > ylo:
            hs[g] = (yhi - ylo) / nb_
        else:
            nb_ = 1
        nbs[g] = nb_
        base[g + 1] = base[g] + nb_
    ptr = np.zeros(base[n_g] + 1, np.int64)
    for g in range(n_g):                       # count
        for qr in range(qgeom[g], qgeom[g + 1]):
            for e in range(qring[qr], qring[qr + 1] - 1):
                b0 = _band(min(qxy[e, 1], qxy[e + 1, 1]), y0s[g], hs[g], nbs[g])
                b1 = _band(max(qxy[e, 1], qxy[e + 1, 1]), y0s[g], hs[g], nbs[g])
                for b in range(base[g] + b0, base[g] + b1 + 1):
                    ptr[b + 1] += 1
    for b in range(ptr.size - 1):
        ptr[b + 1] += ptr[b]
    edges = np.empty(ptr[-1], np.int64)
    fill = ptr[:-1].copy()
    for g in range(n_g):                       # fill
        for qr in range(qgeom[g], qgeom[g + 1]):
            for e in range(qring[qr], qring[qr + 1] - 1):
                b0 = _band(min(qxy[e, 1], qxy[e + 1, 1]), y0s[g], hs[g], nbs[g])
                b1 = _band(max(qxy[e, 1], qxy[e + 1, 1]), y0s[g], hs[g], nbs[g])
                for b in range(base[g] + b0, base[g] + b1 + 1):
                    edges[fill[b]] = e
                    fill[b] += 1
    return y0s, hs, nbs, base, ptr, edges


@nb.njit(cache=True, nogil=True)
def clip_areas(pxy, pring, pgeom, qxy, qring, qgeom, pp, qq):
    """Area of each (parcel, piece) pair's intersection, straight from the coordinate arrays.

    ``pxy`` (n, 2) coordinates of the parcels, ``pring`` ring offsets into them (rings closed),
    ``pgeom`` ring offsets of each polygon (its first ring the exterior): the layout of
    ``shapely.to_ragged_array`` for polygons; ``qxy``, ``qring``, ``qgeom`` the same for the pieces;
    ``pp``, ``qq`` the pairs (positions of a parcel and a piece).

    Returns ``(area, status)`` per pair, status one of :data:`CLIP_DISJOINT` (area 0), :data:`CLIP_INSIDE`
    (area 0: the caller takes the parcel's own area), :data:`CLIP_CROSSING` (area computed) or
    :data:`CLIP_HARD` (area NaN: measure with GEOS).

    Every vertex is taken relative to the parcel's first vertex (differences of nearby coordinates are
    exact), so the areas do not lose digits to the magnitude of projected coordinates. The pair is
    classified with robust orientation tests (:func:`_orient_sign`, which answers 0 rather than guess):
    piece edges near the parcel's bounding box against the parcel's edges. A proper crossing: the
    piece's rings are cut to the parcel's bounding box and then to the parcel (Sutherland-Hodgman: to its
    edges when it is one convex ring, else to each triangle of a fan from the first vertex of each of its
    rings, with signs: exact for non-convex rings and holes), areas by the shoelace formula with the
    signs of the piece's rings (holes subtract). No crossing and no doubt: the parcel is wholly inside or
    wholly outside (one point-in-polygon test of its first vertex), unless a ring of the piece lies
    inside the parcel (then GEOS). Any orientation that floating point cannot decide (touching edges,
    shared vertices, collinear edges) makes the pair :data:`CLIP_HARD`.

    >>> import numpy as np
    >>> sq = np.array([[0., 0], [2, 0], [2, 2], [0, 2], [0, 0]])
    >>> rings, geoms = np.array([0, 5]), np.array([0, 1])
    >>> area, status = clip_areas(sq, rings, geoms, sq + 1.0, rings, geoms, np.array([0]), np.array([0]))
    >>> float(area[0]), int(status[0])
    (1.0, 2)
    """
    return clip_pairs(pxy, pring, pgeom, qxy, qring, qgeom, pp, qq, clip_setup(qxy, qring, qgeom))


@nb.njit(cache=True, nogil=True)
def clip_setup(qxy, qring, qgeom):
    """What :func:`clip_pairs` needs of the pieces, whatever the pairs: the orientation sign of each piece
    ring (times +1 exterior, -1 hole), the length of the longest ring and the horizontal bands of the
    pieces' edges (:func:`_edge_bands`). Computed once, shared by the chunks of pairs (read only)."""
    # orientation sign of each piece ring times +1 (exterior) / -1 (hole)
    n_qr = qring.size - 1
    qsign = np.zeros(n_qr)
    longest = 4
    for g in range(qgeom.size - 1):
        for qr in range(qgeom[g], qgeom[g + 1]):
            lo = qring[qr]
            hi = qring[qr + 1]
            longest = max(longest, hi - lo)
            x0 = qxy[lo, 0]
            y0 = qxy[lo, 1]
            s = 0.0
            for i in range(lo, hi - 1):
                s += (qxy[i, 0] - x0) * (qxy[i + 1, 1] - y0) - (qxy[i + 1, 0] - x0) * (qxy[i, 1] - y0)
            sg = 1.0 if s > 0.0 else (-1.0 if s < 0.0 else 0.0)
            qsign[qr] = sg if qr == qgeom[g] else -sg
    y0s, hs, nbs, bbase, bptr, bedges = _edge_bands(qxy, qring, qgeom)
    return qsign, longest, y0s, hs, nbs, bbase, bptr, bedges


@nb.njit(cache=True, nogil=True)
def clip_pairs(pxy, pring, pgeom, qxy, qring, qgeom, pp, qq, setup):  # noqa: C901 - one pass, kept in one piece
    """:func:`clip_areas` of the pairs ``pp``, ``qq`` with the pieces' ``setup`` (:func:`clip_setup`).
    Each pair is measured on its own (the same figures whatever the other pairs of the call): chunks of
    the pairs may run in threads (nogil) and be concatenated."""
    qsign, longest, y0s, hs, nbs, bbase, bptr, bedges = setup
    n_pairs = pp.size
    area = np.zeros(n_pairs)
    status = np.zeros(n_pairs, np.int8)
    size = 16 * longest + 64
    buf_a = np.empty((size, 2))
    buf_b = np.empty((size, 2))
    for t in range(n_pairs):
        i = pp[t]
        g = qq[t]
        r0 = pgeom[i]
        r1 = pgeom[i + 1]
        q0 = qgeom[g]
        q1 = qgeom[g + 1]
        ox = pxy[pring[r0], 0]
        oy = pxy[pring[r0], 1]
        # the parcel's bounding box (its exterior ring), relative to its first vertex
        xmin = np.inf
        ymin = np.inf
        xmax = -np.inf
        ymax = -np.inf
        yabs_min = np.inf
        yabs_max = -np.inf
        for v in range(pring[r0], pring[r0 + 1]):
            yabs_min = min(yabs_min, pxy[v, 1])
            yabs_max = max(yabs_max, pxy[v, 1])
            x = pxy[v, 0] - ox
            y = pxy[v, 1] - oy
            xmin = min(xmin, x)
            xmax = max(xmax, x)
            ymin = min(ymin, y)
            ymax = max(ymax, y)
        crossing = False
        hard = False
        # the piece's edges in the bands of the parcel's y-range (each edge near it is in one of them)
        b_lo = bbase[g] + _band(yabs_min, y0s[g], hs[g], nbs[g])
        b_hi = bbase[g] + _band(yabs_max, y0s[g], hs[g], nbs[g])
        for bb in range(b_lo, b_hi + 1):
            for k in range(bptr[bb], bptr[bb + 1]):
                e = bedges[k]
                ax = qxy[e, 0] - ox
                ay = qxy[e, 1] - oy
                bx = qxy[e + 1, 0] - ox
                by = qxy[e + 1, 1] - oy
                if (max(ax, bx) < xmin or min(ax, bx) > xmax or max(ay, by) < ymin or min(ay, by) > ymax):
                    continue
                for pr in range(r0, r1):
                    for f in range(pring[pr], pring[pr + 1] - 1):
                        cx = pxy[f, 0] - ox
                        cy = pxy[f, 1] - oy
                        dx = pxy[f + 1, 0] - ox
                        dy = pxy[f + 1, 1] - oy
                        rel = _segment_relation(ax, ay, bx, by, cx, cy, dx, dy)
                        if rel == SEG_DOUBT:
                            hard = True
                        elif rel == SEG_CROSS:
                            crossing = True
                        if hard or crossing:
                            break
                    if hard or crossing:
                        break
                if hard or crossing:
                    break
            if hard or crossing:
                break
        if hard:
            status[t] = CLIP_HARD
            area[t] = np.nan
            continue
        if not crossing:
            # the boundaries do not meet: a piece ring inside the parcel (GEOS), else inside or outside
            for qr in range(q0, q1):
                lo = qring[qr]
                ax = qxy[lo, 0] - ox
                ay = qxy[lo, 1] - oy
                if ax < xmin or ax > xmax or ay < ymin or ay > ymax:
                    continue
                odd = False
                for pr in range(r0, r1):
                    for f in range(pring[pr], pring[pr + 1] - 1):
                        cx = pxy[f, 0] - ox
                        cy = pxy[f, 1] - oy
                        dx = pxy[f + 1, 0] - ox
                        dy = pxy[f + 1, 1] - oy
                        xing = _ray_crossing(cx, cy, dx, dy, ax, ay)
                        if xing < 0:
                            hard = True
                        elif xing:
                            odd = not odd
                if odd:
                    hard = True
                if hard:
                    break
            if not hard:
                odd = False                            # the parcel's first vertex (0, 0) in the piece
                bb = bbase[g] + _band(oy, y0s[g], hs[g], nbs[g])   # the edges straddling y = oy are here
                for k in range(bptr[bb], bptr[bb + 1]):
                    e = bedges[k]
                    cx = qxy[e, 0] - ox
                    cy = qxy[e, 1] - oy
                    dx = qxy[e + 1, 0] - ox
                    dy = qxy[e + 1, 1] - oy
                    xing = _ray_crossing(cx, cy, dx, dy, 0.0, 0.0)
                    if xing < 0:
                        hard = True
                    elif xing:
                        odd = not odd
                if not hard:
                    status[t] = CLIP_INSIDE if odd else CLIP_DISJOINT
                    continue
            status[t] = CLIP_HARD
            area[t] = np.nan
            continue
        # a proper crossing: clip
        convex = r1 - r0 == 1
        psign = 0.0
        if convex:
            lo_p = pring[r0]
            m = pring[r0 + 1] - lo_p - 1
            for j in range(m):
                a = lo_p + j
                b = lo_p + (j + 1) % m
                c = lo_p + (j + 2) % m
                s = _orient_sign(pxy[a, 0] - ox, pxy[a, 1] - oy, pxy[b, 0] - ox, pxy[b, 1] - oy,
                                 pxy[c, 0] - ox, pxy[c, 1] - oy)
                if s == 0 or (psign != 0.0 and s != psign):
                    convex = False
                    break
                psign = float(s)
        a = _pair_area(pxy, pring, r0, r1, qxy, qring, q0, q1, qsign, ox, oy, xmin, ymin, xmax, ymax,
                       convex, psign, buf_a, buf_b)
        if np.isnan(a):
            status[t] = CLIP_HARD
        else:
            status[t] = CLIP_CROSSING
        area[t] = a
    return area, status


@nb.njit(cache=True, nogil=True)
def group_sums(pc, lab, a, member, n_rows):
    """Sums of the areas ``a`` of the entries (row ``pc``, atom ``lab``) per row, for each group (column of
    ``member``: atoms x groups) and, in the last row of the result, over all entries: ``(groups + 1, n_rows)``.
    Each sum adds its entries in their order, as ``np.bincount(pc[sel], weights=a[sel])`` does.

    >>> import numpy as np
    >>> group_sums(np.array([0, 1, 0]), np.array([0, 1, 1]), np.array([1., 2, 4]),
    ...            np.array([[True, False], [True, True]]), 2).tolist()
    [[5.0, 2.0], [4.0, 2.0], [5.0, 2.0]]
    """
    n_groups = member.shape[1]
    out = np.zeros((n_groups + 1, n_rows))
    for e in range(pc.size):
        r = pc[e]
        v = a[e]
        m = lab[e]
        for j in range(n_groups):
            if member[m, j]:
                out[j, r] += v
        out[n_groups, r] += v
    return out
