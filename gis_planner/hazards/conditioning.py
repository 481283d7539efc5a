"""Hydrological conditioning of a DEM and multiple-flow-direction routing (numba kernels).

What hydrologists do before routing water on a DEM, instead of only filling its depressions:

1. :func:`burn_streams` — mapped rivers are lowered by a fixed depth (stream burning, Saunders 1999;
   the "sharp drop" of AGREE, Hellweger 1997) so that the routing follows the mapped network.
2. :func:`breach_depressions` — hybrid breach/fill (Lindsay 2016, Hydrol. Process. 30:846): a
   priority-flood from the outlets remembers from which cell each cell was reached; when it reaches a
   pit lower than the cell it came from, the flood path back to lower ground is cut down to the pit's
   elevation — unless the cut is deeper than ``max_depth`` or longer than ``max_length``, in which case
   the depression is left to the fill. A dam or a road embankment across a valley is breached instead
   of the whole valley above it being raised to the crest.
3. :func:`~gis_planner.hazards.terrain.fill_depressions` — what breaching did not remove is filled by
   priority-flood (Barnes, Lehman & Mulla 2014, Comput. Geosci. 62:117). Lakes and reservoirs are
   **outlets** in both steps: flow ends there and their basins are never raised.
4. :func:`resolve_flats` — D8 on the conditioned surface, and on flats the drainage directions of
   Barnes, Lehman & Mulla (2014, Comput. Geosci. 62:128): towards lower terrain and away from higher
   terrain, without changing any elevation.
5. :func:`mfd_accumulation` — multiple-flow-direction accumulation (Freeman 1991, Comput. Geosci.
   17:413; fractions ∝ tan(β)^p, p = 1.1; Quinn et al. 1991 with contour-length weights on request),
   switching to D8 where the catchment exceeds a channel threshold (Quinn, Beven & Lamb 1995): flow on
   even slopes spreads instead of running down parallel D8 lines, channels stay single.
6. :func:`runout_energy_line` — a Flow-Py-like mass-movement runout (D'Amboise et al. 2022, Geosci.
   Model Dev. 15:2423): from release cells the mass is routed downslope with Holmgren (1994) weights
   (exponent ``x``) and a path-share threshold, and stops where the energy line falling at the travel
   angle α from the release cell meets the ground.

All kernels take a 2-D float array on a metric grid, NaN for nodata, row 0 north, and run in
``O(n log n)`` (the priority queues) or ``O(n)`` with no Python loop over cells.

Example
-------
>>> import numpy as np
>>> z = np.array([[9.] * 6, [9., 1., 6., 2., 2., 0.], [9.] * 6])   # a pit at 1 m behind a 6 m sill
>>> breach_depressions(z)[1].tolist()          # the flood path to the 0 m outlet is cut to 1 m
[9.0, 1.0, 1.0, 1.0, 1.0, 0.0]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from . import terrain as T
from .mapped import sparse_zeros

D8_DR = T.D8_DR
D8_DC = T.D8_DC
NO_OUTFLOW = T.NO_OUTFLOW
_is_seed = T._is_seed
NODATA_DIR = T.NODATA_DIR


def burn_streams(z: np.ndarray, streams: np.ndarray, depth_m: float) -> np.ndarray:
    """A copy of ``z`` with the ``streams`` cells lowered by ``depth_m`` (NaN stays NaN).

    >>> burn_streams(np.array([[3., 2., 1.]]), np.array([[False, True, False]]), 5.0).tolist()
    [[3.0, -3.0, 1.0]]
    """
    out = np.array(z, dtype=np.float64, copy=True)
    if depth_m and streams is not None:
        m = np.asarray(streams, dtype=bool) & np.isfinite(out)
        out[m] -= float(depth_m)
    return out


# ----------------------------------------------------------------------------- seeds (outlets)
@nb.njit(cache=True, inline="always")
def _nb(r, c, k, rows, cols):
    """Flat index of neighbour ``k`` of (r, c), or -1 outside the grid."""
    rr = r + D8_DR[k]
    cc = c + D8_DC[k]
    if rr < 0 or cc < 0 or rr >= rows or cc >= cols:
        return -1
    return rr * cols + cc


@nb.njit(cache=True)
def _seed_mask(z, outlets):
    rows, cols = z.shape
    out = np.zeros((rows, cols), dtype=np.bool_)
    for r in range(rows):
        for c in range(cols):
            if not math.isnan(z[r, c]):
                out[r, c] = _is_seed(z, outlets, r, c)
    return out


# ----------------------------------------------------------------------------- breaching
@nb.njit(cache=True)
def _breach(z, outlets, max_depth, max_length, xres, yres, idx, inplace=False):
    """Returns ``(breached, cuts, lowered cells)``; ``inplace``: ``z`` itself is cut (only ``z`` is read
    before the flood and only NaN cells of it are read by the seeds, which are never cut)."""
    rows, cols = z.shape
    n = rows * cols
    out = z if inplace else z.copy()
    back = np.full(n, -1, dtype=idx.dtype)       # the cell each cell was reached from (towards the outlet)
    closed = np.zeros(n, dtype=np.bool_)
    pit = np.zeros(n, dtype=np.uint8)            # 1: a pit; 2: lowered by a cut (counted once)
    lowered = 0
    # every cell enters the heap once: n entries, of which only the front is touched (resident); not
    # grown, since an array variable reassigned in the loop costs numba reference counting every step
    keys = np.empty(n, dtype=np.float64)
    vals = np.empty(n, dtype=idx.dtype)
    size = 0
    diag = math.sqrt(xres * xres + yres * yres)
    for r in range(rows):
        for c in range(cols):
            v = z[r, c]
            i = r * cols + c
            if math.isnan(v):
                closed[i] = True
                continue
            if _is_seed(z, outlets, r, c):
                closed[i] = True
                size = T._heap_push(keys, vals, size, v, i)
                continue
            pit[i] = 0 if T._has_lower(z, r, c) else 1
    breached = 0
    while size > 0:
        i, size = T._heap_pop(keys, vals, size)
        r = i // cols
        c = i - r * cols
        level = out[r, c]
        for k in range(8):
            j = _nb(r, c, k, rows, cols)
            if j < 0:
                continue
            rr = j // cols
            cc = j - rr * cols
            if closed[j]:
                continue
            closed[j] = True
            back[j] = i
            target = out[rr, cc]
            if (pit[j] & 1) and target < level:
                # trace the flood path back towards the outlet: its length and deepest cut
                length = 0.0
                depth = 0.0
                cur = j
                ok = True
                while True:
                    nxt = back[cur]
                    if nxt < 0:
                        break
                    dr = nxt // cols - cur // cols
                    dc = nxt % cols - cur % cols
                    length += diag if (dr != 0 and dc != 0) else (xres if dr == 0 else yres)
                    zn = out[nxt // cols, nxt % cols]
                    if zn <= target:
                        break
                    if zn - target > depth:
                        depth = zn - target
                    if depth > max_depth or length > max_length:
                        ok = False
                        break
                    cur = nxt
                if ok:
                    breached += 1
                    cur = back[j]
                    while cur >= 0:
                        cr = cur // cols
                        cc2 = cur - cr * cols
                        if out[cr, cc2] <= target:
                            break
                        out[cr, cc2] = target
                        if not pit[cur] & 2:
                            pit[cur] |= 2
                            lowered += 1
                        cur = back[cur]
            size = T._heap_push(keys, vals, size, out[rr, cc], j)
    return out, breached, lowered


def breach_depressions(z: np.ndarray, outlets: np.ndarray | None = None, max_depth_m: float = np.inf,
                       max_length_m: float = np.inf, xres: float = 1.0, yres: float = 1.0,
                       return_count: bool = False):
    """Breach depressions along the priority-flood path (Lindsay 2016), within depth/length limits.

    Every pit (a cell without a lower neighbour) that the flood from the outlets reaches from higher
    ground is connected to lower ground by lowering the cells of the flood path to the pit's elevation
    (a level cut, drained later by :func:`resolve_flats`). A cut deeper than ``max_depth_m`` or longer
    than ``max_length_m`` is not made: that depression is left for the fill. Cells are only lowered,
    never raised. Outlets: the grid border, cells next to nodata and ``outlets`` (lakes).

    Returns the breached DEM (float64, NaN kept), and with ``return_count`` also the number of cuts.

    >>> z = np.array([[9.] * 6, [9., 1., 6., 2., 2., 0.], [9.] * 6])
    >>> breach_depressions(z)[1].tolist()      # the 6 m sill and the 2 m floor are cut to the pit's 1 m
    [9.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    >>> breach_depressions(z, max_depth_m=4)[1].tolist()   # a 5 m cut is too deep: left to the fill
    [9.0, 1.0, 6.0, 2.0, 2.0, 0.0]
    """
    z = np.ascontiguousarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError("the DEM must be a 2-D array")
    o = np.zeros(z.shape, np.bool_) if outlets is None else np.ascontiguousarray(outlets, dtype=np.bool_)
    md = np.inf if max_depth_m is None else float(max_depth_m)
    ml = np.inf if max_length_m is None else float(max_length_m)
    out, count, _ = _breach(z, o, md, ml, abs(float(xres)), abs(float(yres)), np.empty(0, T.index_dtype(z.size)))
    return (out, int(count)) if return_count else out


# ----------------------------------------------------------------------------- flats (Barnes 2014)
@nb.njit(cache=True)
def _flat_bfs(seeds, n_seeds, slot, n_flat, lab, queue, rows, cols, dist):
    """Breadth-first steps (1 at the seeds) through the flat cells of each seed's flat (same label), into
    ``dist`` (zeros). ``dist`` and ``lab`` are indexed by ``slot[cell] - 1`` (see :func:`_resolve_flats`)."""
    head = 0
    tail = 0
    for t in range(n_seeds):
        i = seeds[t]
        si = slot[i] - 1
        if lab[si] != 0 and dist[si] == 0:
            dist[si] = 1
            queue[tail] = i
            tail += 1
    while head < tail:
        i = queue[head]
        head += 1
        si = slot[i] - 1
        r = i // cols
        c = i - r * cols
        for k in range(8):
            j = _nb(r, c, k, rows, cols)
            if j < 0:
                continue
            sj = slot[j] - 1
            if 0 <= sj < n_flat and lab[sj] == lab[si] and dist[sj] == 0:
                dist[sj] = dist[si] + 1
                queue[tail] = j
                tail += 1


@nb.njit(cache=True)
def _resolve_flats(z, fdir, seeds, idx, slot):
    """Barnes, Lehman & Mulla (2014) flat resolution on a depression-free surface ``z``.

    ``fdir``: D8 with -1 where a cell has no lower neighbour. Cells without outflow that are not seeds
    are flat cells; a flat drains through its low edges (cells of the same elevation that have an
    outflow or are seeds). Returns the updated directions (flat cells that reach no low edge keep -1)
    and the number of flats resolved.

    Memory: ``slot`` (zeros, n, of ``idx``'s type) numbers the flat cells 1..n_flat and then the low-edge cells;
    labels and both distances are held for these cells only (compact arrays), not for every cell.
    """
    rows, cols = z.shape
    out = fdir.copy()
    # the edge queues and the stack hold each cell at most once: n entries of which only what they hold
    # is touched (edges and flats are a small share of a DEM); not grown (reference counting, see _breach)
    n = rows * cols
    q_low = np.empty(n, dtype=idx.dtype)     # cell indices: int32 below 2**31 cells (terrain.index_dtype)
    q_high = np.empty(n, dtype=idx.dtype)
    n_low = 0
    n_high = 0
    n_flat = 0
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            v = z[r, c]
            if math.isnan(v):
                continue
            if fdir[r, c] == NO_OUTFLOW and not seeds[r, c]:
                n_flat += 1
                slot[i] = n_flat
    m = n_flat
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            v = z[r, c]
            if math.isnan(v):
                continue
            flat_i = 0 < slot[i] <= n_flat
            low = False
            high = False
            for k in range(8):
                j = _nb(r, c, k, rows, cols)
                if j < 0:
                    continue
                w = z[j // cols, j % cols]
                if math.isnan(w):
                    continue
                if not flat_i and 0 < slot[j] <= n_flat and w == v:
                    low = True
                if flat_i and w > v:
                    high = True
            if low:
                q_low[n_low] = i
                n_low += 1
                m += 1
                slot[i] = m              # a low edge is not flat: its slot follows the flat cells'
            if high:
                q_high[n_high] = i
                n_high += 1
    # label each flat from its low edges: connected cells of the same elevation (flat cells and low
    # edges only: a cell of the flat's elevation next to a flat cell is one or the other)
    lab = np.zeros(m, dtype=np.int32)
    stack = np.empty(m, dtype=idx.dtype)
    nlab = 0
    for t in range(n_low):
        s = q_low[t]
        if lab[slot[s] - 1] != 0:
            continue
        nlab += 1
        sz = s // cols
        elev = z[sz, s - sz * cols]
        top = 0
        stack[top] = s
        top += 1
        lab[slot[s] - 1] = nlab
        while top > 0:
            top -= 1
            i = stack[top]
            flat_i = slot[i] <= n_flat
            r = i // cols
            c = i - r * cols
            for k in range(8):
                j = _nb(r, c, k, rows, cols)
                if j < 0:
                    continue
                sj = slot[j] - 1
                if sj < 0:
                    continue
                rr = j // cols
                cc = j - rr * cols
                if lab[sj] == 0 and z[rr, cc] == elev and (sj < n_flat or flat_i):
                    lab[sj] = nlab
                    stack[top] = j
                    top += 1
    # gradient away from higher terrain (breadth-first from the high edges), then towards lower terrain
    # (from the low edges), which counts double
    qa = np.empty(max(n_low, n_high) + n_flat, dtype=idx.dtype)   # each seed and flat cell queued once
    dist = np.zeros(m, dtype=np.int32)
    _flat_bfs(q_high, n_high, slot, n_flat, lab, qa, rows, cols, dist)
    flat_height = np.zeros(nlab + 1, dtype=np.int32)
    for s in range(m):
        if dist[s] > flat_height[lab[s]]:
            flat_height[lab[s]] = dist[s]
    mask = np.zeros(m, dtype=np.int32)
    _flat_bfs(q_low, n_low, slot, n_flat, lab, qa, rows, cols, mask)
    for s in range(m):       # turned into the mask in place (> 0 exactly where tow > 0 on a labelled flat)
        if s < n_flat and lab[s] != 0 and mask[s] > 0:
            away = flat_height[lab[s]] - dist[s] + 1 if dist[s] > 0 else 0
            mask[s] = 2 * mask[s] + away
        else:
            mask[s] = 0
    # directions on the flats: to the neighbour of the same flat with the lowest mask (low edges: 0)
    resolved = 0
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            si = slot[i] - 1
            if not 0 <= si < n_flat or lab[si] == 0 or mask[si] == 0:
                continue
            best = mask[si]
            bk = -1
            for k in range(8):
                j = _nb(r, c, k, rows, cols)
                if j < 0:
                    continue
                sj = slot[j] - 1
                if sj < 0 or lab[sj] != lab[si]:
                    continue
                mj = mask[sj] if sj < n_flat else 0
                # cardinal neighbours first on ties (shorter step), as Barnes et al.
                if mj < best or (mj == best and bk >= 0 and bk % 2 == 1 and k % 2 == 0 and mj < mask[si]):
                    best = mj
                    bk = k
            if bk >= 0:
                out[r, c] = bk
                resolved += 1
    return out, resolved


def resolve_flats(conditioned: np.ndarray, xres: float, yres: float, outlets: np.ndarray | None = None,
                  fallback: np.ndarray | None = None) -> np.ndarray:
    """D8 directions on a depression-free surface with flats drained as Barnes et al. (2014).

    Cells with a lower neighbour take the steepest drop. Flat cells (no lower neighbour, not an outlet)
    drain towards the flat's low edges and away from the higher terrain around it, so a flat valley floor
    drains along its middle instead of in parallel lines. ``outlets`` (lakes) get ``-1``. Flat cells that
    reach no low edge (should not happen after filling) take ``fallback`` (e.g. the priority-flood route).

    >>> z = np.array([[9., 9., 9., 9.], [9., 5., 5., 4.], [9., 9., 9., 9.]])
    >>> resolve_flats(z, 1, 1)[1].tolist()        # the flat drains east towards the 4 m outlet
    [0, 0, 0, -1]
    """
    z = np.ascontiguousarray(conditioned, dtype=np.float64)
    o = np.zeros(z.shape, np.bool_) if outlets is None else np.ascontiguousarray(outlets, dtype=np.bool_)
    seeds = _seed_mask(z, o)
    d8 = T.flow_direction_d8(z, xres, yres)            # -1 where no lower neighbour
    d8[o & (d8 != NODATA_DIR)] = NO_OUTFLOW
    out, _ = _resolve_flats(z, d8, seeds, np.empty(0, T.index_dtype(z.size)), sparse_zeros(z.size, T.index_dtype(z.size)))
    if fallback is not None:
        left = (out == NO_OUTFLOW) & ~seeds & np.isfinite(z)
        out[left] = np.asarray(fallback)[left]
    out[o & (out != NODATA_DIR)] = NO_OUTFLOW
    return out


# ----------------------------------------------------------------------------- MFD graph and order
@nb.njit(cache=True)
def _successor_masks(z, fdir, outlets):
    """Bit k set where neighbour k receives from the cell in the MFD graph (every lower neighbour and
    the D8 receiver); outlets and nodata send nothing. Raster order: the reads stay in the cache."""
    rows, cols = z.shape
    out = np.zeros((rows, cols), dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            v = z[r, c]
            if math.isnan(v) or outlets[r, c]:
                continue
            kd = fdir[r, c]
            m = 0
            inner = 0 < r < rows - 1 and 0 < c < cols - 1
            for k in range(8):
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if not inner and (rr < 0 or cc < 0 or rr >= rows or cc >= cols):
                    continue
                w = z[rr, cc]
                if w < v or (k == kd and not math.isnan(w)):
                    m |= 1 << k
            out[r, c] = m
    return out


@nb.njit(cache=True)
def _mfd_order(z, masks, idx):
    """Upstream-first order of the MFD graph given by the successor ``masks`` (Kahn)."""
    rows, cols = z.shape
    n = z.size
    flat = z.ravel()
    mk = masks.ravel()
    off = D8_DR * cols + D8_DC
    indeg = np.zeros(n, dtype=np.uint8)      # at most 8 donors
    valid = 0
    for i in range(n):
        if not math.isnan(flat[i]):
            valid += 1
        m = mk[i]
        if m:
            for k in range(8):
                if m & (1 << k):
                    indeg[i + off[k]] += 1
    order = np.empty(n, dtype=idx.dtype)
    head = 0
    tail = 0
    for i in range(n):
        if not math.isnan(flat[i]) and indeg[i] == 0:
            order[tail] = i
            tail += 1
    while head < tail:
        i = order[head]
        head += 1
        m = mk[i]
        if m:
            for k in range(8):
                if m & (1 << k):
                    j = i + off[k]
                    indeg[j] -= 1
                    if indeg[j] == 0:
                        order[tail] = j
                        tail += 1
    return order[:tail], valid


def mfd_order(conditioned: np.ndarray, fdir: np.ndarray, outlets: np.ndarray | None = None,
              release=None) -> np.ndarray:
    """Upstream-first order of all cells for MFD passes (every lower neighbour and the D8 receiver).
    ``release`` (e.g. ``Terrain.release``): called once the graph and once the order are built
    (memory-mapped inputs).

    Raises ``ValueError`` on a cycle (directions that climb or loop on a flat)."""
    z = np.ascontiguousarray(conditioned, dtype=np.float64)
    o = np.zeros(z.shape, np.bool_) if outlets is None else np.ascontiguousarray(outlets, dtype=np.bool_)
    masks = _successor_masks(z, np.ascontiguousarray(fdir, dtype=np.int8), o)
    if release is not None:
        release()
    order, valid = _mfd_order(z, masks, np.empty(0, T.index_dtype(z.size)))
    del masks
    if release is not None:
        release()
    if order.shape[0] != valid:
        raise ValueError(f"flow directions contain a cycle ({valid - order.shape[0]} cells never drain)")
    return order


@nb.njit(cache=True)
def _weights(zf, fdir, i, rows, cols, dist, clen, p, w):
    """Fractions from flat cell ``i`` to its 8 neighbours: ∝ tan(β)^p (× contour length) over the lower
    ones; else the D8 receiver. Returns the sum of weights (0: no outflow)."""
    r = i // cols
    c = i - r * cols
    v = zf[i]
    tot = 0.0
    inner = 0 < r < rows - 1 and 0 < c < cols - 1
    for k in range(8):
        w[k] = 0.0
        if not inner and _nb(r, c, k, rows, cols) < 0:
            continue
        x = zf[i + D8_DR[k] * cols + D8_DC[k]]
        if not x < v:          # also NaN
            continue
        t = (v - x) / dist[k]
        w[k] = (t if p == 1.0 else t ** p) * clen[k]
        tot += w[k]
    if tot == 0.0:
        kd = fdir[i]
        if kd >= 0:
            w[kd] = 1.0
            tot = 1.0
    return tot


@nb.njit(cache=True)
def _mfd_acc(z, fdir, outlets, order, weights, dist, clen, p, channel_cells, acc, t0, t1):
    # ``order[t0:t1]`` into ``acc`` (zeros; the caller goes through the order in parts)
    rows, cols = z.shape
    zf = z.ravel()
    fd = fdir.ravel()
    out = outlets.ravel()
    off = D8_DR * cols + D8_DC
    w = np.empty(8, dtype=np.float64)
    unit = weights.shape[0] == 0
    for t in range(t0, t1):
        i = order[t]
        acc[i] += 1.0 if unit else weights[i]
        if out[i]:
            continue
        a = acc[i]
        kd = fd[i]
        if a >= channel_cells and kd >= 0:
            acc[i + off[kd]] += a
            continue
        tot = _weights(zf, fd, i, rows, cols, dist, clen, p, w)
        if tot == 0.0:
            continue
        for k in range(8):
            if w[k] > 0.0:
                acc[i + off[k]] += a * w[k] / tot


def _geometry(xres: float, yres: float, contour: bool):
    xres, yres = abs(float(xres)), abs(float(yres))
    diag = math.hypot(xres, yres)
    dist = np.array([xres if dr == 0 else (yres if dc == 0 else diag) for dr, dc in T.D8_OFFSETS])
    if contour:  # Quinn et al. (1991): 0.5 of the cell for cardinal, 0.354 for diagonal neighbours
        clen = np.array([0.5 * (yres if dr == 0 else xres) if (dr == 0 or dc == 0) else 0.354 * diag / math.sqrt(2)
                         for dr, dc in T.D8_OFFSETS])
    else:
        clen = np.ones(8)
    return dist, clen


def mfd_accumulation(conditioned: np.ndarray, fdir: np.ndarray, xres: float, yres: float,
                     exponent: float = 1.1, channel_cells: float = np.inf, outlets: np.ndarray | None = None,
                     weights: np.ndarray | None = None, contour_lengths: bool = False,
                     order: np.ndarray | None = None, release=None) -> np.ndarray:
    """Multiple-flow-direction accumulation (Freeman 1991), D8 on channels.

    Each cell passes its accumulated flow to all lower neighbours in proportion to ``tan(β)^exponent``
    (``contour_lengths``: times the contour length, Quinn et al. 1991); a cell without a lower neighbour
    (a resolved flat) passes it to its D8 receiver ``fdir``; a cell whose accumulation reaches
    ``channel_cells`` is a channel and passes everything to its D8 receiver (Quinn, Beven & Lamb 1995).
    Outlets (lakes) keep what they receive. Returns upstream cells (or weighted sums), NaN on nodata.
    ``release`` (e.g. ``Terrain.release``): called after each sixteenth of the order (memory-mapped
    inputs hold only the pages one part touches).

    >>> z = np.arange(4.0)[::-1, None]            # one column falling southwards
    >>> mfd_accumulation(z, resolve_flats(z, 1, 1), 1, 1)[:, 0].tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    z = np.ascontiguousarray(conditioned, dtype=np.float64)
    fd = np.ascontiguousarray(fdir, dtype=np.int8)
    o = np.zeros(z.shape, np.bool_) if outlets is None else np.ascontiguousarray(outlets, dtype=np.bool_)
    if order is None:
        order = mfd_order(z, fd, o, release=release)
    w = np.empty(0) if weights is None else np.nan_to_num(np.asarray(weights, dtype=np.float64).ravel(), nan=0.0)
    dist, clen = _geometry(xres, yres, contour_lengths)
    acc = np.zeros(z.size)
    cc = float(channel_cells if channel_cells is not None else np.inf)
    for t0, t1 in T.parts(order.shape[0], release):
        _mfd_acc(z, fd, o, order, w, dist, clen, float(exponent), cc, acc, t0, t1)
        if release is not None:
            release()
    del order
    acc = acc.reshape(z.shape)
    for r0 in range(0, z.shape[0], 256):        # NaN on nodata, by bands (no n-sized mask)
        band = acc[r0:r0 + 256]
        band[~np.isfinite(z[r0:r0 + 256])] = np.nan
        if release is not None:
            release()
    return acc


# ----------------------------------------------------------------------------- runout (Flow-Py-like)
@nb.njit(cache=True)
def _runout(route, ground, fdir, outlets, order, t0, t1, start, tan_alpha, dist, clen, exponent, min_share,
            energy, hit, share, reach):
    # ``order[t0:t1]`` (the caller goes through the order in parts, releasing the memory-mapped inputs
    # between them). Memory: ``energy``/``share``/``hit``/``reach`` are np.zeros (pages mapped on first
    # write), and a cell is only read further (ground, energy) when it is a start cell or holds a
    # share ≥ min_share (any other cell stops at the test below), so only the pages around the reached
    # cells become resident — of these arrays and of the surfaces. ``hit[i]`` says ``energy[i]`` is
    # set; unset it is -inf (the value the dense version started from: the same comparisons).
    rows, cols = route.shape
    zf = route.ravel()
    gf = ground.ravel()
    fd = fdir.ravel()
    out = outlets.ravel()
    st = start.ravel()
    off = D8_DR * cols + D8_DC
    w = np.empty(8, dtype=np.float64)
    for t in range(t0, t1):
        i = order[t]
        if st[i]:
            g = gf[i]
            if g > (energy[i] if hit[i] else -np.inf):
                energy[i] = g
                hit[i] = 1
            share[i] = 1.0
        elif share[i] < min_share:
            continue
        else:
            g = gf[i]
        ei = energy[i] if hit[i] else -np.inf
        if ei < g - 1e-9 or share[i] < min_share:
            continue
        reach[i] = True
        if out[i]:
            continue
        tot = _weights(zf, fd, i, rows, cols, dist, clen, exponent, w)
        if tot == 0.0:
            continue
        si = share[i]
        for k in range(8):
            if w[k] <= 0.0:
                continue
            j = i + off[k]
            e = ei - tan_alpha * dist[k]
            if e > (energy[j] if hit[j] else -np.inf):
                energy[j] = e
                hit[j] = 1
            s = si * w[k] / tot
            if s > share[j]:
                share[j] = s


def runout_energy_line(conditioned: np.ndarray, fdir: np.ndarray, start: np.ndarray, alpha_deg: float,
                       xres: float, yres: float, exponent: float = 8.0, min_share: float = 3e-4,
                       outlets: np.ndarray | None = None, ground: np.ndarray | None = None,
                       order: np.ndarray | None = None, return_energy: bool = False, release=None):
    """Cells reached by a mass movement from ``start`` cells: Flow-Py-like energy-line runout.

    Routing: from each reached cell to its lower neighbours with Holmgren (1994) weights
    ``tan(β)^exponent`` (exponent 1 spreads like Freeman's MFD, large exponents approach D8; Flow-Py's
    default is 8), on resolved flats to the D8 receiver ``fdir``. A cell keeps the largest share of a
    release cell's mass that reaches it along one path (product of the fractions); paths whose share
    falls below ``min_share`` stop (Flow-Py's flux threshold, 3·10⁻⁴). Stopping: the energy line
    falls from the release cell at the travel angle α (``z_start − tan α · L``, L the horizontal path
    length); a cell is reached while the line is at or above the ``ground`` (default the routing
    surface). Returns a bool array (and the energy-line elevation with ``return_energy``).

    Memory: only the cells the start cells reach are read and written; ``release`` (e.g.
    ``Terrain.release``), when given, is called after each sixteenth of the order, so memory-mapped
    inputs hold only the pages one part touches.

    >>> z = np.array([[30., 20., 10., 9., 8.5]])
    >>> st = np.array([[True, False, False, False, False]])
    >>> runout_energy_line(z, resolve_flats(z, 10, 10), st, 45, 10, 10).tolist()
    [[True, True, True, False, False]]
    """
    z = np.ascontiguousarray(conditioned, dtype=np.float64)
    fd = np.ascontiguousarray(fdir, dtype=np.int8)
    o = np.zeros(z.shape, np.bool_) if outlets is None else np.ascontiguousarray(outlets, dtype=np.bool_)
    g = z if ground is None else np.ascontiguousarray(ground, dtype=np.float64)
    if order is None:
        order = mfd_order(z, fd, o)
    dist, clen = _geometry(xres, yres, False)
    st = np.ascontiguousarray(start, dtype=np.bool_)
    energy, share = sparse_zeros(z.size), sparse_zeros(z.size)    # resident only where reached
    hit, reach = sparse_zeros(z.size, np.uint8), sparse_zeros(z.size, np.bool_)
    for t0, t1 in T.parts(order.shape[0], release):
        _runout(z, g, fd, o, order, t0, t1, st, math.tan(math.radians(float(alpha_deg))), dist, clen,
                float(exponent), float(min_share), energy, hit, share, reach)
        if release is not None:
            release()
    del share
    reach = reach.reshape(z.shape)
    if not return_energy:
        return reach
    energy[hit == 0] = -np.inf
    return reach, energy.reshape(z.shape)


# ----------------------------------------------------------------------------- the whole conditioning
@dataclass
class Conditioned:
    """Result of :func:`condition_dem`.

    ``routing``: the surface water is routed on (burned, breached, filled; lake cells below everything);
    ``heights``: the same without the burn depth and with the lakes at their DEM level (what HAND and
    runout measure heights on);
    ``fdir``: D8 with resolved flats; ``flood_dir``: ``None`` (the fill's flood directions are only the
    fallback of the flats and are not kept); counts.
    """

    routing: np.ndarray
    heights: np.ndarray
    fdir: np.ndarray
    flood_dir: np.ndarray
    breached_cells: int
    breaches: int
    filled_cells: int
    burned_cells: int


def condition_dem(z: np.ndarray, xres: float, yres: float, outlets: np.ndarray | None = None,
                  streams: np.ndarray | None = None, burn_depth_m: float = 0.0, breach: bool = True,
                  max_breach_depth_m: float = np.inf, max_breach_length_m: float = np.inf) -> Conditioned:
    """Burn ``streams``, breach (within limits), fill the rest, resolve flats: see the module doc.

    ``outlets`` (lakes) are seeds of both floods and are never lowered or raised; rivers are burned only
    outside them.
    """
    z = np.asarray(z)
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    # a float32 DEM is not copied to float64: the working surface below is its float64 copy
    o = np.zeros(z.shape, np.bool_) if outlets is None else np.ascontiguousarray(outlets, dtype=np.bool_)
    burn = None if streams is None else (np.asarray(streams, bool) & ~o & np.isfinite(z))
    burned = 0 if burn is None else int(np.count_nonzero(burn))
    if not burn_depth_m:
        burn = None
    # one working surface, cut and filled in place (the breached and the filled surface are not kept
    # apart: the counts are taken by the kernels), so the conditioning holds one DEM copy, not three
    work = burn_streams(z, burn, burn_depth_m) if burn is not None else np.array(z, dtype=np.float64, order="C")
    if o.any():
        # flow ends in a lake: on the routing surface it lies below everything, so a burned river mouth
        # (or a shore cell lower than the mapped lake level) drains into it instead of being filled up
        work[o & np.isfinite(work)] = np.nanmin(work) - 1.0
    breaches = lowered = 0
    if breach:
        md = np.inf if max_breach_depth_m is None else float(max_breach_depth_m)
        ml = np.inf if max_breach_length_m is None else float(max_breach_length_m)
        work, breaches, lowered = _breach(work, o, md, ml, abs(float(xres)), abs(float(yres)),
                                          np.empty(0, T.index_dtype(z.size)), True)
    routing, flood_dir, raised = T._fill_zhou(work, o, True, T._NO_LABELS)   # filled in place: routing is work
    del work
    fdir = resolve_flats(routing, xres, yres, outlets=o, fallback=flood_dir)
    del flood_dir
    if o.any() or burn is not None:
        heights = routing.copy()
        heights[o] = z[o]
        if burn is not None:
            # the burn only steers the routing: heights on the river cells are the DEM's, cut no deeper
            # than breaching or filling moved them relative to the burned surface
            heights[burn] = np.maximum(routing[burn], np.minimum(routing[burn] + float(burn_depth_m), z[burn]))
    else:
        heights = routing     # no lakes, no burn: the same surface (never changed in place downstream)
    return Conditioned(routing=routing, heights=heights, fdir=fdir, flood_dir=None,
                       breached_cells=int(lowered), breaches=int(breaches),
                       filled_cells=int(raised), burned_cells=burned)
