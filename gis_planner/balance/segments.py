"""Ring segments of a cadastre in numpy, and when to use the compiled kernels instead.

:func:`ring_segments_np` and :func:`pair_segments_np` give the results of the numba kernels
:func:`gis_planner.balance.kernels.ring_segments` and :func:`~gis_planner.balance.kernels.pair_segments`
(tested both ways). :func:`use_compiled` says when the kernels pay for numba's start.
"""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

COMPILED_MIN_ITEMS = 250_000


def use_compiled(n_items: int, min_items: int | None = None) -> bool:
    """True when the compiled kernels pay for themselves: ``n_items`` (parcels) at least ``min_items``
    (default :data:`COMPILED_MIN_ITEMS`, ``layers/balance.yaml`` engine.compiled_min_parcels), or
    numba's runtime already started in this process (a kernel ran: nothing more to pay)."""
    limit = COMPILED_MIN_ITEMS if min_items is None else min_items
    if n_items >= limit:
        return True
    # another thread may be importing the module (partly initialised): only kernels already defined count
    kernels = sys.modules.get("gis_planner.balance.kernels")
    ran = [getattr(getattr(kernels, k, None), "signatures", None) for k in ("pair_segments", "simple_rings")]
    return any(bool(s) for s in ran)


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
