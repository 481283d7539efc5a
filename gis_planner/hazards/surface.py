"""Surface kernels without numba (slope, aspect, curvature, the DEM as floats): numpy only.

Kept apart from :mod:`gis_planner.hazards.terrain` (which re-exports every name) so that a process that
only needs slope, like ``gdaldem slope``, does not load numba/LLVM (~0.4 CPU s and ~70 MB at start:
``benchmarks/terrain_scale_bench.py --slope-only``).
"""
from __future__ import annotations

import math
import os

import numpy as np


def as_float_dem(arr, nodata=None, copy: bool = True) -> np.ndarray:
    """A float array with ``NaN`` for nodata (``nodata`` value, NaN or ±inf).

    ``copy=False``: a float32/float64 array is changed in place (no second DEM in memory).

    >>> as_float_dem(np.array([[1, -9999]]), -9999).tolist()
    [[1.0, nan]]
    """
    a = np.asarray(arr)
    dtype = np.float64 if a.dtype == np.float64 else np.float32
    if not copy and a.dtype == dtype and a.flags.writeable:
        z = a
    else:
        z = np.array(a, dtype=dtype, copy=True)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        z[z == np.float64(nodata)] = np.nan   # compared in float64: a float32 grid as its float64 read would be
    z[~np.isfinite(z)] = np.nan
    return z


# ----------------------------------------------------------------------------- slope and aspect
_BLOCK_ROWS = 64  # rows per block: the temporaries of a block stay in the CPU cache
_CURV_ROWS = 16   # curvature: ~25 float64 temporaries a band, so fewer rows (per-cell arithmetic: same result)


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _horn_windows(z: np.ndarray, edges: bool):
    """The 9 shifted views a..i of the 3×3 window over the whole grid.

    Without ``edges`` a window with a missing cell gives NaN. With ``edges`` (``gdaldem
    -compute_edges``) cells outside the grid are extrapolated linearly from the two edge cells and a
    nodata neighbour takes the centre value.
    """
    return _windows_of_padded(_pad(z, edges), edges)


def _pad(z: np.ndarray, edges: bool) -> np.ndarray:
    """Pad by one cell: NaN, or (``edges``) linear extrapolation ``2·edge − inner`` as gdaldem does."""
    p = np.pad(z, 1, mode="constant", constant_values=np.nan)
    if edges and z.shape[0] >= 2 and z.shape[1] >= 2:
        p[0, 1:-1] = 2 * z[0] - z[1]
        p[-1, 1:-1] = 2 * z[-1] - z[-2]
        p[:, 0] = 2 * p[:, 1] - p[:, 2]
        p[:, -1] = 2 * p[:, -2] - p[:, -3]
    return p


def _windows_of_padded(p: np.ndarray, edges):
    """The 9 views; with ``edges`` a nodata neighbour is filled: ``True`` (gdaldem) with the centre value,
    ``"linear"`` by linear extrapolation through the centre from the opposite neighbour
    (``2·centre − opposite``, the centre value when that is nodata too), so that cells on the border of
    the data keep the full slope of a plane instead of half of it."""
    rows, cols = p.shape[0] - 2, p.shape[1] - 2
    views = [p[r:r + rows, c:c + cols] for r in range(3) for c in range(3)]
    if edges == "linear":
        e = views[4]
        out = []
        for k, v in enumerate(views):
            if k == 4:
                out.append(v)
                continue
            opp = views[8 - k]
            fill = np.where(np.isnan(opp), e, 2 * e - opp)
            out.append(np.where(np.isnan(v), fill, v))
        return out
    if edges:
        e = views[4]
        views = [v if k == 4 else np.where(np.isnan(v), e, v) for k, v in enumerate(views)]
    return views


def _weighted_difference(outer1, middle, outer2, tmp, scale):
    """``((x1 - x0) + 2 (y1 - y0) + (z1 - z0)) * scale`` for pairs ``(x1, x0)`` …, in place, one temporary."""
    out = np.subtract(*outer1)
    np.subtract(*middle, out=tmp)
    tmp += tmp
    out += tmp
    np.subtract(*outer2, out=tmp)
    out += tmp
    out *= scale
    return out


def _horn_block(p: np.ndarray, xres: float, yres: float, edges: bool):
    """Horn gradient of the interior of padded block ``p`` (in the block's float type, in place)."""
    a, b, c, d, e, f, g, h, i = _windows_of_padded(p, edges)
    one = p.dtype.type
    # east minus west and north minus south, each weighted 1-2-1 (Horn 1981)
    tmp = np.empty_like(e)
    dzdx = _weighted_difference((c, a), (f, d), (i, g), tmp, one(1.0 / (8.0 * xres)))
    dzdy = _weighted_difference((a, g), (b, h), (c, i), tmp, one(1.0 / (8.0 * yres)))
    hole = np.isnan(e)  # the centre is not in Horn's formula, but a nodata centre stays nodata
    if hole.any():
        dzdx[hole] = np.nan
        dzdy[hole] = np.nan
    return dzdx, dzdy


def _each_band(rows: int, run, band: int = _BLOCK_ROWS) -> None:
    """``run(r0)`` for the first row of every band of ``band`` rows; in threads when there are
    several bands (numpy releases the GIL; each band writes its own rows of the outputs)."""
    starts = range(0, rows, band)
    if len(starts) > 1 and _workers() > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(_workers()) as ex:
            list(ex.map(run, starts))
    else:
        for r0 in starts:
            run(r0)


def _blocked(z: np.ndarray, fn, outputs: int, edges: bool = False, dtype=None):
    """Run ``fn(padded_block) -> tuple of arrays`` over row blocks (:func:`_each_band`).

    Each band is padded on its own (:func:`_padded_band`, in ``dtype``, default the DEM's float type),
    so no padded copy of the whole grid is made."""
    z = np.asarray(z)
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    dtype = z.dtype if dtype is None else np.dtype(dtype)
    rows = z.shape[0]
    outs = [np.empty(z.shape, dtype=np.float32) for _ in range(outputs)]

    def run(r0: int) -> None:
        r1 = min(rows, r0 + _BLOCK_ROWS)
        res = fn(_padded_band(z, r0, r1, edges, dtype))
        for o, v in zip(outs, res):
            o[r0:r1] = v

    _each_band(rows, run)
    if edges is True and rows >= 2 and z.shape[1] >= 2:
        # gdaldem -compute_edges treats the first and last lines apart: the missing line is
        # extrapolated, the missing columns repeat the edge column (GDALGeneric3x3Processing)
        zz = z.astype(dtype, copy=False) if z.shape[0] <= 2 else np.asarray(z[[0, 1, -2, -1]], dtype=dtype)
        for row, block in ((0, (2 * zz[0] - zz[1], zz[0], zz[1])), (rows - 1, (zz[-2], zz[-1], 2 * zz[-1] - zz[-2]))):
            padded = np.stack([np.pad(line, 1, mode="edge") for line in block])
            for o, v in zip(outs, fn(padded)):
                o[row] = v[0]
    return outs


def horn_gradient(z: np.ndarray, xres: float, yres: float, edges: bool = False):
    """Horn's 3×3 gradient: ``(dz/dx east, dz/dy north)`` in metres per metre; NaN where undefined."""
    xres, yres = abs(float(xres)), abs(float(yres))
    return tuple(_blocked(z, lambda p: _horn_block(p, xres, yres, edges), 2, edges))


def slope_aspect(z: np.ndarray, xres: float, yres: float, edges: bool = False,
                 units: str = "degrees", aspect: bool = True, dtype=None):
    """Slope and aspect by Horn's method, as ``gdaldem slope`` / ``gdaldem aspect``.

    Vectorised numpy over blocks of rows (cache-sized, run in threads), in the input's float type
    (float32 DEMs stay float32: differences to gdaldem's double arithmetic are below 0.001°), float32
    output.

    Parameters
    ----------
    z : 2-D array
        Elevations in metres, NaN for nodata, in a metric CRS.
    xres, yres : float
        Cell width and height in metres (signs ignored).
    edges : bool or ``"linear"``
        Compute edge cells and cells next to nodata: ``True`` substitutes the centre value for missing
        neighbours (``gdaldem -compute_edges``, which halves the slope of a plane there);
        ``"linear"`` extrapolates them linearly (exact on a plane; what the hazard models use).
        Default: such cells are NaN, as ``gdaldem``.
    units : ``"degrees"`` or ``"percent"``
    aspect : bool
        Also return the aspect (azimuth the slope faces, degrees clockwise from north, 0–360;
        NaN on flat cells, as ``gdaldem aspect`` without ``-zero_for_flat``).
    dtype : float type of the arithmetic, optional
        Default the DEM's (float32 or float64); ``np.float64`` on a float32 DEM gives the results of the
        same DEM in float64 without a float64 copy of it (each band is converted on its own).

    Returns
    -------
    slope : float32 array
    aspect : float32 array or None

    Examples
    --------
    A plane rising 1 m per 1 m eastwards faces west at 45°:

    >>> z = np.add.outer(np.zeros(4), np.arange(4.0))
    >>> s, a = slope_aspect(z, 1, 1)
    >>> float(s[1, 1]), float(a[1, 1]), bool(np.isnan(s[0, 0]))
    (45.0, 270.0, True)
    """
    if units not in ("degrees", "percent"):
        raise ValueError(f"units must be 'degrees' or 'percent', not {units!r}")
    xres, yres = abs(float(xres)), abs(float(yres))

    def block(p):
        dzdx, dzdy = _horn_block(p, xres, yres, edges)
        if aspect:
            grad = np.hypot(dzdx, dzdy)
        else:  # slope only: reuse the buffers
            grad = np.multiply(dzdx, dzdx, out=dzdx if not aspect else None)
            grad += np.multiply(dzdy, dzdy, out=dzdy)
            np.sqrt(grad, out=grad)
        if units == "degrees":
            slope = np.arctan(grad, out=grad if not aspect else None)
            slope *= slope.dtype.type(180.0 / math.pi)
        else:
            slope = grad * 100.0
        if not aspect:
            return (slope,)
        with np.errstate(invalid="ignore"):
            asp = np.degrees(np.arctan2(-dzdx, -dzdy))
            asp[asp < 0] += 360.0
            asp[asp >= 360.0] -= 360.0
            asp[grad == 0] = np.nan
            asp += 0.0  # no -0.0
        return slope, asp

    outs = _blocked(z, block, 2 if aspect else 1, edges, dtype)
    return (outs[0], outs[1]) if aspect else (outs[0], None)


def curvature(z: np.ndarray, xres: float, yres: float, edges: bool = False):
    """Profile and plan curvature (1/m) from Zevenbergen & Thorne (1987) 3×3 derivatives.

    Sign convention (documented in ``docs/hazards.md``):

    - **profile** curvature > 0 where the slope steepens downhill (convex, flow accelerates);
      < 0 where it flattens (concave, deposition).
    - **plan** curvature > 0 on spurs where contours are convex and flow diverges; < 0 in hollows
      where flow converges (where shallow landslides and debris flows start).

    Flat cells (no gradient) get 0 for both.

    Examples
    --------
    A convex hillside ``z = -x²/2`` (x east, m) has profile curvature ``-z''/(1+z'²)^1.5``:

    >>> x = np.arange(10.0) * 1.0
    >>> z = np.add.outer(np.zeros(5), -x ** 2 / 2)
    >>> prof, plan = curvature(z, 1, 1)
    >>> round(float(prof[2, 3]), 6) == round(1 / (1 + 3.0 ** 2) ** 1.5, 6), float(plan[2, 3])
    (True, 0.0)
    """
    z = np.asarray(z)
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    rows = z.shape[0]
    prof = np.empty(z.shape, dtype=np.float32)
    plan = np.empty(z.shape, dtype=np.float32)
    dx = abs(float(xres))
    dy = abs(float(yres))

    def run(r0: int) -> None:   # one band of rows in float64 (the temporaries stay cache-sized)
        r1 = min(rows, r0 + _CURV_ROWS)
        prof[r0:r1], plan[r0:r1] = _curvature_band(_padded_band(z, r0, r1, edges), dx, dy, edges)

    _each_band(rows, run, _CURV_ROWS)
    return prof, plan


def _padded_band(z: np.ndarray, r0: int, r1: int, edges, dtype=np.float64) -> np.ndarray:
    """Rows ``r0 .. r1 + 2`` of ``_pad(z as dtype, edges)``: the padded grid of rows r0..r1 (``dtype``)."""
    rows, cols = z.shape
    band = np.full((r1 - r0 + 2, cols + 2), np.nan, dtype=dtype)
    lo, hi = max(r0 - 1, 0), min(r1 + 1, rows)
    band[lo - r0 + 1:hi - r0 + 1, 1:-1] = z[lo:hi]
    if edges and rows >= 2 and cols >= 2:
        if r0 == 0:
            band[0, 1:-1] = 2 * z[0].astype(dtype) - z[1]
        if r1 == rows:
            band[-1, 1:-1] = 2 * z[-1].astype(dtype) - z[-2]
        band[:, 0] = 2 * band[:, 1] - band[:, 2]
        band[:, -1] = 2 * band[:, -2] - band[:, -3]
    return band


def _curvature_band(pad: np.ndarray, dx: float, dy: float, edges):
    """Profile and plan curvature of the interior of a padded float64 band (float32)."""
    z1, z2, z3, z4, z5, z6, z7, z8, z9 = _windows_of_padded(pad, edges)
    p = (z6 - z4) / (2 * dx)              # dz/dx (east)
    q = (z2 - z8) / (2 * dy)              # dz/dy (north)
    r = (z4 + z6 - 2 * z5) / (dx * dx)    # d2z/dx2
    t = (z2 + z8 - 2 * z5) / (dy * dy)    # d2z/dy2
    s = (z3 + z7 - z1 - z9) / (4 * dx * dy)  # d2z/dxdy (north-east and south-west positive)
    pq = p * p + q * q
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = -(p * p * r + 2 * p * q * s + q * q * t) / (pq * np.power(1 + pq, 1.5))
        plan = -(q * q * r - 2 * p * q * s + p * p * t) / np.power(pq, 1.5)
    flat = pq == 0
    prof = np.where(flat, 0.0, prof) + 0.0  # + 0.0 turns -0.0 into 0.0
    plan = np.where(flat, 0.0, plan) + 0.0
    return prof.astype(np.float32), plan.astype(np.float32)
