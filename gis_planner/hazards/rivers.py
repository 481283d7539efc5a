"""Rivers derived from a DEM, for a municipality that has no river layer (``gis-planner derive rivers``).

The method (moved here from the demo builder, which uses it unchanged):

1. the DEM is averaged over ``coarsen`` × ``coarsen`` cells (GEBCO's 15″ grid resampled to 40–50 m
   carries no detail below ~120 m; averaging removes resampling ripples that would bend the channels);
2. depressions are filled by priority flood from the outlets (the grid border and the *sink* cells: a
   lake level or lake polygons), then each cell drains to its steepest D8 neighbour and the upstream
   cell count is accumulated;
3. channel mouths are the cells inside ``outlet_area`` that drain into a sink (or, with ``leaving``,
   out of the area), largest catchment first, at least ``min_spacing_m`` apart; from each mouth the main
   stem is followed upstream through the donor with the largest catchment while it exceeds
   ``min_catchment_km2``; paths are smoothed by Chaikin corner cutting.

These lines are *derived*, not surveyed: on a 15″ DEM a channel can be a few hundred metres off the
real one. The workspace provenance says so (``derived: true``) and a surveyed layer should replace them.
"""
from __future__ import annotations

import heapq
import math

import numpy as np
from shapely.geometry import LineString


def chaikin(coords: np.ndarray, n: int = 3) -> np.ndarray:
    """Chaikin corner cutting (end points kept) to turn grid paths into smooth river lines.

    >>> chaikin(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), 1).tolist()
    [[0.0, 0.0], [0.25, 0.0], [0.75, 0.0], [1.0, 0.25], [1.0, 0.75], [1.0, 1.0]]
    """
    for _ in range(n):
        p, q = coords[:-1], coords[1:]
        a = 0.75 * p + 0.25 * q
        b = 0.25 * p + 0.75 * q
        mid = np.empty((2 * len(a), 2))
        mid[0::2], mid[1::2] = a, b
        coords = np.vstack([coords[:1], mid, coords[-1:]])
    return coords


def priority_flood_accumulation(z: np.ndarray, sink: np.ndarray):
    """Priority-flood depression filling + D8 steepest descent + accumulation (cells).

    ``sink`` cells and the grid border are the outlets. Returns (receiver index or -1, accumulated cell
    count, filled elevations).
    """
    h, w = z.shape
    n = h * w
    zf = z.astype("float64").ravel().copy()
    done = np.zeros(n, bool)
    heap = []
    seeds = sink.ravel().copy()
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    seeds |= border.ravel()
    for idx in np.flatnonzero(seeds):
        heap.append((zf[idx], int(idx)))
        done[idx] = True
    heapq.heapify(heap)
    nbr = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    eps = 1e-3
    while heap:
        zc, idx = heapq.heappop(heap)
        r, c = divmod(idx, w)
        for dr, dc in nbr:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w:
                k = rr * w + cc
                if not done[k]:
                    done[k] = True
                    if zf[k] <= zc:
                        zf[k] = zc + eps
                    heapq.heappush(heap, (zf[k], k))
    zf2 = zf.reshape(h, w)
    # D8 steepest descent on the filled surface
    pad = np.pad(zf2, 1, constant_values=np.inf)
    best = np.zeros((h, w))
    rec = np.full((h, w), -1, dtype=np.int64)
    rows, cols = np.mgrid[0:h, 0:w]
    for dr, dc in nbr:
        dist = math.hypot(dr, dc)
        drop = (zf2 - pad[1 + dr:1 + dr + h, 1 + dc:1 + dc + w]) / dist
        better = drop > best
        best[better] = drop[better]
        rec[better] = ((rows + dr) * w + (cols + dc))[better]
    rec = rec.ravel()
    rec[seeds] = -1
    acc = np.ones(n)
    for idx in np.argsort(-zf, kind="stable"):
        r = rec[idx]
        if r >= 0:
            acc[r] += acc[idx]
    return rec, acc, zf2


def trace_main_stems(z: np.ndarray, x0: float, y0: float, res: float, outlet_area, *,
                     min_catchment_km2: float, sink_level: float | None = None,
                     sink_mask: np.ndarray | None = None, max_rivers: int | None = None,
                     leaving: bool = False, coarsen: int = 3, min_spacing_m: float = 3000.0,
                     min_path_cells: int = 8) -> list[tuple[LineString, float]]:
    """Main stems of the largest streams with a mouth in ``outlet_area``: ``[(line, catchment_km2)]``.

    ``z`` has rows from SOUTH to north (ascending y); ``(x0, y0)`` is its south-west corner and ``res``
    its cell size. Sinks are cells at or below ``sink_level`` and/or ``sink_mask`` (same shape as ``z``,
    e.g. rasterised lakes). ``leaving`` also takes mouths where a stream leaves ``outlet_area`` (a
    municipality whose rivers flow on to the next one). Lines run from source to mouth.
    """
    import shapely

    f = int(coarsen)
    h, w = (z.shape[0] // f) * f, (z.shape[1] // f) * f
    zc = z[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    cres = res * f
    sink = np.zeros(zc.shape, bool)
    if sink_level is not None:
        sink |= zc <= sink_level
    if sink_mask is not None:
        sink |= sink_mask[:h, :w].reshape(h // f, f, w // f, f).any(axis=(1, 3))
    rec, acc, _ = priority_flood_accumulation(zc, sink)
    hc, wc = zc.shape
    cx = x0 + (np.arange(wc) + 0.5) * cres
    cy = y0 + (np.arange(hc) + 0.5) * cres
    X, Y = np.meshgrid(cx, cy)
    X, Y = X.ravel(), Y.ravel()
    cell_km2 = cres * cres / 1e6
    sinkr = sink.ravel()
    outlet = (~sinkr) & (rec >= 0)
    outlet[outlet] = sinkr[rec[outlet]]
    shapely.prepare(outlet_area)
    inside = shapely.contains_xy(outlet_area, X, Y)
    if leaving:
        flows = (~sinkr) & (rec >= 0)
        leave = np.zeros_like(flows)
        leave[flows] = ~inside[rec[flows]]
        outlet |= leave
    cand = np.flatnonzero(outlet & inside)
    cand = cand[np.argsort(-acc[cand], kind="stable")]
    # donors: cells grouped by receiver
    order = np.argsort(rec, kind="stable")
    rec_sorted = rec[order]
    min_cells = min_catchment_km2 / cell_km2
    chosen, lines = [], []
    for idx in cand:
        if max_rivers is not None and len(chosen) == max_rivers:
            break
        if acc[idx] < min_cells * 2:
            break
        if any(math.hypot(X[idx] - X[c], Y[idx] - Y[c]) < min_spacing_m for c in chosen):
            continue
        path = [int(rec[idx]), int(idx)] if rec[idx] >= 0 else [int(idx)]
        cur = idx
        while True:
            lo, hi = np.searchsorted(rec_sorted, [cur, cur + 1])
            donors = order[lo:hi]
            if len(donors) == 0:
                break
            d = donors[np.argmax(acc[donors])]
            if acc[d] < min_cells:
                break
            path.append(int(d))
            cur = d
        if len(path) < min_path_cells:
            continue
        chosen.append(idx)
        coords = np.column_stack([X[path], Y[path]])[::-1]        # source -> mouth
        line = LineString(chaikin(coords, 3)).simplify(5)
        lines.append((line, float(acc[idx] * cell_km2)))
    return lines
