"""Terrain kernels: array functions on a DEM grid (numpy + numba), testable on tiny arrays.

Every function takes a 2-D elevation array in a **metric** CRS (north-up, square or rectangular
cells), with nodata given as ``NaN`` (use :func:`as_float_dem` to convert a raster's nodata value).
Cells are addressed ``[row, col]``; row 0 is the northern edge.

Kernels
-------
- :func:`slope_aspect` — Horn (1981) 3×3 slope and aspect, exactly as ``gdaldem slope/aspect``
  (same edge and nodata handling: edges and cells next to nodata are nodata unless ``edges=True``,
  which is ``-compute_edges``).
- :func:`fill_depressions` — priority-flood (Barnes, Lehman & Mulla 2014, with the pit queue):
  depressions are raised to their spill level; also returns the flat-resolving flood directions.
- :func:`flow_direction_d8` — D8 steepest descent (O'Callaghan & Mark 1984) on the filled DEM;
  flats drain along the flood order towards their spill point, so every cell drains to an outlet.
- :func:`flow_accumulation` — upstream cell count (or weighted sum) along D8, topological order.
- :func:`stream_network` — cells whose upstream area reaches a threshold.
- :func:`height_above_drainage` — HAND (Rennó et al. 2008; Nobre et al. 2011).
- :func:`curvature` — profile and plan curvature (Zevenbergen & Thorne 1987 derivatives).
- :func:`runout_alpha` — energy-line runout along D8 paths (alpha-angle model, Lied & Bakkehøi 1980).

D8 directions are ``int8`` indices into :data:`D8_OFFSETS` (0=E, 1=SE, 2=S, 3=SW, 4=W, 5=NW, 6=N,
7=NE); ``-1`` means "no outflow" (an outlet: the grid edge, a lake, or a cell next to nodata) and
``-2`` marks nodata. :func:`d8_to_esri` converts to the ESRI/GRASS power-of-two codes.

Example
-------
>>> import numpy as np
>>> z = np.add.outer(np.arange(5.0) * 10, np.zeros(5))   # rises 10 m per 10 m cell southwards
>>> s, a = slope_aspect(z, 10.0, 10.0)
>>> round(float(s[2, 2]), 6), round(float(a[2, 2]), 6)   # 45°, facing north
(45.0, 0.0)
"""
from __future__ import annotations

import math
import os

import sys

import numpy as np


def _numba_without_scipy_linalg():
    """Import numba and set up its CPU target without ``scipy.linalg`` (~50 MB of RSS).

    The first dispatch of any ``@njit`` function imports ``numba.np.arraymath``, which imports
    ``scipy.linalg.cython_blas`` only to learn whether ``np.dot``-like functions can be compiled. The
    terrain kernels use no BLAS, so the target is set up here with that import refused once (numba then
    leaves out only ``np.cov``/``np.corrcoef`` etc. in njit code; a later ``np.dot`` in njit code still
    imports scipy itself). Nothing is done when scipy.linalg is already loaded (e.g. in the web app).
    """
    import numba

    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return numba
    key = "scipy.linalg.cython_blas"
    had = key in sys.modules
    saved = sys.modules.get(key)
    sys.modules[key] = None          # import of it raises ImportError, parents untouched
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    except Exception:                # noqa: BLE001 - only a memory saving: numba sets itself up later
        pass
    finally:
        if had:
            sys.modules[key] = saved
        else:
            del sys.modules[key]
    return numba


nb = _numba_without_scipy_linalg()

# neighbour offsets (drow, dcol) in ESRI order: E, SE, S, SW, W, NW, N, NE
D8_DR = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
D8_DC = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
D8_OFFSETS = tuple(zip(D8_DR.tolist(), D8_DC.tolist()))
ESRI_CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.uint8)
NO_OUTFLOW = -1
NODATA_DIR = -2
_OPEN = -3        # in the fill: a cell the flood has not reached yet
_NO_LABELS = np.zeros((0, 0), dtype=np.int32)   # _fill_zhou without labels


from .mapped import sparse_zeros
from .surface import (  # noqa: F401 - numpy-only kernels, re-exported here
    as_float_dem, _BLOCK_ROWS, _workers, _horn_windows, _pad,
    _windows_of_padded, _weighted_difference, _horn_block, _blocked, horn_gradient,
    slope_aspect, curvature, _padded_band, _curvature_band,
)


# ----------------------------------------------------------------------------- priority-flood
@nb.njit(cache=True, inline="always")
def _heap_push(keys, vals, size, k, v):
    """Push ``(k, v)`` on a binary min-heap of ``size`` entries; returns the new size. Sift-up moves
    parents down into a hole: the same comparisons and final layout as swapping, fewer stores."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        kp = keys[parent]
        if kp <= k:
            break
        keys[i] = kp
        vals[i] = vals[parent]
        i = parent
    keys[i] = k
    vals[i] = v
    return size + 1


@nb.njit(cache=True, inline="always")
def _heap_pop(keys, vals, size):
    """Pop the smallest key's value: ``(value, new size)`` (sift-down with a hole, as :func:`_heap_push`)."""
    v = vals[0]
    size -= 1
    if size > 0:
        k = keys[size]
        x = vals[size]
        i = 0
        while True:
            left = 2 * i + 1
            if left >= size:
                break
            m = left
            km = keys[left]
            if left + 1 < size:
                kr = keys[left + 1]
                if kr < km:
                    m = left + 1
                    km = kr
            if k <= km:
                break
            keys[i] = km
            vals[i] = vals[m]
            i = m
        keys[i] = k
        vals[i] = x
    return v, size


@nb.njit(cache=True, inline="always")
def _is_seed(z, outlets, r, c):
    """A valid cell where water leaves the grid: an ``outlets`` cell, on the border or next to nodata."""
    rows, cols = z.shape
    if outlets[r, c] or r == 0 or c == 0 or r == rows - 1 or c == cols - 1:
        return True
    for k in range(8):
        if math.isnan(z[r + D8_DR[k], c + D8_DC[k]]):
            return True
    return False


@nb.njit(cache=True, inline="always")
def _has_lower(z, r, c):
    """Whether one of the 8 neighbours of (r, c) is lower (all 8 inside ``z``; NaN is not lower)."""
    v = z[r, c]
    for k in range(8):
        if z[r + D8_DR[k], c + D8_DC[k]] < v:
            return True
    return False


@nb.njit(cache=True)
def _priority_flood_into(z, outlets, order):
    rows, cols = z.shape
    n = rows * cols
    filled = np.empty((rows, cols), dtype=np.float64)
    flood_dir = np.full((rows, cols), NODATA_DIR, dtype=np.int8)
    closed = np.zeros((rows, cols), dtype=np.bool_)
    # the heap (open cells) and the pit queue hold each cell at most once: n entries, of which only the
    # flood front is touched (resident); not grown (reference counting on every step, see _fill_zhou)
    keys = np.empty(n, dtype=np.float64)
    vals = np.empty(n, dtype=order.dtype)
    pit = np.empty(n, dtype=order.dtype)
    size = 0
    # seeds: valid cells on the border, next to nodata, or marked as outlets (lakes)
    for r in range(rows):
        for c in range(cols):
            v = z[r, c]
            filled[r, c] = v
            if math.isnan(v):
                closed[r, c] = True
                continue
            if _is_seed(z, outlets, r, c):
                closed[r, c] = True
                flood_dir[r, c] = NO_OUTFLOW
                size = _heap_push(keys, vals, size, v, r * cols + c)
    head = 0      # pit queue: a FIFO ring of ``queued`` cells from ``head``
    queued = 0
    count = 0
    while size > 0 or queued > 0:
        if queued > 0:
            idx = pit[head]
            head += 1
            queued -= 1
            if queued == 0:
                head = 0
        else:
            idx, size = _heap_pop(keys, vals, size)
        order[count] = idx
        count += 1
        r = idx // cols
        c = idx - r * cols
        level = filled[r, c]
        for k in range(8):
            rr = r + D8_DR[k]
            cc = c + D8_DC[k]
            if rr < 0 or cc < 0 or rr >= rows or cc >= cols or closed[rr, cc]:
                continue
            closed[rr, cc] = True
            flood_dir[rr, cc] = (k + 4) % 8  # the neighbour drains back towards (r, c)
            if filled[rr, cc] <= level:
                filled[rr, cc] = level
                pit[head + queued] = rr * cols + cc
                queued += 1
            else:
                size = _heap_push(keys, vals, size, filled[rr, cc], rr * cols + cc)
    return filled, flood_dir, count


@nb.njit(cache=True, inline="always")
def _neighbour(i, r, c, k, inner, off, rows, cols):
    """Flat index of neighbour ``k`` of cell ``i`` = (r, c), or -1 outside the grid; ``inner`` cells
    (not on the border) take the fixed offset ``off[k]`` without tests."""
    if inner:
        return i + off[k]
    rr = r + D8_DR[k]
    cc = c + D8_DC[k]
    if rr < 0 or cc < 0 or rr >= rows or cc >= cols:
        return -1
    return rr * cols + cc


@nb.njit(cache=True)
def _fill_zhou_kernel(z, outlets, inplace, lab, proto):
    """:func:`_fill_zhou` on flat indices (queues in ``proto``'s integer type)."""
    track = lab.shape[0] > 0
    rows, cols = z.shape
    n = rows * cols
    filled = z if inplace else np.empty((rows, cols), dtype=z.dtype)
    flood_dir = np.full((rows, cols), _OPEN, dtype=np.int8)
    F = filled.ravel()      # flat views: neighbours of inner cells at fixed offsets, no bounds tests
    D = flood_dir.ravel()
    L = lab.ravel()
    raised = 0   # also the closed mark: open cells are _OPEN
    # the heap and the queues hold every cell at most once: n entries, never grown (an array variable
    # reassigned in the loop costs atomic reference counting on every iteration), and only the part a
    # flood front uses is ever touched (resident): the pit and trace queues restart at 0 when empty
    keys = np.empty(n, dtype=z.dtype)
    vals = np.empty(n, dtype=proto.dtype)
    pit = np.empty(n, dtype=proto.dtype)
    trace = np.empty(n, dtype=proto.dtype)
    off = np.empty(8, dtype=np.int64)
    back = np.empty(8, dtype=np.int8)
    for k in range(8):
        off[k] = D8_DR[k] * cols + D8_DC[k]
        back[k] = (k + 4) % 8   # the neighbour drains back towards the cell
    size = 0
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            v = z[r, c]
            F[i] = v
            if math.isnan(v):
                D[i] = NODATA_DIR
                continue
            if _is_seed(z, outlets, r, c):
                D[i] = NO_OUTFLOW
                if track:
                    L[i] = 2 + i if (r == 0 or c == 0 or r == rows - 1 or c == cols - 1) else 1
                size = _heap_push(keys, vals, size, v, i)
    head = 0
    queued = 0
    while size > 0 or queued > 0:
        if queued > 0:
            idx = np.int64(pit[head])
            level = F[idx]
            head += 1
            queued -= 1
            if queued == 0:
                head = 0
        else:
            level = keys[0]       # the cell's filled elevation (no read of the grid)
            iv, size = _heap_pop(keys, vals, size)
            idx = np.int64(iv)
        r = idx // cols
        c = idx - r * cols
        inner = r > 0 and c > 0 and r < rows - 1 and c < cols - 1
        for k in range(8):
            j2 = _neighbour(idx, r, c, k, inner, off, rows, cols)
            if j2 < 0 or D[j2] != _OPEN:
                continue
            D[j2] = back[k]
            if track:
                L[j2] = L[idx]
            f2 = F[j2]
            if f2 <= level:
                if f2 < level:
                    raised += 1
                F[j2] = level
                pit[head + queued] = j2
                queued += 1
                continue
            # above the flood level: trace uphill and level ground by a plain queue
            trace[0] = j2      # the trace is empty here: it starts at 0
            t_head = 0
            t_count = 1
            while t_count > 0:
                j = np.int64(trace[t_head])
                t_head += 1
                t_count -= 1
                rj = j // cols
                cj = j - rj * cols
                vj = F[j]
                jin = rj > 0 and cj > 0 and rj < rows - 1 and cj < cols - 1
                boundary = False
                for kk in range(8):
                    q = _neighbour(j, rj, cj, kk, jin, off, rows, cols)
                    if q < 0 or D[q] != _OPEN:
                        continue
                    fq = F[q]
                    if fq >= vj:
                        D[q] = back[kk]
                        if track:
                            L[q] = L[j]
                        trace[t_head + t_count] = q
                        t_count += 1
                    elif not boundary:
                        # Zhou et al.'s test of a true depression boundary: a closed neighbour of q at or
                        # below it is still queued and will reach q at a level no higher than any traced
                        # cell above q could, so j need not enter the priority queue
                        below = False
                        r2 = rj + D8_DR[kk]
                        c2 = cj + D8_DC[kk]
                        qin = r2 > 0 and c2 > 0 and r2 < rows - 1 and c2 < cols - 1
                        for k3 in range(8):
                            s = _neighbour(q, r2, c2, k3, qin, off, rows, cols)
                            if s >= 0 and D[s] != _OPEN and F[s] <= fq:   # NaN is not <= fq
                                below = True
                                break
                        if not below:
                            boundary = True      # a lower open neighbour: flood it in priority order
                            size = _heap_push(keys, vals, size, vj, j)
    return filled, flood_dir, raised


def _fill_zhou(z, outlets, inplace, lab):
    """Priority-flood with the priority queue on depression boundaries only (Zhou, Sun & Fu 2016).

    As :func:`_priority_flood_into`, but a cell reached above the flood level is not put in the priority
    queue: its filled elevation is its own (a path to it never rises above it), and so is that of every
    cell reached from it uphill or level, so these cells are closed by a plain FIFO queue (the "trace").
    A traced cell with a lower open neighbour is the boundary of a depression: it alone goes into the
    priority queue, at its elevation, and floods that neighbour in priority order. Cells inside
    depressions are raised by the pit queue as before. The filled elevations are those of the strict
    priority-flood (tests); ``flood_dir`` again points to the cell each cell was reached from (another
    valid drainage route across flats). ``filled`` keeps the dtype of ``z`` (float32 stays float32).

    ``inplace``: ``z`` itself becomes the filled DEM. ``lab``: an int32 grid of zeros to label each cell
    with the seed its flood came from (``2 + flat index`` for seeds on the grid's border, ``1`` for the
    others; the tiled fill, Barnes 2016), or an empty ``(0, 0)`` array. Returns ``(filled, flood_dir,
    number of raised cells)``. The kernel works on flat indices (inner cells' neighbours at fixed
    offsets) with queues of :func:`index_dtype`; its visiting order is that of the 2-D version before
    it, so the outputs are bit-identical to it.
    """
    return _fill_zhou_kernel(z, outlets, inplace, lab, np.empty(0, dtype=index_dtype(z.size)))


def _priority_flood(z, outlets):
    """``(filled, flood_dir, order)``; ``order`` (flood order, flat indices) in :func:`index_dtype`."""
    order = np.empty(z.size, dtype=index_dtype(z.size))
    filled, flood_dir, count = _priority_flood_into(z, outlets, order)
    return filled, flood_dir, order[:count]


def fill_depressions(z: np.ndarray, outlets: np.ndarray | None = None, return_order: bool = False):
    """Fill depressions by priority-flood: every cell is raised to its spill level.

    Every cell is raised to the lowest level at which water could leave the grid (through the
    border, a cell next to nodata, or an ``outlets`` cell such as a lake surface). The flood is the
    efficient variant of Zhou, Sun & Fu (2016, Comput. Geosci. 90:87): a priority queue only on the
    boundaries of depressions, plain queues inside depressions and on slopes. With ``return_order`` it
    is the strict priority-flood of Barnes, Lehman & Mulla (2014, with the pit queue), which also gives
    the flood order. Both give the same filled elevations (bit for bit); their ``flood_dir`` may differ
    on flats and filled pits (two valid drainage routes).

    Parameters
    ----------
    z : 2-D array, NaN for nodata
        float32 stays float32 (the filled values are elevations of ``z``: nothing is rounded); other
        types are filled in float64.
    outlets : bool array, optional
        Cells that take water out of the system (lakes of closed basins like Issyk-Kul): they are
        not filled and their surroundings drain into them.
    return_order : bool
        Also return the flood order (strict priority-flood; ~4 bytes a cell more).

    Returns
    -------
    filled : float32 or float64 array, as ``z`` (NaN where ``z`` is NaN)
    flood_dir : int8 array
        For each cell, the D8 direction towards the cell it was reached from by the flood
        (``-1`` for seeds, ``-2`` for nodata): the drainage route across flats and filled pits.
    order : int32 array (int64 for grids of 2**31 cells or more), or ``None`` without ``return_order``
        Flat indices in the order the flood reached them (non-decreasing filled elevation).

    Examples
    --------
    >>> z = np.full((5, 5), 10.0); z[2, 2] = 1.0; z[1:4, 1:4][z[1:4, 1:4] == 10] = 5.0
    >>> z[0, 2] = 4.0                      # spill point on the border at 4 m
    >>> float(fill_depressions(z)[0][2, 2])
    5.0
    """
    z = np.asarray(z)
    z = np.ascontiguousarray(z, dtype=np.float32 if z.dtype == np.float32 else np.float64)
    if z.ndim != 2:
        raise ValueError("the DEM must be a 2-D array")
    if outlets is None:
        outlets = np.zeros(z.shape, dtype=np.bool_)
    else:
        outlets = np.ascontiguousarray(outlets, dtype=np.bool_)
    if return_order:
        filled, flood_dir, order = _priority_flood(z, outlets)
        return filled.astype(z.dtype, copy=False), flood_dir, order
    filled, flood_dir, _ = _fill_zhou(z, outlets, False, _NO_LABELS)
    return filled, flood_dir, None


# ----------------------------------------------------------------------------- D8 direction
@nb.njit(cache=True)
def _d8_into(filled, flood_dir, xres, yres, out):
    rows, cols = filled.shape
    F = filled.ravel()
    O = out.ravel()
    FD = flood_dir.ravel()
    dist = np.empty(8, dtype=np.float64)
    off = np.empty(8, dtype=np.int64)
    diag = math.sqrt(xres * xres + yres * yres)
    for k in range(8):
        off[k] = D8_DR[k] * cols + D8_DC[k]
        if D8_DR[k] == 0:
            dist[k] = xres
        elif D8_DC[k] == 0:
            dist[k] = yres
        else:
            dist[k] = diag
    for r in range(rows):
        inner_row = r > 0 and r < rows - 1
        for c in range(cols):
            i = r * cols + c
            v = np.float64(F[i])   # float64 differences: the same directions for float32 input
            if math.isnan(v):
                O[i] = NODATA_DIR
                continue
            best = 0.0
            bk = -1
            inner = inner_row and c > 0 and c < cols - 1
            for k in range(8):
                j = _neighbour(i, r, c, k, inner, off, rows, cols)
                if j < 0:
                    continue
                w = np.float64(F[j])
                if w < v:             # only a lower neighbour can give a drop > 0 (NaN is not lower)
                    drop = (v - w) / dist[k]
                    if drop > best:
                        best = drop
                        bk = k
            O[i] = bk if bk >= 0 else FD[i]


@nb.njit(cache=True)
def _d8(filled, flood_dir, xres, yres):
    """D8 indices of a filled grid, ``flood_dir`` where no neighbour is lower (flat index loop)."""
    out = np.empty(filled.shape, dtype=np.int8)
    _d8_into(filled, flood_dir, xres, yres, out)
    return out


def flow_direction_d8(filled: np.ndarray, xres: float, yres: float,
                      flood_dir: np.ndarray | None = None, outlets: np.ndarray | None = None) -> np.ndarray:
    """D8 steepest-descent flow direction on a depression-filled DEM.

    The steepest drop (elevation difference / centre distance, diagonals ``√(dx²+dy²)``) wins.
    Cells with no lower neighbour (flats, filled pits) follow the priority-flood route
    ``flood_dir`` towards their spill point; without it they get ``-1``. Outlet cells (lakes)
    always get ``-1``. The result has no cycles, so every cell drains to an outlet.

    Examples
    --------
    >>> z = np.array([[3., 2., 1.]] * 3)
    >>> flow_direction_d8(z, 1, 1)[1].tolist()   # east (0) except the eastern edge (outlet)
    [0, 0, -1]
    """
    filled = np.asarray(filled)
    filled = np.ascontiguousarray(filled, dtype=np.float32 if filled.dtype == np.float32 else np.float64)
    if flood_dir is None:
        flood_dir = np.where(np.isnan(filled), np.int8(NODATA_DIR), np.int8(NO_OUTFLOW))   # int8: no int64 temporary
    out = _d8(filled, np.ascontiguousarray(flood_dir, dtype=np.int8), abs(float(xres)), abs(float(yres)))
    if outlets is not None:
        out[np.asarray(outlets, dtype=bool) & (out != NODATA_DIR)] = NO_OUTFLOW
    return out


def d8_to_esri(fdir: np.ndarray) -> np.ndarray:
    """D8 indices to ESRI/GRASS codes (1=E, 2=SE, 4=S, … 128=NE; 0 = no outflow or nodata)."""
    out = np.zeros(fdir.shape, dtype=np.uint8)
    ok = fdir >= 0
    out[ok] = ESRI_CODES[fdir[ok]]
    return out


# ----------------------------------------------------------------------------- accumulation
def index_dtype(n: int):
    """The integer type of flat cell indices of a grid of ``n`` cells: int32 below 2**31 cells (half the
    memory of the receiver and order arrays, 8 bytes a cell), int64 above."""
    return np.int32 if n < 2 ** 31 - 1 else np.int64


@nb.njit(cache=True)
def _receivers_into(fdir, rec):
    rows, cols = fdir.shape
    for r in range(rows):
        for c in range(cols):
            rec[r * cols + c] = -1
            k = fdir[r, c]
            if k >= 0:
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 0 <= rr < rows and 0 <= cc < cols and fdir[rr, cc] != NODATA_DIR:
                    rec[r * cols + c] = rr * cols + cc


def _receivers(fdir):
    """Flat index of the receiver of each cell (-1 for none), in :func:`index_dtype`."""
    rec = np.empty(fdir.size, dtype=index_dtype(fdir.size))
    _receivers_into(fdir, rec)
    return rec


@nb.njit(cache=True)
def _topological_into(fdir, rec, order):
    n = rec.shape[0]
    indeg = np.zeros(n, dtype=np.uint8)      # at most 8 donors
    valid = 0
    for i in range(n):
        if rec[i] >= 0:
            indeg[rec[i]] += 1
    head = 0
    tail = 0
    flat = fdir.ravel()
    for i in range(n):
        if flat[i] != NODATA_DIR:
            valid += 1
            if indeg[i] == 0:
                order[tail] = i
                tail += 1
    while head < tail:
        i = order[head]
        head += 1
        j = rec[i]
        if j >= 0:
            indeg[j] -= 1
            if indeg[j] == 0:
                order[tail] = j
                tail += 1
    return tail, valid


def _topological(fdir, rec):
    """Upstream-first order of the valid cells that drain (Kahn) and the number of valid cells."""
    order = np.empty(rec.shape[0], dtype=rec.dtype)
    tail, valid = _topological_into(fdir, rec, order)
    return order[:tail], valid


@nb.njit(cache=True)
def _accumulate(order, rec, weights, n):
    """Sum of ``weights`` (each cell 1.0 when ``weights`` is empty: no array of n ones) down ``rec``."""
    acc = np.zeros(n, dtype=np.float64)
    unit = weights.shape[0] == 0
    for t in range(order.shape[0]):
        i = order[t]
        acc[i] += 1.0 if unit else weights[i]
        j = rec[i]
        if j >= 0:
            acc[j] += acc[i]
    return acc


@nb.njit(cache=True)
def _accumulate_unit(fdir):
    """Upstream cell counts along D8 without receiver or order arrays (n float64 + n uint8).

    In-degrees are counted in a ``uint8`` grid; every cell nothing flows into starts a walk down its
    flow path that adds the cell's count to its receiver and goes on while the receiver has received
    from all its donors (in-degree 0), marking the cells it finishes (255). Returns the counts (NaN on
    nodata), the number of valid cells and the number finished (fewer: a cycle)."""
    rows, cols = fdir.shape
    n = rows * cols
    fd = fdir.ravel()
    indeg = np.zeros(n, dtype=np.uint8)
    acc = np.empty(n, dtype=np.float64)
    valid = 0
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            k = fd[i]
            if k == NODATA_DIR:
                acc[i] = np.nan
                continue
            valid += 1
            acc[i] = 1.0
            if k >= 0:
                rr = r + D8_DR[k]
                cc = c + D8_DC[k]
                if 0 <= rr < rows and 0 <= cc < cols and fd[rr * cols + cc] != NODATA_DIR:
                    indeg[rr * cols + cc] += 1
    done = 0
    for i in range(n):
        if indeg[i] != 0 or fd[i] == NODATA_DIR:
            continue
        cur = i
        while True:
            indeg[cur] = 255
            done += 1
            k = fd[cur]
            if k < 0:
                break
            r = cur // cols
            rr = r + D8_DR[k]
            cc = cur - r * cols + D8_DC[k]
            if rr < 0 or cc < 0 or rr >= rows or cc >= cols:
                break
            j = rr * cols + cc
            if fd[j] == NODATA_DIR:
                break
            acc[j] += acc[cur]
            indeg[j] -= 1
            if indeg[j] != 0:
                break
            cur = j
    return acc, valid, done


def flow_order(fdir: np.ndarray):
    """Receiver of each cell (flat index, -1 for none) and an upstream-first topological order.

    Raises ``ValueError`` if the directions contain a cycle.
    """
    fdir = np.ascontiguousarray(fdir, dtype=np.int8)
    rec = _receivers(fdir)
    order, valid = _topological(fdir, rec)
    if order.shape[0] != valid:
        raise ValueError(f"flow directions contain a cycle ({valid - order.shape[0]} cells never drain)")
    return rec, order


def flow_accumulation(fdir: np.ndarray, weights: np.ndarray | None = None, return_order: bool = False):
    """Upstream contributing cells (the cell itself included) along D8 directions.

    Parameters
    ----------
    fdir : int8 array of D8 indices (``-1`` outlet, ``-2`` nodata)
    weights : array, optional
        Per-cell weights to sum instead of counting cells (NaN treated as 0).
    return_order : bool
        Also return ``(receivers, order)`` from :func:`flow_order` for further passes.

    Returns
    -------
    float64 array, NaN on nodata.

    Examples
    --------
    >>> fdir = np.array([[0, 0, -1]], dtype=np.int8)   # three cells draining east
    >>> flow_accumulation(fdir).tolist()
    [[1.0, 2.0, 3.0]]
    """
    fdir = np.ascontiguousarray(fdir, dtype=np.int8)
    if weights is None and not return_order:
        # cell counts: no receiver and order arrays (9 bytes a cell instead of 20-28)
        acc, valid, done = _accumulate_unit(fdir)
        if done != valid:
            raise ValueError(f"flow directions contain a cycle ({valid - done} cells never drain)")
        return acc.reshape(fdir.shape)
    rec, order = flow_order(fdir)
    n = fdir.size
    if weights is None:
        w = np.empty(0, dtype=np.float64)   # unit weights
    else:
        w = np.nan_to_num(np.asarray(weights, dtype=np.float64).ravel(), nan=0.0)
    acc = _accumulate(order, rec, w, n).reshape(fdir.shape)
    acc[fdir == NODATA_DIR] = np.nan
    if return_order:
        return acc, rec, order
    return acc


def stream_network(acc: np.ndarray, threshold_cells: float) -> np.ndarray:
    """Stream cells: flow accumulation at or above ``threshold_cells`` (bool array).

    >>> stream_network(np.array([[1., 5., 9.]]), 5).tolist()
    [[False, True, True]]
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(acc) >= threshold_cells


# ----------------------------------------------------------------------------- HAND
@nb.njit(cache=True)
def _hand(zf, rec, order, drain):
    """``(hand, base)``: the height above the drainage cell each cell's path meets first and that cell
    (``rec``'s index type, -1 and NaN where no path: nodata), in one pass without index temporaries."""
    n = zf.shape[0]
    base = np.full(n, -1, dtype=rec.dtype)
    hand = np.full(n, np.nan, dtype=np.float64)
    for t in range(order.shape[0] - 1, -1, -1):  # downstream first
        i = order[t]
        if drain[i]:
            b = i
        else:
            j = rec[i]
            if j >= 0:
                b = base[j]
            else:
                b = i  # drains off the grid without meeting a stream: its own outlet
        base[i] = b
        if b >= 0:
            hand[i] = np.float64(zf[i]) - np.float64(zf[b])
    return hand, base


def height_above_drainage(filled: np.ndarray, fdir: np.ndarray, drainage: np.ndarray,
                          rec: np.ndarray | None = None, order: np.ndarray | None = None,
                          return_index: bool = False):
    """HAND: height of each cell above the drainage cell its D8 flow path reaches first.

    ``drainage`` marks streams (and lake cells). Cells whose path leaves the grid without meeting
    drainage are measured from the last cell of the path. Heights are taken on the filled DEM, so
    they are never negative. With ``return_index`` also the flat index of that drainage cell
    (-1 on nodata), e.g. to tell lake shores from river banks.

    Examples
    --------
    >>> z = np.array([[3., 2., 1., 0.]])
    >>> fd = flow_direction_d8(z, 1, 1)
    >>> height_above_drainage(z, fd, np.array([[False, False, True, False]])).tolist()
    [[2.0, 1.0, 0.0, 0.0]]
    """
    if rec is None or order is None:
        rec, order = flow_order(fdir)
    zf = np.asarray(filled)
    zf = np.ascontiguousarray(zf, dtype=np.float32 if zf.dtype == np.float32 else np.float64).ravel()
    dr = np.ascontiguousarray(drainage, dtype=np.bool_).ravel()
    hand, base = _hand(zf, rec, order, dr)      # float64 differences also on a float32 surface
    hand = hand.reshape(np.shape(filled))
    if return_index:
        return hand, base.reshape(np.shape(filled))
    return hand


def parts(n: int, release, count: int = 16) -> list[tuple[int, int]]:
    """``(t0, t1)`` ranges covering ``range(n)``: one without ``release``, else ``count`` of them (a pass over
    an order in parts, the memory-mapped inputs released between them: see :class:`~.mapped.MappedStore`).

    >>> parts(5, None), parts(5, print, 2)
    ([(0, 5)], [(0, 3), (3, 5)])
    """
    step = max(1, n if release is None else -(-n // count))
    return [(t0, min(n, t0 + step)) for t0 in range(0, max(n, 1), step)]


@nb.njit(cache=True)
def _hand_classes(zf, rec, order, drain, lakes, t0, t1, base, hand, lv, lake_max, river_max, codes):
    # ``order[t0:t1]`` downstream first (the caller goes from the end of the order down, in parts).
    # As ``_hand`` then ``hand[hand < 0] = 0``, the float32 copy, and per class ``k`` (in turn)
    # ``lv = codes[k]`` where HAND ≤ the lake (cell draining to a lake cell) or river limit, in float64.
    for t in range(t1 - 1, t0 - 1, -1):
        i = order[t]
        if drain[i]:
            b = i
        else:
            j = rec[i]
            b = base[j] if j >= 0 else i
        base[i] = b
        if b >= 0:
            h = np.float64(zf[i]) - np.float64(zf[b])
            if h < 0:
                h = 0.0
            hand[i] = np.float32(h)
            limit = lake_max if lakes[b] else river_max
            for k in range(codes.shape[0]):
                if h <= limit[k]:
                    lv[i] = codes[k]


def hand_classes(filled: np.ndarray, drainage: np.ndarray, lakes: np.ndarray, lake_max, river_max, codes,
                 rec: np.ndarray, order: np.ndarray, release=None):
    """HAND as :func:`height_above_drainage` (negative heights set to 0) in float32, and classes of it:
    ``codes[k]`` (uint8, later classes win) where HAND ≤ ``lake_max[k]`` for cells whose path meets the
    drainage in a ``lakes`` cell, ≤ ``river_max[k]`` elsewhere (compared in float64); 0 elsewhere.
    Returns ``(hand32, classes)``. One pass; ``release`` (e.g. ``Terrain.release``), when given, is called
    after each sixteenth of the order (memory-mapped inputs hold only what one part touches).

    >>> z = np.array([[3., 2., 1., 0.]])
    >>> rec, order = flow_order(flow_direction_d8(z, 1, 1))
    >>> h, c = hand_classes(z, np.array([[False, False, True, False]]), np.zeros((1, 4), bool),
    ...                     [0.5, 1.5], [0.5, 1.5], [1, 2], rec, order)
    >>> h.tolist(), c.tolist()
    ([[2.0, 1.0, 0.0, 0.0]], [[0, 2, 2, 2]])
    """
    shape = np.shape(filled)
    zf = np.asarray(filled)
    zf = np.ascontiguousarray(zf, dtype=np.float32 if zf.dtype == np.float32 else np.float64).ravel()
    dr = np.ascontiguousarray(drainage, dtype=np.bool_).ravel()
    lk = np.ascontiguousarray(lakes, dtype=np.bool_).ravel()
    n = zf.shape[0]
    base = np.full(n, -1, dtype=rec.dtype)
    hand = np.full(n, np.nan, dtype=np.float32)
    lv = np.zeros(n, dtype=np.uint8)
    args = (np.asarray(lake_max, np.float64), np.asarray(river_max, np.float64), np.asarray(codes, np.uint8))
    for t0, t1 in reversed(parts(order.shape[0], release)):         # downstream first
        _hand_classes(zf, rec, order, dr, lk, t0, t1, base, hand, lv, *args)
        if release is not None:
            release()
    return hand.reshape(shape), lv.reshape(shape)


# ----------------------------------------------------------------------------- runout
@nb.njit(cache=True)
def _runout(z, rec, starts, q0, q1, passable, tan_alpha, cols, xres, yres, energy, hit, reach):
    # The energy line of each start cell ``starts[q0:q1]`` walked down its D8 path while it is at or above
    # the ground (Ground = ``z`` where ``passable``, empty: everywhere, else +inf). ``energy`` keeps the
    # highest line that came to a cell (``hit``: set; np.zeros arrays, pages mapped on first write). A
    # walk stops where it comes at or below that: the walk that set it went on with a line at least as
    # high at every cell below (subtraction is monotonic) or stopped there. So a cell ends with the
    # maximum over the reached donors' lines as in an upstream-first pass over the order, in any order
    # of the walks, and a cell is reached when that maximum is at or above its ground.
    every = passable.shape[0] == 0
    diag = math.sqrt(xres * xres + yres * yres)
    for q in range(q0, q1):
        i = starts[q]
        e = np.float64(z[i]) if every or passable[i] else np.inf
        while True:
            if hit[i] and not e > energy[i]:
                break
            energy[i] = e
            hit[i] = 1
            g = np.float64(z[i]) if every or passable[i] else np.inf
            if not e >= g:
                break
            reach[i] = True
            j = rec[i]
            if j < 0:
                break
            ri = i // cols
            rj = j // cols
            if ri == rj:
                d = xres
            elif i - ri * cols == j - rj * cols:
                d = yres
            else:
                d = diag
            e = e - tan_alpha * d
            i = j


def runout_alpha(z: np.ndarray, fdir: np.ndarray, start: np.ndarray, alpha_deg: float,
                 xres: float, yres: float, rec=None, order=None, passable: np.ndarray | None = None,
                 release=None) -> np.ndarray:
    """Cells reached by a mass movement released in ``start`` cells (energy-line / alpha-angle model).

    A cell is reached if, along the D8 path from some start cell, the line falling from the start
    cell at angle ``alpha_deg`` is still at or above the ground: ``z_start - tan(α)·L ≥ z``.
    Start cells are always reached. ``passable`` (bool, optional): the ground outside it is +inf
    (the flow stops there), as ``np.where(passable, z, np.inf)`` without that array. Heights of -inf
    are not valid ground.

    Computed by walking down from each start cell (in raster order) while its line is above the
    ground, which gives the result of a pass over the whole upstream-first ``order`` (not read): only
    the cells the start cells reach are read and written; ``release`` (e.g. ``Terrain.release``), when
    given, is called after each sixteenth of the start cells, so memory-mapped inputs hold only the
    pages of the walks of one part (a band of the grid and what lies below it).

    Examples
    --------
    >>> z = np.array([[30., 20., 10., 9., 8.5]])
    >>> fd = flow_direction_d8(z, 10, 10)
    >>> runout_alpha(z, fd, np.array([[True, False, False, False, False]]), 45, 10, 10).tolist()
    [[True, True, True, False, False]]
    >>> runout_alpha(z, fd, np.array([[True, False, False, False, False]]), 45, 10, 10,
    ...              passable=np.array([[True, False, True, True, True]])).tolist()
    [[True, False, False, False, False]]
    """
    if rec is None:            # (``order`` is not needed: accepted for the callers that have it)
        rec, order = flow_order(fdir)
    zz = np.asarray(z)
    zz = np.ascontiguousarray(zz, dtype=np.float32 if zz.dtype == np.float32 else np.float64).ravel()
    st = np.ascontiguousarray(start, dtype=np.bool_).ravel()
    ps = np.zeros(0, np.bool_) if passable is None else np.ascontiguousarray(passable, dtype=np.bool_).ravel()
    n = zz.shape[0]
    # the cells of the order (a start cell outside it, on nodata, is not processed)
    starts = np.flatnonzero(st & (np.asarray(fdir).ravel() != NODATA_DIR)).astype(rec.dtype)
    energy, hit, reach = sparse_zeros(n), sparse_zeros(n, np.uint8), sparse_zeros(n, np.bool_)
    for q0, q1 in parts(starts.shape[0], release):
        _runout(zz, rec, starts, q0, q1, ps, math.tan(math.radians(alpha_deg)),
                np.shape(z)[1], abs(float(xres)), abs(float(yres)), energy, hit, reach)
        if release is not None:
            release()
    return reach.reshape(np.shape(z))


# ----------------------------------------------------------------------------- upstream maximum
@nb.njit(cache=True)
def _upstream_max_init(values, out, i0, i1):
    # float64, as np.nan_to_num(values, nan=-inf): NaN -> -inf, ±inf -> ± the largest float
    big = np.finfo(np.float64).max
    for i in range(i0, i1):
        v = np.float64(values[i])
        if math.isnan(v):
            v = -np.inf
        elif math.isinf(v):
            v = big if v > 0 else -big
        out[i] = v


@nb.njit(cache=True)
def _upstream_max(out, rec, order, t0, t1):
    for t in range(t0, t1):  # upstream first
        i = order[t]
        j = rec[i]
        if j >= 0 and out[i] > out[j]:
            out[j] = out[i]


@nb.njit(cache=True)
def _upstream_length(out, rec, order, t0, t1, cols, xres, yres):
    diag = np.hypot(xres, yres)
    for t in range(t0, t1):  # upstream first
        i = order[t]
        j = rec[i]
        if j >= 0:
            if i // cols == j // cols:
                step = xres
            elif i % cols == j % cols:
                step = yres
            else:
                step = diag
            if out[i] + step > out[j]:
                out[j] = out[i] + step


def upstream_length(fdir: np.ndarray, xres: float, yres: float, rec=None, order=None, release=None) -> np.ndarray:
    """Length (m) of the longest D8 flow path that reaches each cell (0 on cells nothing drains into).
    ``release`` (e.g. ``Terrain.release``): called after each part of the order (see :func:`parts`).

    >>> fd = np.array([[0, 0, -1]], dtype=np.int8)
    >>> upstream_length(fd, 10.0, 10.0).tolist()
    [[0.0, 10.0, 20.0]]
    """
    if rec is None or order is None:
        rec, order = flow_order(fdir)
    cols = np.shape(fdir)[1]
    out = np.zeros(rec.shape[0], dtype=np.float64)
    for t0, t1 in parts(order.shape[0], release):
        _upstream_length(out, rec, order, t0, t1, cols, abs(float(xres)), abs(float(yres)))
        if release is not None:
            release()
    return out.reshape(np.shape(fdir))


def upstream_max(values: np.ndarray, fdir: np.ndarray, rec=None, order=None, release=None) -> np.ndarray:
    """Maximum of ``values`` over each cell's catchment (the cell included), e.g. the highest point.
    ``release`` (e.g. ``Terrain.release``): called after each part of the values and of the order.

    >>> fd = np.array([[0, 0, -1]], dtype=np.int8)
    >>> upstream_max(np.array([[5., 1., 3.]]), fd).tolist()
    [[5.0, 5.0, 5.0]]
    """
    if rec is None or order is None:
        rec, order = flow_order(fdir)
    v = np.asarray(values)
    v = np.ascontiguousarray(v, dtype=np.float32 if v.dtype == np.float32 else np.float64).ravel()
    out = np.empty(v.shape[0], dtype=np.float64)
    for i0, i1 in parts(v.shape[0], release):
        _upstream_max_init(v, out, i0, i1)
        if release is not None:
            release()
    for t0, t1 in parts(order.shape[0], release):
        _upstream_max(out, rec, order, t0, t1)
        if release is not None:
            release()
    return out.reshape(np.shape(values))
