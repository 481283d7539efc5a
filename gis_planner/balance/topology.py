"""Topology of a cadastre: overlaps between parcels, gaps and parts outside the boundary.

Nothing here changes the parcels; it measures what the balance would otherwise hide:

* **overlaps** – pairs of parcels whose interiors intersect, with the shared area, and the
  *double-counted area* (sum of parcel areas minus the area of their union; equal to the sum of
  pairwise overlaps when no point lies in three parcels);
* **gaps** – parts of the municipality boundary covered by no parcel;
* **outside** – parts of parcels beyond the municipality boundary.

With these, the balance identity holds exactly::

    sum of parcel areas = boundary area - gaps + outside + double-counted overlap

Candidates are found with GEOS' coverage validator (``shapely.coverage_invalid_edges``): in a clean
cadastre every edge is shared exactly by two parcels or lies on the outer edge, so only parcels with
an invalid edge can overlap another one, and only those are compared pairwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from concurrent.futures import ThreadPoolExecutor

from .engine import default_workers, polygon_parts


@dataclass
class Topology:
    """Result of :func:`cadastre_topology` (areas in m²; ids are positions unless mapped)."""

    parcel_area: float
    union_area: float
    overlaps: pd.DataFrame            # columns a, b, area_m2
    double_counted: float             # sum of areas - area of union
    gaps: np.ndarray                  # polygons (boundary minus union of parcels)
    outside: pd.DataFrame             # columns parcel, area_m2 (part of each parcel beyond the boundary)
    boundary_area: float | None
    invalid: list = field(default_factory=list)  # positions of parcels repaired with make_valid
    gap_neighbours: list = field(default_factory=list)  # per gap piece: positions of touching parcels

    @property
    def gap_area(self) -> float:
        return float(shapely.area(self.gaps).sum()) if len(self.gaps) else 0.0

    @property
    def outside_area(self) -> float:
        return float(self.outside["area_m2"].sum()) if len(self.outside) else 0.0


def _union_coverage(geoms: np.ndarray, clean: np.ndarray) -> shapely.Geometry:
    """Union of parcels: fast coverage union for the clean ones, full union with the rest."""
    parts = []
    if clean.any():
        try:
            parts.append(shapely.coverage_union_all(geoms[clean]))
        except shapely.errors.GEOSException:
            parts.append(shapely.union_all(geoms[clean]))
    if (~clean).any():
        parts.append(shapely.union_all(geoms[~clean]))
    if not parts:
        return shapely.Polygon()
    u = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if not shapely.is_valid(u):  # coverage union of a not-quite-coverage: fall back to exact union
        u = shapely.union_all(geoms)
    return u


def _invalid_edges(geoms: np.ndarray) -> np.ndarray:
    try:
        bad = shapely.coverage_invalid_edges(geoms)
    except shapely.errors.GEOSException:
        return np.ones(len(geoms), dtype=bool)
    return ~shapely.is_empty(bad) & ~shapely.is_missing(bad)


def _suspects(geoms: np.ndarray, tree: shapely.STRtree, workers: int, min_per_strip: int = 25_000) -> np.ndarray:
    """Parcels with an edge not shared exactly with a neighbour (GEOS coverage validator).

    Large cadastres are cut into vertical strips checked in parallel threads (GEOS releases the GIL):
    each strip is checked together with every parcel whose bounding box reaches into the strip, so
    every parcel of the strip sees all its neighbours and its answer is the same as for the whole set.
    """
    n = len(geoms)
    k = min(workers * 2, n // min_per_strip)
    if workers <= 1 or k < 2:
        return _invalid_edges(geoms)
    x = shapely.get_x(shapely.centroid(geoms))
    order = np.argsort(x, kind="stable")
    strips = np.array_split(order, k)

    def check(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        box = shapely.box(*shapely.total_bounds(geoms[members]))
        around = np.union1d(members, tree.query(box))
        res = _invalid_edges(geoms[around])
        return members, res[np.searchsorted(around, members)]

    out = np.zeros(n, dtype=bool)
    with ThreadPoolExecutor(workers) as pool:
        for members, res in pool.map(check, strips):
            out[members] = res
    return out


def cadastre_topology(geoms, boundary=None, tree: shapely.STRtree | None = None,
                      min_overlap_m2: float = 0.0, grid_size: float = 1e-6,
                      workers: int | None = None) -> Topology:
    """Measure overlaps, gaps and outside parts of a set of parcel polygons (metric CRS).

    Parameters
    ----------
    geoms : array of (valid) polygons
    boundary : polygonal geometry of the municipality, or None (then no gaps/outside)
    tree : STR-tree over ``geoms`` (built if not given)
    min_overlap_m2 : overlaps smaller than this are not listed (they still count in
        ``double_counted`` so the identity holds)
    grid_size : precision (m) of the snap-rounded overlay used for the pairwise overlap areas
    workers : threads for the coverage check (default: CPUs, at most 4)

    Example
    -------
    >>> from shapely.geometry import box
    >>> t = cadastre_topology(np.array([box(0, 0, 10, 10), box(8, 0, 20, 10)]), box(0, 0, 30, 10))
    >>> t.overlaps["area_m2"].tolist(), t.double_counted, t.gap_area
    ([20.0], 20.0, 100.0)
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    areas = shapely.area(geoms)
    tree = tree or shapely.STRtree(geoms)
    suspect = _suspects(geoms, tree, workers or default_workers()) if n else np.zeros(0, dtype=bool)
    # an overlapping pair always has at least one parcel with an invalid edge (a parcel lying wholly
    # inside another flags only the inner one), so suspects are compared with all parcels
    idx = np.flatnonzero(suspect)
    rows_a, rows_b, rows_area = [], [], []
    if idx.size:
        q, p = tree.query(geoms[idx], predicate="intersects")
        a_, b_ = idx[q], p
        lo, hi = np.minimum(a_, b_), np.maximum(a_, b_)
        pairs = np.unique(np.stack([lo, hi], axis=1)[lo != hi], axis=0)
        if len(pairs):
            lo, hi = pairs[:, 0], pairs[:, 1]
            inter = shapely.relate_pattern(geoms[lo], geoms[hi], "T********")
            lo, hi = lo[inter], hi[inter]
            rows_a, rows_b = lo, hi
            # snap-rounded overlay on a micrometre grid: robust where floating-point overlay is not
            # (a zero-width spike in a parcel can make GEOS report a false overlap of hectares)
            rows_area = shapely.area(shapely.intersection(geoms[lo], geoms[hi], grid_size=grid_size))
    overlaps = pd.DataFrame({"a": np.asarray(rows_a, dtype=int), "b": np.asarray(rows_b, dtype=int),
                             "area_m2": np.asarray(rows_area, dtype=float)})
    overlaps = overlaps[overlaps["area_m2"] > max(min_overlap_m2, 0.0)].reset_index(drop=True)
    union = _union_coverage(geoms, ~suspect) if n else shapely.Polygon()
    union_area = float(shapely.area(union))
    # the double-counted area is, by definition, the sum of the areas minus the area of their union
    # (the same union the gaps are measured from, so the balance identity holds)
    double = max(float(areas.sum()) - union_area, 0.0) if len(overlaps) else 0.0
    gaps = np.empty(0, dtype=object)
    outside = pd.DataFrame({"parcel": np.empty(0, dtype=int), "area_m2": np.empty(0)})
    gap_neighbours: list = []
    b_area = None
    if boundary is not None and not shapely.is_empty(boundary):
        b_area = float(shapely.area(boundary))
        gaps = polygon_parts([shapely.difference(boundary, union)])
        gaps = gaps[shapely.area(gaps) > 0]
        if gaps.size:
            gq, gp = tree.query(gaps, predicate="intersects")
            gap_neighbours = [gp[gq == i].tolist() for i in range(len(gaps))]
        # parcels not wholly inside the boundary
        shapely.prepare(boundary)
        inside = shapely.contains_properly(boundary, geoms) if n else np.zeros(0, dtype=bool)
        cand = np.flatnonzero(~inside)
        if cand.size:
            out_a = shapely.area(shapely.difference(geoms[cand], boundary))
            keep = out_a > 0
            outside = pd.DataFrame({"parcel": cand[keep], "area_m2": out_a[keep]})
    return Topology(parcel_area=float(areas.sum()), union_area=union_area, overlaps=overlaps,
                    double_counted=double, gaps=gaps, outside=outside, boundary_area=b_area,
                    gap_neighbours=gap_neighbours)
