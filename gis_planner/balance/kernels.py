"""Compiled (numba) kernels of the balance: plain loops over coordinate arrays, testable on tiny input.

:func:`pair_segments` pairs the ring segments of a cadastre (the topology's "is every edge shared
exactly?" and the linework of the union of the parcels). Compiled once and cached on disk
(``cache=True``); ``nogil``: bands of a large cadastre run in threads.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def pair_segments(bits, start, rev, owner):
    """Partner parcel of each ring segment, from one pass of an open-addressing hash table.

    ``bits``: (n, 2) uint64, the bit patterns of the vertex coordinates (identical coordinates, identical
    bits; -0.0 normalised by the caller); segment ``i`` runs from vertex ``start[i]`` to ``start[i] + 1``,
    reversed when ``rev[i]`` (rings oriented with the interior on the left); ``owner[i]`` its parcel.

    Returns, per segment, the parcel that runs along it exactly once in the opposite direction, or -1
    (no such parcel, or the segment is met by more than one other, or in the same direction), or -2
    (a zero-length segment: a repeated vertex).

    >>> import numpy as np
    >>> xy = np.array([[0., 0], [1, 0], [1, 0], [0, 0], [5, 5], [6, 6], [7, 7], [7, 7]])
    >>> pair_segments(xy.view(np.uint64), np.array([0, 2, 4, 6]), np.zeros(4, bool), np.array([0, 1, 1, 2])
    ...               ).tolist()
    [1, 0, -1, -2]
    """
    n = start.size
    size = 1
    while size < n + n // 2 + 2:
        size *= 2
    mask = np.uint64(size - 1)
    # one row per distinct segment: first segment + 1 (0: empty slot), hash, second segment, count
    table = np.zeros((size, 4), np.int64)
    dirn = np.zeros(n, np.int8)
    partner = np.full(n, -1, np.int64)
    for i in range(n):
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
    return partner
