"""Tiled (out-of-core) terrain: fill, flats, D8, accumulation, slope and curvature tile by tile.

For DEMs that do not fit the in-core kernels of :mod:`gis_planner.hazards.terrain` (a 30 m DEM of a
rayon or oblast, up to ~300 M cells). Every raster lives in a raw file, read and written by windows
(``pread``/``pwrite`` row by row); one tile plus a one-cell halo is in memory at a time, plus small graphs whose size is
the tile perimeters.

Algorithms
----------
- **Fill** — Barnes (2016), *Parallel priority-flood depression filling for trillion cell DEMs*:
  (1) each tile is priority-flooded from its own perimeter (every perimeter cell a label) and from the
  true outlets inside it (grid border, cells next to nodata, lakes: label "ocean"); (2) the spill
  graph of labels (edges between labels that touch, inside a tile and across tile edges, weighted by
  the higher of the two cells) is flooded from the ocean, giving each label its spill elevation;
  (3) each cell becomes ``max(local fill, spill of its label)``. The result equals
  :func:`terrain.fill_depressions` exactly (tests). Labels are numbered by tile perimeter position
  (:class:`_Perimeters`), so the graph's nodes need no table; step (3) is done on each tile with its
  halo, and the same window gives the D8 directions and flat seeds (:func:`tiled_fill_d8`). A
  float32 DEM stays float32 (its filled elevations are its own values).
- **D8** — as :func:`terrain.flow_direction_d8` (same arithmetic) on every cell with a lower
  neighbour. **Flats** (cells with no lower neighbour after filling that are not outlets) drain
  towards the nearest cell of the flat that has a lower neighbour (breadth-first distance within the
  equal-elevation flat, Garbrecht & Martz 1997, "gradient towards lower terrain"; ties: first
  neighbour in the order E, SE, S, SW, W, NW, N, NE). Up to a budget of flat cells they are solved at
  once in memory (:func:`_solve_flats`); beyond it the distance crosses tile edges by repeated passes
  until nothing changes (the same directions). The in-core path routes flats along the priority-flood order instead
  (an order that cannot be reproduced tile by tile), so on flats the two may pick different, equally
  valid neighbours; everywhere else they are identical.
- **Accumulation** — Barnes (2017), *Parallel non-divergent flow accumulation for trillion cell
  DEMs*: (1) per-tile accumulation, and for every perimeter cell the next perimeter cell downstream
  (inside the tile or, across the edge, in the neighbouring tile); (2) the perimeter graph is
  accumulated in topological order, giving the inflow each tile receives at each perimeter cell;
  (3) per-tile accumulation again with those inflows. Equal to :func:`terrain.flow_accumulation` for
  the same directions (tests).
- **Slope, curvature** — the in-core kernels on each tile with a one-cell halo (identical values).

Example
-------
>>> import numpy as np
>>> z = np.random.default_rng(1).random((7, 9)) * 10
>>> res = tiled_hydrology(z, 1.0, 1.0, tile=4)
>>> from gis_planner.hazards import terrain as T
>>> bool(np.array_equal(res["filled"], T.fill_depressions(z)[0]))
True
"""
from __future__ import annotations

import math
import mmap
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numba as nb
import numpy as np

from . import terrain as T
from .terrain import D8_DC, D8_DR, NO_OUTFLOW, NODATA_DIR, _has_lower, _heap_pop, _heap_push

INF_DIST = np.int32(2 ** 31 - 1)


# ----------------------------------------------------------------------------- file-backed rasters
class Raster:
    """A 2-D raster in a raw row-major file, read by windows through a memory map of just the
    window's rows that is closed at once, written with ``pwrite`` row by row (nothing of the file
    stays mapped: only the window copied, and its pages during a read, count in the process's
    memory)."""

    def __init__(self, path, shape, dtype, create=True):
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if create:
            with open(self.path, "wb") as fh:
                fh.truncate(self.shape[0] * self.shape[1] * self.dtype.itemsize)
        self._fd = os.open(self.path, os.O_RDWR)
        weakref.finalize(self, os.close, self._fd)

    def read(self, r0, r1, c0, c1, pad=None):
        """Window ``[r0:r1, c0:c1]``; parts outside the grid are ``pad``.

        Copied out of a memory map of just the rows of the window, unmapped at once (one call instead
        of a ``pread`` a row: half the CPU; only the window's pages are mapped, for the copy)."""
        rows, cols = self.shape
        out = np.empty((r1 - r0, c1 - c0), dtype=self.dtype)
        a0, a1, b0, b1 = max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)
        if pad is not None and (a0, a1, b0, b1) != (r0, r1, c0, c1):
            out[...] = pad
        if a1 <= a0 or b1 <= b0:
            return out
        size = self.dtype.itemsize
        start = (a0 * cols + b0) * size
        off = start - start % mmap.ALLOCATIONGRANULARITY
        end = ((a1 - 1) * cols + b1) * size
        mm = mmap.mmap(self._fd, end - off, offset=off, access=mmap.ACCESS_READ)
        try:
            src = np.ndarray((a1 - a0, b1 - b0), dtype=self.dtype, buffer=mm, offset=start - off,
                             strides=(cols * size, size))
            out[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = src
            del src
        finally:
            mm.close()
        return out

    def write(self, r0, c0, arr):
        """Window at ``(r0, c0)`` (inside the grid), ``pwrite`` row by row."""
        cols = self.shape[1]
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        size = self.dtype.itemsize
        for i in range(arr.shape[0]):
            if os.pwrite(self._fd, memoryview(arr[i]).cast("B"), ((r0 + i) * cols + c0) * size) != arr[i].nbytes:
                raise OSError(f"short write to {self.path}")

    def load(self, mmap=True):
        """The whole raster: memory-mapped read-only (default) or in memory."""
        if mmap:
            return np.memmap(self.path, dtype=self.dtype, mode="r", shape=self.shape)
        return np.fromfile(self.path, dtype=self.dtype).reshape(self.shape)


def _tiles(shape, tile):
    rows, cols = shape
    for r0 in range(0, rows, tile):
        for c0 in range(0, cols, tile):
            yield r0, min(rows, r0 + tile), c0, min(cols, c0 + tile)


def _global_seeds(zh: np.ndarray, outlets: np.ndarray) -> np.ndarray:
    """Cells of the tile interior that are outlets of the whole grid: valid and (lake, or next to
    nodata / outside the grid — ``zh`` is the tile with a one-cell NaN-padded halo)."""
    nan = np.isnan(zh)
    h, w = zh.shape[0] - 2, zh.shape[1] - 2
    near = np.zeros((h, w), dtype=bool)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            if dr == 1 and dc == 1:
                continue
            near |= nan[dr:dr + h, dc:dc + w]
    return ~nan[1:-1, 1:-1] & (near | outlets)


# ----------------------------------------------------------------------------- fill (Barnes 2016)
def _flood_tile(z, gseed):
    """Priority-flood of one tile from its perimeter and its global seeds: ``(fill, labels)``.

    The efficient flood of :func:`terrain._fill_zhou` labels each cell as it closes it with the label of
    the cell it was reached from: 0 nodata, 1 ocean (global seeds inside the tile), ``2 + local flat
    index`` for each perimeter cell (perimeter cells keep their own label even when they are global
    seeds); :func:`_tile_edges` turns the local labels into perimeter ids. The spill graph only needs
    each label's cells to be flooded from its seed. ``z`` keeps its dtype (float32 or float64)."""
    lab = np.zeros(z.shape, dtype=np.int32)
    f, _, _ = T._fill_zhou(np.array(z, order="C"), gseed, True, lab)   # a copy, filled in place
    return f, lab


class _Perimeters:
    """Numbering of the perimeter cells of every tile: tile ``t`` (row-major) owns the ids
    ``2 + off[t] .. 2 + off[t + 1] - 1`` (0 nodata, 1 ocean), a perimeter cell ``(r, c)`` of an
    ``h × w`` tile is at position :func:`_perim_pos`. The spill graph of the fill has these ids as
    its nodes, so no table of labels is needed to find a label's spill elevation."""

    def __init__(self, shape, tile):
        rows, cols = shape
        self.ntr, self.ntc = -(-rows // tile), -(-cols // tile)
        h = np.minimum(rows - np.arange(self.ntr) * tile, tile)
        w = np.minimum(cols - np.arange(self.ntc) * tile, tile)
        per = 2 * w[None, :] + 2 * np.maximum(h[:, None] - 2, 0)
        self.off = np.zeros(self.ntr * self.ntc + 1, dtype=np.int64)
        np.cumsum(per.ravel(), out=self.off[1:])
        self.n = int(self.off[-1]) + 2


@nb.njit(cache=True, inline="always")
def _perim_pos(r, c, h, w):
    if r == 0:
        return c
    if r == h - 1:
        return w + c
    return 2 * w + 2 * (r - 1) + (0 if c == 0 else 1)


@nb.njit(cache=True, inline="always")
def _perim_id(R, C, rows, cols, tile, ntc, off):
    """Id of the global cell ``(R, C)`` on the perimeter of its tile."""
    tr = R // tile
    tc = C // tile
    r0 = tr * tile
    c0 = tc * tile
    return 2 + off[tr * ntc + tc] + _perim_pos(R - r0, C - c0, min(rows - r0, tile), min(cols - c0, tile))


@nb.njit(cache=True)
def _grow(ea, eb, ew, m):
    cap = 2 * ea.shape[0]
    ea2 = np.empty(cap, dtype=np.int64)
    eb2 = np.empty(cap, dtype=np.int64)
    ew2 = np.empty(cap, dtype=np.float64)
    ea2[:m] = ea[:m]
    eb2[:m] = eb[:m]
    ew2[:m] = ew[:m]
    return ea2, eb2, ew2


@nb.njit(cache=True, inline="always")
def _add_edge(ea, eb, ew, m, a, b, wgt):
    """Append the edge ``a < b`` at ``m`` (room assured), or lower the weight of the last edge if it
    joins the same pair (runs of cells along a label boundary): fewer edges to sort, the same lowest
    weight of each pair. Returns the new count."""
    if m > 0 and ea[m - 1] == a and eb[m - 1] == b:
        if wgt < ew[m - 1]:
            ew[m - 1] = wgt
        return m
    ea[m] = a
    eb[m] = b
    ew[m] = wgt
    return m + 1


@nb.njit(cache=True)
def _tile_edges(f, lab, zh, gseed, r0, c0, rows, cols, tile, ntc, off):
    """Spill-graph edges of one tile between perimeter ids (ocean 1); turns ``lab`` in place from
    local labels (``2 + local flat index`` of the perimeter cell) into perimeter ids.

    Each unordered pair of 8-neighbours is seen once (forward directions E, SE, S, SW from the cell
    of this tile). Perimeter cells that are global seeds get an edge to the ocean at their elevation."""
    h, w = f.shape
    last = -1
    last_id = -1
    for r in range(h):          # local labels -> perimeter ids (runs of one label: one division)
        for c in range(w):
            la = lab[r, c]
            if la < 2:
                continue
            if la != last:
                last = la
                li = la - 2
                pr = li // w
                last_id = _perim_id(r0 + pr, c0 + li - pr * w, rows, cols, tile, ntc, off)
            lab[r, c] = last_id
    cap = 8 * (h + w) + 16
    ea = np.empty(cap, dtype=np.int64)
    eb = np.empty(cap, dtype=np.int64)
    ew = np.empty(cap, dtype=np.float64)
    m = 0
    for r in range(h):
        if m + 5 * w + 1 >= ea.shape[0]:   # room for the row (at most 5 edges a cell): the arrays are
            ea, eb, ew = _grow(ea, eb, ew, m)   # not reassigned in the cell loop (numba reference counts)
        edge_row = r == 0 or r == h - 1
        for c in range(w):
            ga = lab[r, c]
            if ga == 0:
                continue
            border = edge_row or c == 0 or c == w - 1
            if not border:   # the 4 forward neighbours are in the tile: most cells, most with one label
                l1 = lab[r, c + 1]
                l2 = lab[r + 1, c + 1]
                l3 = lab[r + 1, c]
                l4 = lab[r + 1, c - 1]
                if (l1 == ga or l1 == 0) and (l2 == ga or l2 == 0) and (l3 == ga or l3 == 0) and \
                        (l4 == ga or l4 == 0):
                    continue
            if border and gseed[r, c]:
                m = _add_edge(ea, eb, ew, m, 1, ga, f[r, c])
            for k in range(4):  # E, SE, S, SW
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 0 <= rr < h and 0 <= cc < w:
                    gb = lab[rr, cc]
                    if gb == 0 or gb == ga:
                        continue
                    wgt = max(f[r, c], f[rr, cc])
                else:
                    if r0 + rr < 0 or r0 + rr >= rows or c0 + cc < 0 or c0 + cc >= cols:
                        continue
                    zb = zh[rr + 1, cc + 1]
                    if math.isnan(zb):
                        continue
                    gb = _perim_id(r0 + rr, c0 + cc, rows, cols, tile, ntc, off)
                    wgt = max(f[r, c], zb)
                m = _add_edge(ea, eb, ew, m, min(ga, gb), max(ga, gb), wgt)
    return ea[:m], eb[:m], ew[:m]


def _reduce_edges(a, b, wgt):
    """Keep the lowest weight of each (a, b) pair."""
    if a.size == 0:
        return a, b, wgt
    order = np.lexsort((wgt, b, a))
    a, b, wgt = a[order], b[order], wgt[order]
    first = np.ones(a.size, dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[first], b[first], wgt[first]


@nb.njit(cache=True)
def _spill_graph(n, ia, ib, wgt, ocean):
    """Minimax (spill) elevation of every node from the ocean node over an undirected graph."""
    deg = np.zeros(n + 1, dtype=np.int64)
    for e in range(ia.shape[0]):
        deg[ia[e] + 1] += 1
        deg[ib[e] + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    nbr = np.empty(deg[n], dtype=np.int64)
    nw = np.empty(deg[n], dtype=np.float64)
    pos = deg[:n].copy()
    for e in range(ia.shape[0]):
        nbr[pos[ia[e]]] = ib[e]
        nw[pos[ia[e]]] = wgt[e]
        pos[ia[e]] += 1
        nbr[pos[ib[e]]] = ia[e]
        nw[pos[ib[e]]] = wgt[e]
        pos[ib[e]] += 1
    spill = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    cap = deg[n] + 1
    keys = np.empty(cap, dtype=np.float64)
    vals = np.empty(cap, dtype=np.int64)
    size = 0
    spill[ocean] = -np.inf
    size = _heap_push(keys, vals, size, -np.inf, ocean)
    while size > 0:
        k0 = keys[0]
        i, size = _heap_pop(keys, vals, size)
        if done[i] or k0 > spill[i]:
            continue
        done[i] = True
        for p in range(deg[i], deg[i + 1]):
            j = nbr[p]
            v = max(spill[i], nw[p])
            if v < spill[j]:
                spill[j] = v
                size = _heap_push(keys, vals, size, v, j)
    return spill


@nb.njit(cache=True)
def _local_labels(lab, base, out):
    """Perimeter ids of one tile (``lab``, from :func:`_tile_edges`) as ``2 + position on the tile's
    perimeter`` (``base``: the tile's ``off``), into ``out`` (int16 for tiles up to 8191 cells a side:
    half the bytes of the labels file); 0 nodata and 1 ocean stay."""
    h, w = lab.shape
    for r in range(h):
        for c in range(w):
            la = lab[r, c]
            out[r, c] = la - base if la > 1 else la
    return out


@nb.njit(cache=True)
def _apply_spill(Fh, labh, spill, r0, c0, tile, ntc, off):
    """Raise every cell of a halo'd window (tile at ``(r0, c0)`` with a one-cell halo) to the spill
    elevation of its label, in place. ``labh`` holds :func:`_local_labels`: the perimeter id of a
    cell's label is ``off`` of the tile the cell is in plus its local label (the halo's cells are in
    the neighbouring tiles; outside the grid the labels are 0). Returns, for each row of the window,
    whether a cell of it was raised."""
    H, W = Fh.shape
    raised = np.zeros(H, dtype=np.bool_)
    for r in range(H):
        trow = ((r0 - 1 + r) // tile) * ntc
        for c in range(W):
            la = labh[r, c]
            if la > 1:
                s = spill[off[trow + (c0 - 1 + c) // tile] + la]
                if s > Fh[r, c]:
                    Fh[r, c] = s
                    raised[r] = True
    return raised


# ----------------------------------------------------------------------------- flats and D8
@nb.njit(cache=True)
def _d8_init(steep, Fh, gseed, outlets):
    """The tile interior's directions where they are known and the flat-distance seeds.

    ``steep``: :func:`terrain._d8` on the halo'd filled tile (-1 where no neighbour is lower).
    Directions: the steepest descent; outlets (lakes) -1. Distances: 0 where a cell has a lower
    neighbour or is a global seed (an exit of any flat), ``INF`` on flat cells (left at -1 here,
    resolved by :func:`_resolve_flats`), -1 on nodata. Returns ``(fdir, dist, any flat cell)``."""
    h, w = gseed.shape
    fd = np.empty((h, w), dtype=np.int8)
    d = np.empty((h, w), dtype=np.int32)
    flat = False
    for r in range(h):
        for c in range(w):
            bk = steep[r + 1, c + 1]
            if math.isnan(Fh[r + 1, c + 1]):
                fd[r, c] = NODATA_DIR
                d[r, c] = -1
                continue
            if gseed[r, c] or bk >= 0:   # bk >= 0: a lower neighbour (the halo holds all 8)
                d[r, c] = 0
            else:
                d[r, c] = INF_DIST
                flat = True
            fd[r, c] = NO_OUTFLOW if outlets[r, c] else bk
    return fd, d, flat


@nb.njit(cache=True)
def _flat_bfs(Fh, dh):
    """Relax flat distances of the tile interior from its own exits and the halo (``dh`` has a
    one-cell halo). Breadth-first search merged with the seeds sorted by distance, so cells are
    settled in non-decreasing distance (each at most once). Returns ``(changed, rerun)``: whether any
    distance changed, and a bit mask of the neighbouring tiles (bit ``3 * (dr + 1) + dc + 1``) that a
    changed border cell can now improve (a halo cell of the same elevation more than one step further),
    the only tiles that must run again."""
    H, W = Fh.shape
    h, w = H - 2, W - 2
    sidx = np.empty(H * W, dtype=np.int64)
    ns = 0
    for r in range(H):
        for c in range(W):
            d = dh[r, c]
            if d < 0 or d >= INF_DIST:
                continue
            v = Fh[r, c]
            for k in range(8):  # a seed only if it can improve an interior neighbour of the flat
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 1 <= rr <= h and 1 <= cc <= w and Fh[rr, cc] == v and dh[rr, cc] > d + 1:
                    sidx[ns] = r * W + c
                    ns += 1
                    break
    sidx = sidx[:ns]
    skey = np.empty(ns, dtype=np.int64)
    for i in range(ns):
        skey[i] = dh[sidx[i] // W, sidx[i] % W]
    srt = np.argsort(skey, kind="mergesort")
    queue = np.empty(h * w + 1, dtype=np.int64)
    head = 0
    tail = 0
    si = 0
    changed = False
    while si < ns or head < tail:
        if head < tail and (si >= ns or dh[queue[head] // W, queue[head] % W] <= skey[srt[si]]):
            idx = queue[head]
            head += 1
        else:
            idx = sidx[srt[si]]
            key = skey[srt[si]]
            si += 1
            if dh[idx // W, idx % W] != key:
                continue  # improved since: already in the queue
        r = idx // W
        c = idx - r * W
        d = dh[r, c]
        v = Fh[r, c]
        for k in range(8):
            rr = r + D8_DR[k]
            cc = c + D8_DC[k]
            if rr < 1 or cc < 1 or rr > h or cc > w:
                continue  # only interior cells are updated
            if Fh[rr, cc] == v and dh[rr, cc] > d + 1:
                dh[rr, cc] = d + 1
                changed = True
                queue[tail] = rr * W + cc
                tail += 1
    rerun = 0
    for q in range(tail):   # every changed cell entered the queue; those on the tile's border
        idx = queue[q]
        r = idx // W
        c = idx - r * W
        if 1 < r < h and 1 < c < w:
            continue
        d = dh[r, c]
        v = Fh[r, c]
        for k in range(8):
            rr = r + D8_DR[k]
            cc = c + D8_DC[k]
            if 1 <= rr <= h and 1 <= cc <= w:
                continue
            if Fh[rr, cc] == v and dh[rr, cc] > d + 1:
                tr = 0 if rr == 0 else (2 if rr == h + 1 else 1)
                tc = 0 if cc == 0 else (2 if cc == w + 1 else 1)
                rerun |= 1 << (3 * tr + tc)
    return changed, rerun


@nb.njit(cache=True)
def _resolve_flats(fd, Fh, dh):
    """Flat cells of the tile interior (no outflow, distance > 0) towards the neighbour one step
    nearer the flat's exit (first in the order E, SE, S, SW, W, NW, N, NE), in place."""
    h, w = fd.shape
    for r in range(h):
        for c in range(w):
            if fd[r, c] != NO_OUTFLOW:
                continue
            d = dh[r + 1, c + 1]
            if d <= 0:
                continue
            v = Fh[r + 1, c + 1]
            for k in range(8):
                rr = r + 1 + D8_DR[k]
                cc = c + 1 + D8_DC[k]
                if Fh[rr, cc] == v and dh[rr, cc] == d - 1:
                    fd[r, c] = k
                    break


@nb.njit(cache=True)
def _flat_cells(d, Fh):
    """The flat cells of a tile interior (``d`` from :func:`_d8_init`: INF) as local flat indices
    (row-major, so ascending) and, for each, a bit mask of its 8 neighbours of the same elevation
    (bit ``k`` in the order E, SE, S, SW, W, NW, N, NE; ``Fh``: the filled tile with its halo)."""
    h, w = d.shape
    n = 0
    for r in range(h):
        for c in range(w):
            if d[r, c] == INF_DIST:
                n += 1
    loc = np.empty(n, dtype=np.int32)
    eq = np.empty(n, dtype=np.uint8)
    m = 0
    for r in range(h):
        for c in range(w):
            if d[r, c] != INF_DIST:
                continue
            v = Fh[r + 1, c + 1]
            e = 0
            for k in range(8):
                if Fh[r + 1 + D8_DR[k], c + 1 + D8_DC[k]] == v:
                    e |= 1 << k
            loc[m] = r * w + c
            eq[m] = e
            m += 1
    return loc, eq


@nb.njit(cache=True)
def _solve_flats(loc, eq, start, rows, cols, tile, ntc):
    """Directions of all flat cells at once, in memory (the same as the tiled relaxation,
    :func:`_flat_bfs` + :func:`_resolve_flats`: both give each flat cell its breadth-first distance
    within its equal-elevation flat from the cells of that elevation that drain, and the first
    neighbour in the order E … NE one step nearer).

    ``loc[start[t]:start[t + 1]]``: the flat cells of tile ``t`` (ascending local indices), ``eq``
    their equal-neighbour masks (:func:`_flat_cells`). A neighbour of the same elevation is either a
    flat cell or a cell that drains (distance 0). Returns the directions (``NO_OUTFLOW`` for flats
    that no draining cell reaches)."""
    F = loc.shape[0]
    nbr = np.empty((F, 8), dtype=np.int32)   # -2 other elevation, -1 draining cell, else a flat cell
    dmap = np.full(tile * tile, -1, dtype=np.int32)
    for t in range(start.shape[0] - 1):
        s0 = start[t]
        s1 = start[t + 1]
        if s0 == s1:
            continue
        r0 = (t // ntc) * tile
        c0 = (t % ntc) * tile
        h = min(rows - r0, tile)
        w = min(cols - c0, tile)
        for i in range(s0, s1):
            dmap[loc[i]] = i
        for i in range(s0, s1):
            r = loc[i] // w
            c = loc[i] - r * w
            for k in range(8):
                if not (eq[i] >> k) & 1:
                    nbr[i, k] = -2
                    continue
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 0 <= rr < h and 0 <= cc < w:
                    nbr[i, k] = dmap[rr * w + cc]
                    continue
                R = r0 + rr   # in the neighbouring tile (inside the grid: its elevation is a number)
                C = c0 + cc
                ur0 = (R // tile) * tile
                uc0 = (C // tile) * tile
                u = (R // tile) * ntc + C // tile
                key = (R - ur0) * min(cols - uc0, tile) + C - uc0
                j = start[u] + np.searchsorted(loc[start[u]:start[u + 1]], key)
                nbr[i, k] = j if j < start[u + 1] and loc[j] == key else -1
        for i in range(s0, s1):
            dmap[loc[i]] = -1
    dist = np.full(F, INF_DIST, dtype=np.int32)
    queue = np.empty(F, dtype=np.int32)
    tail = 0
    for i in range(F):
        for k in range(8):
            if nbr[i, k] == -1:
                dist[i] = 1
                queue[tail] = i
                tail += 1
                break
    head = 0
    while head < tail:
        i = queue[head]
        head += 1
        di = dist[i] + 1
        for k in range(8):
            j = nbr[i, k]
            if j >= 0 and dist[j] > di:
                dist[j] = di
                queue[tail] = j
                tail += 1
    dirs = np.full(F, NO_OUTFLOW, dtype=np.int8)
    for i in range(F):
        d = dist[i]
        for k in range(8):
            j = nbr[i, k]
            if j == -2:
                continue
            if (0 if j == -1 else dist[j]) == d - 1:
                dirs[i] = k
                break
    return dirs


def default_flat_budget(shape, tile: int) -> int:
    """Flat cells solved in memory by default: a tenth of the grid's cells (≤ ~4.6 bytes a cell of the grid,
    e.g. 0.2 GB at 40 M cells; the 40 M benchmark grid's flats fit, 1.2 of 5.7 CPU s less than the tiled
    passes, +52 MB), at least ``tile²``. More flat cells than that go to the tiled passes.

    >>> default_flat_budget((4878, 8200), 1024), default_flat_budget((100, 100), 1024)
    (3999960, 1048576)
    """
    return max(tile * tile, shape[0] * shape[1] // 10)


def tiled_fill_d8(dem: Raster, outlets: Raster | None, xres, yres, workdir, tile: int,
                  max_passes: int = 10_000, progress=None,
                  flat_budget: int | None = None) -> tuple[Raster, Raster, int]:
    """Priority-flood fill by tiles (Barnes 2016) and D8 with flats resolved by distance to their
    exit. Returns ``(filled, fdir, flat passes)``; ``filled`` has the DEM raster's dtype.

    Three sweeps over the tiles: (1) flood each tile, keep its spill-graph edges; solve the graph;
    (2) raise each tile (with its halo) to its labels' spill elevations, write it and, from the same
    window, the steepest-descent directions and the flat-distance seeds; (3) relax the flat distances
    across tiles (repeated passes) and resolve the flats of the tiles that have any.

    Flats of at most ``flat_budget`` cells in all (default :func:`default_flat_budget`: ~46 bytes a flat
    cell in memory) are instead collected in step (2) and solved at once in memory (:func:`_solve_flats`,
    the same directions); then the flat passes returned are 0."""
    rows, cols = shape = dem.shape
    workdir = Path(workdir)
    per = _Perimeters(shape, tile)
    filled = Raster(workdir / "filled.bin", shape, dem.dtype)
    lab_dtype = np.int16 if 4 * tile + 2 <= np.iinfo(np.int16).max else np.int32   # 2 + perimeter position
    labels = Raster(workdir / "fill_labels.bin", shape, lab_dtype)
    boxes = list(_tiles(shape, tile))

    def outlets_of(r0, r1, c0, c1):
        return outlets.read(r0, r1, c0, c1) if outlets is not None else np.zeros((r1 - r0, c1 - c0), bool)

    edges = []
    for t, (r0, r1, c0, c1) in enumerate(boxes):
        zh = dem.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        gseed = _global_seeds(zh, outlets_of(r0, r1, c0, c1))
        f, lab = _flood_tile(zh[1:-1, 1:-1], gseed)
        edges.append(_reduce_edges(*_tile_edges(f, lab, zh, gseed, r0, c0, rows, cols, tile, per.ntc, per.off)))
        filled.write(r0, c0, f)
        labels.write(r0, c0, _local_labels(lab, per.off[t], np.empty(lab.shape, lab_dtype)))
        del zh, f, lab, gseed
    ea = np.concatenate([e[0] for e in edges] + [np.zeros(0, np.int64)])
    eb = np.concatenate([e[1] for e in edges] + [np.zeros(0, np.int64)])
    ew = np.concatenate([e[2] for e in edges] + [np.zeros(0, np.float64)])
    del edges
    ea, eb, ew = _reduce_edges(ea, eb, ew)
    spill = _spill_graph(per.n, ea, eb, ew, 1)
    spill[spill == np.inf] = -np.inf     # ids of no cell (or never reached): the local fill stays
    del ea, eb, ew

    if progress is not None:
        progress()
    fdir = Raster(workdir / "fdir.bin", shape, np.int8)
    # flat distances for the tiled relaxation: 0 where a cell drains, INF on flats; the file starts as
    # zeros, so tiles not written read as draining (their nodata cells, -1 in _d8_init, may read as 0:
    # no step compares a nodata cell's distance, its elevation NaN equals no cell's)
    dist = Raster(workdir / "flat_dist.bin", shape, np.int32)
    budget = default_flat_budget(shape, tile) if flat_budget is None else int(flat_budget)
    flats, n_flat = {}, 0   # tile -> (local indices, equal-neighbour masks) while within the budget
    flat_tiles = set()
    xres, yres = abs(float(xres)), abs(float(yres))
    for t, (r0, r1, c0, c1) in enumerate(boxes):
        Fh = filled.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        raised = _apply_spill(Fh, labels.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=0), spill, r0, c0, tile,
                              per.ntc, per.off)[1:-1]   # the halo too
        rs = np.flatnonzero(raised)   # the file holds the local fill: only the raised rows change
        brk = np.flatnonzero(np.diff(rs) > 1)   # runs of consecutive raised rows [a, b)
        for a, b in zip(np.r_[rs[:1], rs[brk + 1]], np.r_[rs[brk], rs[-1:]] + 1):
            filled.write(r0 + a, c0, Fh[1 + a:1 + b, 1:-1])
        out = outlets_of(r0, r1, c0, c1)
        steep = T._d8(Fh, np.full(Fh.shape, NO_OUTFLOW, np.int8), xres, yres)
        fd, d, flat = _d8_init(steep, Fh, _global_seeds(Fh, out), out)  # Fh has the DEM's nodata
        fdir.write(r0, c0, fd)
        if flat:
            flat_tiles.add(t)
        if flats is not None and flat:
            flats[t] = _flat_cells(d, Fh)
            n_flat += flats[t][0].size
            if n_flat > budget:   # too many: the tiled relaxation, its distances written so far
                for u, (loc, _) in flats.items():
                    a0, a1, b0, b1 = boxes[u]
                    du = np.zeros((a1 - a0) * (b1 - b0), dtype=np.int32)
                    du[loc] = INF_DIST
                    dist.write(a0, b0, du.reshape(a1 - a0, b1 - b0))
                flats = None
        elif flats is None:
            dist.write(r0, c0, d)
    labels.path.unlink()
    if flats is not None:
        start = np.zeros(len(boxes) + 1, dtype=np.int64)
        for t, (loc, _) in flats.items():
            start[t + 1] = loc.size
        np.cumsum(start, out=start)
        order = sorted(flats)
        loc_all = np.concatenate([flats[t][0] for t in order] + [np.zeros(0, np.int32)])
        eq_all = np.concatenate([flats[t][1] for t in order] + [np.zeros(0, np.uint8)])
        del flats
        dirs = _solve_flats(loc_all, eq_all, start, rows, cols, tile, per.ntc)
        for t in order:
            r0, r1, c0, c1 = boxes[t]
            fd = fdir.read(r0, r1, c0, c1)
            fd.ravel()[loc_all[start[t]:start[t + 1]]] = dirs[start[t]:start[t + 1]]
            fdir.write(r0, c0, fd)
        dist.path.unlink()
        return filled, fdir, 0
    # relax the tiles with flat cells; a tile whose changed border cells can improve a neighbour's makes
    # that neighbour run again (the distances converge to the same shortest distances in any order)
    ntc = per.ntc
    dirty = set(flat_tiles)
    passes = 0
    while dirty and passes < max_passes:
        passes += 1
        for t in (sorted(dirty) if passes % 2 else sorted(dirty, reverse=True)):
            if t not in dirty:
                continue
            dirty.discard(t)
            r0, r1, c0, c1 = boxes[t]
            Fh = filled.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
            dh = dist.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=-1)
            changed, rerun = _flat_bfs(Fh, dh)
            if changed:
                dist.write(r0, c0, dh[1:-1, 1:-1])
            tr, tc = divmod(t, ntc)
            for b in range(9):   # only the neighbours that a changed border cell can improve
                if rerun >> b & 1:
                    u = (tr + b // 3 - 1) * ntc + tc + b % 3 - 1
                    if u in flat_tiles:
                        dirty.add(u)
    if dirty:
        raise RuntimeError(f"flat distances did not settle in {max_passes} passes")
    for t in sorted(flat_tiles):
        r0, r1, c0, c1 = boxes[t]
        Fh = filled.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        dh = dist.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=-1)
        fd = fdir.read(r0, r1, c0, c1)
        _resolve_flats(fd, Fh, dh)
        fdir.write(r0, c0, fd)
    dist.path.unlink()
    return filled, fdir, passes


# ----------------------------------------------------------------------------- accumulation (Barnes 2017)
@nb.njit(cache=True)
def _tile_accumulate(fh, eidx, extra):
    """Accumulation of the interior of a halo'd D8 tile ``fh`` by in-degree walks (as
    :func:`terrain._accumulate_unit`): each cell counts 1, plus ``extra[q]`` for the cell of flat index
    ``eidx[q]`` (the inflows from other tiles; a few perimeter cells, empty in the first pass); flow
    leaving the tile or entering nodata stops. The receivers are kept as flat int32 indices (4 bytes a
    tile cell: the walks then follow one load a step instead of decoding the direction; 0.14 -> 0.08 CPU s
    a pass over a 10 M grid). The counts are integers in float64, so the sums are exact in any order.
    Returns ``(acc, valid, done)`` (flat, NaN on nodata; ``done < valid``: a cycle)."""
    H, W = fh.shape
    h, w = H - 2, W - 2
    n = h * w
    indeg = np.zeros(n, dtype=np.uint8)
    rec = np.empty(n, dtype=np.int32)
    acc = np.empty(n, dtype=np.float64)
    valid = 0
    for r in range(h):
        for c in range(w):
            i = r * w + c
            k = fh[r + 1, c + 1]
            rec[i] = -1
            if k == NODATA_DIR:
                acc[i] = np.nan
                continue
            valid += 1
            acc[i] = 1.0
            if k >= 0:
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 0 <= rr < h and 0 <= cc < w and fh[rr + 1, cc + 1] != NODATA_DIR:
                    j = rr * w + cc
                    rec[i] = j
                    indeg[j] += 1
    for q in range(eidx.shape[0]):   # valid cells (perimeter nodes), each once
        acc[eidx[q]] += extra[q]
    done = 0
    for i in range(n):
        if indeg[i] != 0 or acc[i] != acc[i]:   # NaN: nodata
            continue
        cur = i
        while True:
            indeg[cur] = 255
            done += 1
            j = rec[cur]
            if j < 0:
                break
            acc[j] += acc[cur]
            indeg[j] -= 1
            if indeg[j] != 0:
                break
            cur = j
    return acc, valid, done


@nb.njit(cache=True, inline="always")
def _tile_receiver(fh, i, w, h):
    """Flat index of the receiver of interior cell ``i`` inside the tile, -1 if none."""
    r = i // w
    c = i - r * w
    k = fh[r + 1, c + 1]
    if k < 0:
        return -1
    rr = r + D8_DR[k]
    cc = c + D8_DC[k]
    if rr < 0 or cc < 0 or rr >= h or cc >= w or fh[rr + 1, cc + 1] == NODATA_DIR:
        return -1
    return rr * w + cc


@nb.njit(cache=True)
def _tile_links(fh, r0, c0, cols):
    """Perimeter links of one tile (acyclic directions): for each valid perimeter cell its global id
    and where its flow goes next: the first perimeter cell downstream in the tile (kind 0), the
    receiver in the neighbouring tile (kind 1), or nowhere (kind -1). The walks down the tile stop at
    the first cell whose answer is known (each interior cell is walked once)."""
    H, W = fh.shape
    h, w = H - 2, W - 2
    memo = np.full(h * w, -2, dtype=np.int64)   # interior cells: first perimeter cell downstream
    stack = np.empty(h * w, dtype=np.int64)
    m = 2 * (h + w)
    gid = np.empty(m, dtype=np.int64)
    tgt = np.empty(m, dtype=np.int64)
    kind = np.empty(m, dtype=np.int8)
    loc = np.empty(m, dtype=np.int64)
    n = 0
    for r in range(h):
        for c in range(w):
            if not (r == 0 or c == 0 or r == h - 1 or c == w - 1):
                continue
            k = fh[r + 1, c + 1]
            if k == NODATA_DIR:
                continue
            i = r * w + c
            gid[n] = (r0 + r) * cols + c0 + c
            loc[n] = i
            kind[n] = -1
            tgt[n] = -1
            if k >= 0:
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 0 <= rr < h and 0 <= cc < w:
                    if fh[rr + 1, cc + 1] != NODATA_DIR:
                        ns = 0
                        j = rr * w + cc
                        while True:   # down the tile to the first perimeter cell
                            rj = j // w
                            cj = j - rj * w
                            if rj == 0 or cj == 0 or rj == h - 1 or cj == w - 1:
                                res = j
                                break
                            if memo[j] != -2:
                                res = memo[j]
                                break
                            stack[ns] = j
                            ns += 1
                            j = _tile_receiver(fh, j, w, h)
                            if j < 0:
                                res = -1
                                break
                        for t in range(ns):
                            memo[stack[t]] = res
                        if res >= 0:
                            kind[n] = 0
                            tgt[n] = (r0 + res // w) * cols + c0 + res % w
                elif fh[rr + 1, cc + 1] != NODATA_DIR:
                    kind[n] = 1
                    tgt[n] = (r0 + rr) * cols + c0 + cc
            n += 1
    return gid[:n], tgt[:n], kind[:n], loc[:n]


@nb.njit(cache=True)
def _solve_links(tgt_idx, kind, local):
    """Inflow from other tiles at each perimeter node (Barnes 2017 global step)."""
    n = tgt_idx.shape[0]
    indeg = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if tgt_idx[i] >= 0:
            indeg[tgt_idx[i]] += 1
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for i in range(n):
        if indeg[i] == 0:
            queue[tail] = i
            tail += 1
    extra = np.zeros(n, dtype=np.float64)   # inflow from outside the tile upstream of the node
    ext = np.zeros(n, dtype=np.float64)     # inflow entering the tile at the node
    while head < tail:
        i = queue[head]
        head += 1
        j = tgt_idx[i]
        if j < 0:
            continue
        carry = extra[i] if kind[i] == 0 else local[i] + extra[i]
        extra[j] += carry
        if kind[i] == 1:
            ext[j] += carry
        indeg[j] -= 1
        if indeg[j] == 0:
            queue[tail] = j
            tail += 1
    if tail != n:
        raise ValueError("flow directions contain a cycle across tiles")
    return ext


def tiled_accumulation(fdir: Raster, workdir, tile: int) -> Raster:
    """Upstream cell count by tiles (Barnes 2017), float64, NaN on nodata."""
    rows, cols = fdir.shape
    parts = []
    no_extra = np.empty(0, dtype=np.float64)
    no_idx = np.empty(0, dtype=np.int64)
    for r0, r1, c0, c1 in _tiles(fdir.shape, tile):
        fh = fdir.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=NODATA_DIR)
        acc, valid, done = _tile_accumulate(fh, no_idx, no_extra)
        if done != valid:
            raise ValueError("flow directions contain a cycle")
        gid, tgt, kind, loc = _tile_links(fh, r0, c0, cols)
        parts.append((gid, tgt, kind, acc[loc]))
        del fh, acc
    gid = np.concatenate([p[0] for p in parts])
    tgt = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([p[2] for p in parts])
    local = np.concatenate([p[3] for p in parts])
    del parts
    srt = np.argsort(gid, kind="stable")
    gid, tgt, kind, local = gid[srt], tgt[srt], kind[srt], local[srt]
    tgt_idx = np.where(tgt >= 0, np.searchsorted(gid, tgt), -1)
    if (tgt >= 0).any() and not np.array_equal(gid[tgt_idx[tgt >= 0]], tgt[tgt >= 0]):
        raise AssertionError("a perimeter link points at a cell that is not a perimeter node")
    ext = _solve_links(tgt_idx, kind, local)
    out = Raster(Path(workdir) / "acc.bin", fdir.shape, np.float64)
    for r0, r1, c0, c1 in _tiles(fdir.shape, tile):
        fh = fdir.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=NODATA_DIR)
        lo, hi = np.searchsorted(gid, [r0 * cols, (r1 - 1) * cols + c1])
        g = gid[lo:hi]
        rr, cc = g // cols, g % cols
        inside = (cc >= c0) & (cc < c1)
        acc, _, _ = _tile_accumulate(fh, (rr[inside] - r0) * (c1 - c0) + (cc[inside] - c0), ext[lo:hi][inside])
        out.write(r0, c0, acc.reshape(r1 - r0, c1 - c0))
    return out


# ----------------------------------------------------------------------------- slope, curvature
def tiled_slope_curvature(dem: Raster, xres, yres, workdir, tile: int):
    """Slope (degrees, edges extrapolated linearly) and profile/plan curvature by tiles with a
    one-cell halo; the values of :func:`terrain.slope_aspect` / :func:`terrain.curvature`."""
    workdir = Path(workdir)
    slope = Raster(workdir / "slope.bin", dem.shape, np.float32)
    prof = Raster(workdir / "profile.bin", dem.shape, np.float32)
    plan = Raster(workdir / "plan.bin", dem.shape, np.float32)
    rows, cols = dem.shape
    for r0, r1, c0, c1 in _tiles(dem.shape, tile):
        # the halo stops at the grid edge: there the kernels pad as they do for the whole grid
        a0, a1, b0, b1 = max(r0 - 1, 0), min(r1 + 1, rows), max(c0 - 1, 0), min(c1 + 1, cols)
        zh = dem.read(a0, a1, b0, b1).astype(np.float64, copy=False)   # float64 arithmetic, as in-core
        win = (slice(r0 - a0, r1 - a0), slice(c0 - b0, c1 - b0))
        s, _ = T.slope_aspect(zh, xres, yres, edges="linear", aspect=False)
        slope.write(r0, c0, s[win])
        p, q = T.curvature(zh, xres, yres, edges="linear")
        prof.write(r0, c0, p[win])
        plan.write(r0, c0, q[win])
    return slope, prof, plan


# ----------------------------------------------------------------------------- drivers
def dem_to_raster(z_or_path, workdir, block_rows: int = 256) -> tuple[Raster, object, object]:
    """The DEM as a file raster (NaN nodata), from an array or streamed from a GeoTIFF by row blocks.
    Returns ``(raster, transform, crs)`` (``None`` for an array).

    float32 stays float32 (a GeoTIFF of any type but float64 is read as float32, as the in-core path
    reads it): the filled DEM holds elevations of the DEM, so the fill is exact in its type, and the
    files and windows are half the size. Everything else is float64."""
    _reuse_freed_buffers(1024)   # the row blocks, as the tiles: reused, not mapped afresh
    workdir = Path(workdir)
    if isinstance(z_or_path, np.ndarray):
        z = z_or_path
        dtype = np.float32 if z.dtype == np.float32 else np.float64
        r = Raster(workdir / "dem.bin", z.shape, dtype)
        for r0 in range(0, z.shape[0], block_rows):
            r.write(r0, 0, np.asarray(z[r0:r0 + block_rows], dtype=dtype))
        return r, None, None
    import rasterio
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=16), rasterio.open(z_or_path) as ds:  # 16 MB block cache, not 5 % of RAM
        dtype = np.float64 if ds.dtypes[0] == "float64" else np.float32   # as_float_dem's type
        r = Raster(workdir / "dem.bin", (ds.height, ds.width), dtype)
        for r0 in range(0, ds.height, block_rows):
            n = min(block_rows, ds.height - r0)
            block = ds.read(1, window=Window(0, r0, ds.width, n))
            r.write(r0, 0, T.as_float_dem(block, ds.nodata, copy=False))
        return r, ds.transform, ds.crs


_MALLOC_SET = 0   # the mmap threshold set (bytes), 0: not yet


def _reuse_freed_buffers(tile: int) -> None:
    """Let glibc keep freed tile buffers for the next tile instead of returning them to the kernel.

    The tiled kernels allocate and free the same few tile-sized arrays (4-16 MB at 1024 cells) for
    every tile and sweep; above glibc's mmap threshold each is a fresh mapping whose pages fault in
    (zeroed by the kernel) again. With the mmap threshold above the tile buffers and a trim threshold
    of four times that, they are reused from the heap: half the page faults, ~0.2 CPU s less on a
    10 M-cell grid (2026-12-06), the same peak RSS. Process-wide (raised for larger tiles); a no-op off glibc."""
    global _MALLOC_SET
    big = max(32 << 20, 2 * (tile + 2) ** 2 * 8)
    if _MALLOC_SET >= big:
        return
    _MALLOC_SET = big
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, big)        # M_MMAP_THRESHOLD
        libc.mallopt(-1, 4 * big)    # M_TRIM_THRESHOLD
    except (OSError, AttributeError):   # pragma: no cover - not glibc
        pass


def run_tiled(dem: Raster, xres, yres, workdir, tile: int = 1024, outlets: Raster | None = None,
              slope: bool = True, progress=None, flat_budget: int | None = None) -> dict:
    """The whole tiled terrain pipeline on file rasters; returns ``{name: Raster}`` and ``flat_passes``
    (``flat_budget``: see :func:`tiled_fill_d8`)."""
    _reuse_freed_buffers(tile)
    step = progress or (lambda f, m: None)
    out = {}
    if slope:
        step(0.0, "slope")
        out["slope"], out["profile"], out["plan"] = tiled_slope_curvature(dem, xres, yres, workdir, tile)
    step(0.3, "fill")   # fill and D8 share their sweeps over the tiles (the D8 step reports at its flats)
    out["filled"], out["fdir"], out["flat_passes"] = tiled_fill_d8(
        dem, outlets, xres, yres, workdir, tile, progress=lambda: step(0.6, "flow_direction"),
        flat_budget=flat_budget)
    step(0.75, "flow_accumulation")
    out["acc"] = tiled_accumulation(out["fdir"], workdir, tile)
    step(1.0, "done")
    return out


def tiled_hydrology(z: np.ndarray, xres, yres, tile: int = 1024, outlets: np.ndarray | None = None,
                    slope: bool = False, workdir=None, flat_budget: int | None = None) -> dict:
    """Convenience for arrays (tests, small grids): the tiled pipeline, results as in-memory arrays."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        dem, _, _ = dem_to_raster(np.asarray(z), tmp)   # float32 stays float32, else float64
        out_r = None
        if outlets is not None:
            out_r = Raster(Path(tmp) / "outlets.bin", dem.shape, np.bool_)
            out_r.write(0, 0, np.asarray(outlets, dtype=bool))
        res = run_tiled(dem, xres, yres, tmp, tile, out_r, slope=slope, flat_budget=flat_budget)
        return {k: (v.load(mmap=False) if isinstance(v, Raster) else v) for k, v in res.items()}


def compute_terrain_tiled(z: np.ndarray, transform, crs, lakes: np.ndarray | None = None, tile: int = 1024,
                          workdir=None, progress=None, lang=None):
    """The :class:`~gis_planner.hazards.susceptibility.Terrain` of a large DEM from the tiled kernels.

    Rasters are memory-mapped from files in a temporary folder (``workdir``, default
    :func:`~gis_planner.hazards.mapped.default_dir`: on disk, not a RAM tmpfs; removed when the Terrain is
    garbage collected). The receivers/topological order that the zone rules need are built in memory from
    the D8 raster (8 bytes a cell) when a rule first asks for them (``Terrain.rec``/``order``)."""
    from ..i18n import t
    from .susceptibility import Terrain, _Steps, metric_grid

    steps = _Steps(progress)
    z, crs = metric_grid(z, crs)
    from .mapped import default_dir

    tmp = tempfile.mkdtemp(prefix="gis_planner_tiled_", dir=default_dir() if workdir is None else workdir)
    terr = Terrain(dem=z, transform=transform, crs=crs)
    weakref.finalize(terr, shutil.rmtree, tmp, True)
    terr.lakes = np.zeros(z.shape, bool) if lakes is None else (np.asarray(lakes, bool) & np.isfinite(z))
    dem, _, _ = dem_to_raster(z, tmp)
    out_r = None
    if terr.lakes.any():
        out_r = Raster(Path(tmp) / "outlets.bin", z.shape, np.bool_)
        out_r.write(0, 0, terr.lakes)
    names = {"slope": "hazards.step.slope", "fill": "hazards.step.fill",
             "flow_direction": "hazards.step.flow_direction", "flow_accumulation": "hazards.step.flow_accumulation",
             "done": "hazards.step.terrain_done"}
    res = run_tiled(dem, terr.xres, terr.yres, tmp, tile, out_r,
                    progress=lambda f, m: steps(f * 0.9, t(names[m], lang)))
    terr.slope, terr.profile, terr.plan = (res[k].load() for k in ("slope", "profile", "plan"))
    terr.filled, terr.fdir, terr.acc = (res[k].load() for k in ("filled", "fdir", "acc"))
    terr.extra["tiled"] = {"tile": int(tile), "flat_passes": int(res["flat_passes"])}
    steps(1.0, t("hazards.step.terrain_done", lang))
    return terr
