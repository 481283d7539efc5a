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
  :func:`terrain.fill_depressions` exactly (tests).
- **D8** — as :func:`terrain.flow_direction_d8` (same arithmetic) on every cell with a lower
  neighbour. **Flats** (cells with no lower neighbour after filling that are not outlets) drain
  towards the nearest cell of the flat that has a lower neighbour (breadth-first distance within the
  equal-elevation flat, Garbrecht & Martz 1997, "gradient towards lower terrain"; ties: first
  neighbour in the order E, SE, S, SW, W, NW, N, NE). The distance crosses tile edges by repeated
  passes until nothing changes. The in-core path routes flats along the priority-flood order instead
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
    """A 2-D raster in a raw row-major file, read and written by windows with ``pread``/``pwrite``
    row by row (no memory map during the work, so nothing of the file counts in the process's
    memory: only the window copied)."""

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
        """Window ``[r0:r1, c0:c1]``; parts outside the grid are ``pad``."""
        rows, cols = self.shape
        out = np.empty((r1 - r0, c1 - c0), dtype=self.dtype)
        if pad is not None:
            out[...] = pad
        a0, a1, b0, b1 = max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)
        size = self.dtype.itemsize
        for r in range(a0, a1):
            row = out[r - r0, b0 - c0:b1 - c0]
            if os.preadv(self._fd, [memoryview(row).cast("B")], (r * cols + b0) * size) != row.nbytes:
                raise OSError(f"short read from {self.path}")
        return out

    def write(self, r0, c0, arr):
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
    seeds). The spill graph only needs each label's cells to be flooded from its seed."""
    lab = np.zeros(z.shape, dtype=np.int32)
    f, _, _ = T._fill_zhou(np.ascontiguousarray(z, dtype=np.float64), gseed, False, lab)
    return f, lab


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


@nb.njit(cache=True)
def _tile_edges(f, lab, zh, gseed, r0, c0, rows, cols):
    """Spill-graph edges of one tile as global label ids (ocean 1, perimeter cell ``gid + 2``).

    Each unordered pair of 8-neighbours is seen once (forward directions E, SE, S, SW from the cell
    of this tile). Perimeter cells that are global seeds get an edge to the ocean at their elevation."""
    h, w = f.shape
    cap = 8 * (h + w) + 16
    ea = np.empty(cap, dtype=np.int64)
    eb = np.empty(cap, dtype=np.int64)
    ew = np.empty(cap, dtype=np.float64)
    m = 0
    for r in range(h):
        for c in range(w):
            la = lab[r, c]
            if la == 0:
                continue
            ga = 1 if la == 1 else (r0 + (la - 2) // w) * cols + c0 + (la - 2) % w + 2
            if gseed[r, c] and (r == 0 or c == 0 or r == h - 1 or c == w - 1):
                if m + 1 >= ea.shape[0]:
                    ea, eb, ew = _grow(ea, eb, ew, m)
                ea[m] = ga
                eb[m] = 1
                ew[m] = f[r, c]
                m += 1
            for k in range(4):  # E, SE, S, SW
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if r0 + rr < 0 or r0 + rr >= rows or c0 + cc < 0 or c0 + cc >= cols:
                    continue
                if 0 <= rr < h and 0 <= cc < w:
                    lb = lab[rr, cc]
                    if lb == 0 or lb == la:
                        continue
                    gb = 1 if lb == 1 else (r0 + (lb - 2) // w) * cols + c0 + (lb - 2) % w + 2
                    wgt = max(f[r, c], f[rr, cc])
                else:
                    zb = zh[rr + 1, cc + 1]
                    if math.isnan(zb):
                        continue
                    gb = (r0 + rr) * cols + c0 + cc + 2
                    wgt = max(f[r, c], zb)
                if m + 1 >= ea.shape[0]:
                    ea, eb, ew = _grow(ea, eb, ew, m)
                if ga < gb:
                    ea[m] = ga
                    eb[m] = gb
                else:
                    ea[m] = gb
                    eb[m] = ga
                ew[m] = wgt
                m += 1
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


def _label_gids(lab, r0, c0, w, cols):
    out = np.where(lab == 1, 1, 0).astype(np.int64)
    p = lab >= 2
    li = lab[p].astype(np.int64) - 2
    out[p] = (r0 + li // w) * cols + c0 + li % w + 2
    return out


def tiled_fill(dem: Raster, outlets: Raster | None, workdir, tile: int) -> Raster:
    """Priority-flood fill by tiles (Barnes 2016); returns the filled raster (float64)."""
    rows, cols = dem.shape
    workdir = Path(workdir)
    filled = Raster(workdir / "filled.bin", dem.shape, np.float64)
    labels = Raster(workdir / "fill_labels.bin", dem.shape, np.int32)
    edges = []
    for r0, r1, c0, c1 in _tiles(dem.shape, tile):
        zh = dem.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        out = outlets.read(r0, r1, c0, c1) if outlets is not None else np.zeros((r1 - r0, c1 - c0), bool)
        z = np.ascontiguousarray(zh[1:-1, 1:-1])
        gseed = _global_seeds(zh, out)
        f, lab = _flood_tile(z, gseed)
        edges.append(_reduce_edges(*_tile_edges(f, lab, zh, gseed, r0, c0, rows, cols)))
        filled.write(r0, c0, f)
        labels.write(r0, c0, lab)
        del zh, z, f, lab, gseed
    ea = np.concatenate([e[0] for e in edges] + [np.zeros(0, np.int64)])
    eb = np.concatenate([e[1] for e in edges] + [np.zeros(0, np.int64)])
    ew = np.concatenate([e[2] for e in edges] + [np.zeros(0, np.float64)])
    del edges
    ea, eb, ew = _reduce_edges(ea, eb, ew)
    nodes = np.unique(np.concatenate([ea, eb, np.array([1], np.int64)]))
    spill = _spill_graph(nodes.size, np.searchsorted(nodes, ea), np.searchsorted(nodes, eb), ew,
                         int(np.searchsorted(nodes, 1)))
    del ea, eb, ew
    for r0, r1, c0, c1 in _tiles(dem.shape, tile):
        f = filled.read(r0, r1, c0, c1)
        lab = labels.read(r0, r1, c0, c1)
        g = _label_gids(lab, r0, c0, c1 - c0, cols)
        ok = g > 0
        idx = np.searchsorted(nodes, g[ok])
        idx = np.minimum(idx, nodes.size - 1)
        sp = np.where(nodes[idx] == g[ok], spill[idx], -np.inf)  # a label alone (no edge): keeps its fill
        f[ok] = np.maximum(f[ok], sp)
        filled.write(r0, c0, f)
    labels.path.unlink()
    return filled


# ----------------------------------------------------------------------------- flats and D8
@nb.njit(cache=True)
def _flat_init(Fh, gseed):
    """Distance seed of the tile interior: 0 where a cell has a lower neighbour or is an outlet
    (an exit of any flat), ``INF`` on flat cells, -1 on nodata."""
    h, w = Fh.shape[0] - 2, Fh.shape[1] - 2
    d = np.empty((h, w), dtype=np.int32)
    for r in range(h):
        for c in range(w):
            v = Fh[r + 1, c + 1]
            if math.isnan(v):
                d[r, c] = -1
                continue
            low = gseed[r, c] or _has_lower(Fh, r + 1, c + 1)   # the halo holds every neighbour
            d[r, c] = 0 if low else INF_DIST
    return d


@nb.njit(cache=True)
def _flat_bfs(Fh, dh):
    """Relax flat distances of the tile interior from its own exits and the halo (``dh`` has a
    one-cell halo). Breadth-first search merged with the seeds sorted by distance, so cells are
    settled in non-decreasing distance (each at most once). Returns True if any distance changed."""
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
    return changed


@nb.njit(cache=True)
def _resolve_flats(steep, Fh, dh, gseed, outlets):
    """D8 of the tile interior from ``steep`` (the steepest-descent directions of :func:`terrain._d8`
    on the halo'd tile, -1 where no neighbour is lower): flat cells towards the neighbour one step
    nearer the flat's exit; outlets and flat global seeds -1."""
    h, w = gseed.shape
    out = np.empty((h, w), dtype=np.int8)
    for r in range(h):
        for c in range(w):
            bk = steep[r + 1, c + 1]
            v = Fh[r + 1, c + 1]
            if bk == NO_OUTFLOW and not gseed[r, c]:
                d = dh[r + 1, c + 1]
                for k in range(8):
                    rr = r + 1 + D8_DR[k]
                    cc = c + 1 + D8_DC[k]
                    if Fh[rr, cc] == v and dh[rr, cc] == d - 1:
                        bk = k
                        break
            if outlets[r, c] and bk != NODATA_DIR:
                bk = NO_OUTFLOW
            out[r, c] = bk
    return out


def tiled_flow_direction(filled: Raster, dem: Raster, outlets: Raster | None, xres, yres, workdir,
                         tile: int, max_passes: int = 10_000) -> tuple[Raster, int]:
    """D8 with flats resolved by distance to their exit, by tiles. Returns ``(fdir, passes)``."""
    workdir = Path(workdir)
    shape = filled.shape
    dist = Raster(workdir / "flat_dist.bin", shape, np.int32)

    def seeds(r0, r1, c0, c1):
        zh = dem.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        out = outlets.read(r0, r1, c0, c1) if outlets is not None else np.zeros((r1 - r0, c1 - c0), bool)
        return _global_seeds(zh, out), out

    boxes = list(_tiles(shape, tile))
    flat_tiles = set()
    for t, (r0, r1, c0, c1) in enumerate(boxes):
        Fh = filled.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        d = _flat_init(Fh, seeds(r0, r1, c0, c1)[0])
        if (d == INF_DIST).any():
            flat_tiles.add(t)
        dist.write(r0, c0, d)
    # relax the tiles with flat cells; a tile whose distances changed makes its neighbours run again
    ntc = -(-shape[1] // tile)
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
            if _flat_bfs(Fh, dh):
                dist.write(r0, c0, dh[1:-1, 1:-1])
                tr, tc = divmod(t, ntc)
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        u = (tr + dr) * ntc + tc + dc
                        if (dr or dc) and 0 <= tc + dc < ntc and u in flat_tiles:
                            dirty.add(u)
    if dirty:
        raise RuntimeError(f"flat distances did not settle in {max_passes} passes")
    fdir = Raster(workdir / "fdir.bin", shape, np.int8)
    for r0, r1, c0, c1 in boxes:
        Fh = filled.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=np.nan)
        dh = dist.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=-1)
        gseed, out = seeds(r0, r1, c0, c1)
        steep = T._d8(Fh, np.full(Fh.shape, NO_OUTFLOW, np.int8), abs(float(xres)), abs(float(yres)))
        fdir.write(r0, c0, _resolve_flats(steep, Fh, dh, gseed, out))
    dist.path.unlink()
    return fdir, passes


# ----------------------------------------------------------------------------- accumulation (Barnes 2017)
@nb.njit(cache=True)
def _tile_links(fh, rec, order, r0, c0, cols):
    """Perimeter links of one tile: for each valid perimeter cell its global id and where its flow
    goes next: the first perimeter cell downstream in the tile (kind 0), the receiver in the
    neighbouring tile (kind 1), or nowhere (kind -1)."""
    H, W = fh.shape
    h, w = H - 2, W - 2
    nxt = np.full(h * w, -1, dtype=np.int64)
    for t in range(order.shape[0] - 1, -1, -1):  # downstream first
        i = order[t]
        j = rec[i]
        if j >= 0:
            rj = j // w
            cj = j - rj * w
            if rj == 0 or cj == 0 or rj == h - 1 or cj == w - 1:
                nxt[i] = j
            else:
                nxt[i] = nxt[j]
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
                    if nxt[i] >= 0:
                        j = nxt[i]
                        kind[n] = 0
                        tgt[n] = (r0 + j // w) * cols + c0 + j % w
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


def _local_accumulation(fdir_tile, weights=None):
    rec = T._receivers(fdir_tile)
    order, valid = T._topological(fdir_tile, rec)
    if order.shape[0] != valid:
        raise ValueError("flow directions contain a cycle")
    w = np.empty(0) if weights is None else weights   # empty: unit weights
    return T._accumulate(order, rec, w, fdir_tile.size), rec, order


def tiled_accumulation(fdir: Raster, workdir, tile: int) -> Raster:
    """Upstream cell count by tiles (Barnes 2017), float64, NaN on nodata."""
    rows, cols = fdir.shape
    parts = []
    for r0, r1, c0, c1 in _tiles(fdir.shape, tile):
        fh = fdir.read(r0 - 1, r1 + 1, c0 - 1, c1 + 1, pad=NODATA_DIR)
        ft = np.ascontiguousarray(fh[1:-1, 1:-1])
        acc, rec, order = _local_accumulation(ft)
        gid, tgt, kind, loc = _tile_links(fh, rec, order, r0, c0, cols)
        parts.append((gid, tgt, kind, acc[loc]))
        del fh, ft, acc, rec, order
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
        ft = fdir.read(r0, r1, c0, c1)
        w = np.ones(ft.size)
        lo, hi = np.searchsorted(gid, [r0 * cols, (r1 - 1) * cols + c1])
        g = gid[lo:hi]
        rr, cc = g // cols, g % cols
        inside = (cc >= c0) & (cc < c1)
        w[(rr[inside] - r0) * (c1 - c0) + (cc[inside] - c0)] += ext[lo:hi][inside]
        acc, _, _ = _local_accumulation(np.ascontiguousarray(ft), w)
        acc = acc.reshape(ft.shape)
        acc[ft == NODATA_DIR] = np.nan
        out.write(r0, c0, acc)
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
        zh = dem.read(a0, a1, b0, b1)
        win = (slice(r0 - a0, r1 - a0), slice(c0 - b0, c1 - b0))
        s, _ = T.slope_aspect(zh, xres, yres, edges="linear", aspect=False)
        slope.write(r0, c0, s[win])
        p, q = T.curvature(zh, xres, yres, edges="linear")
        prof.write(r0, c0, p[win])
        plan.write(r0, c0, q[win])
    return slope, prof, plan


# ----------------------------------------------------------------------------- drivers
def dem_to_raster(z_or_path, workdir, block_rows: int = 256) -> tuple[Raster, object, object]:
    """The DEM as a float64 file raster (NaN nodata), from an array or streamed from a GeoTIFF by
    row blocks. Returns ``(raster, transform, crs)`` (``None`` for an array)."""
    workdir = Path(workdir)
    if isinstance(z_or_path, np.ndarray):
        z = z_or_path
        r = Raster(workdir / "dem.bin", z.shape, np.float64)
        for r0 in range(0, z.shape[0], block_rows):
            r.write(r0, 0, np.asarray(z[r0:r0 + block_rows], dtype=np.float64))
        return r, None, None
    import rasterio
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=16), rasterio.open(z_or_path) as ds:  # 16 MB block cache, not 5 % of RAM
        r = Raster(workdir / "dem.bin", (ds.height, ds.width), np.float64)
        for r0 in range(0, ds.height, block_rows):
            n = min(block_rows, ds.height - r0)
            block = ds.read(1, window=Window(0, r0, ds.width, n))
            r.write(r0, 0, T.as_float_dem(block, ds.nodata).astype(np.float64))
        return r, ds.transform, ds.crs


def run_tiled(dem: Raster, xres, yres, workdir, tile: int = 1024, outlets: Raster | None = None,
              slope: bool = True, progress=None) -> dict:
    """The whole tiled terrain pipeline on file rasters; returns ``{name: Raster}`` and ``flat_passes``."""
    step = progress or (lambda f, m: None)
    out = {}
    if slope:
        step(0.0, "slope")
        out["slope"], out["profile"], out["plan"] = tiled_slope_curvature(dem, xres, yres, workdir, tile)
    step(0.3, "fill")
    out["filled"] = tiled_fill(dem, outlets, workdir, tile)
    step(0.6, "flow_direction")
    out["fdir"], out["flat_passes"] = tiled_flow_direction(out["filled"], dem, outlets, xres, yres, workdir, tile)
    step(0.75, "flow_accumulation")
    out["acc"] = tiled_accumulation(out["fdir"], workdir, tile)
    step(1.0, "done")
    return out


def tiled_hydrology(z: np.ndarray, xres, yres, tile: int = 1024, outlets: np.ndarray | None = None,
                    slope: bool = False, workdir=None) -> dict:
    """Convenience for arrays (tests, small grids): the tiled pipeline, results as in-memory arrays."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        dem, _, _ = dem_to_raster(np.asarray(z, dtype=np.float64), tmp)
        out_r = None
        if outlets is not None:
            out_r = Raster(Path(tmp) / "outlets.bin", dem.shape, np.bool_)
            out_r.write(0, 0, np.asarray(outlets, dtype=bool))
        res = run_tiled(dem, xres, yres, tmp, tile, out_r, slope=slope)
        return {k: (v.load(mmap=False) if isinstance(v, Raster) else v) for k, v in res.items()}


def compute_terrain_tiled(z: np.ndarray, transform, crs, lakes: np.ndarray | None = None, tile: int = 1024,
                          workdir=None, progress=None, lang=None):
    """The :class:`~gis_planner.hazards.susceptibility.Terrain` of a large DEM from the tiled kernels.

    Rasters are memory-mapped from files in a temporary folder (removed when the Terrain is garbage
    collected). The receivers/topological order that the zone rules need are built in memory from
    the D8 raster (16 bytes a cell)."""
    from ..i18n import t
    from .susceptibility import Terrain, _Steps, metric_grid

    steps = _Steps(progress)
    z, crs = metric_grid(z, crs)
    tmp = tempfile.mkdtemp(prefix="gis_planner_tiled_", dir=workdir)
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
    terr.rec, terr.order = T.flow_order(np.asarray(terr.fdir))
    terr.extra["tiled"] = {"tile": int(tile), "flat_passes": int(res["flat_passes"])}
    steps(1.0, t("hazards.step.terrain_done", lang))
    return terr
