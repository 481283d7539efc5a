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
an invalid edge can overlap another one, and only those are compared pairwise. The validator itself
runs only where a sort of all ring segments finds an edge not shared exactly (see :func:`_suspects`),
so a clean cadastre of a million parcels costs a sort, not a million polygon checks.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from .engine import default_workers, polygon_parts
from .segments import pair_segments_np, ring_segments_np, use_compiled


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


def _union_coverage(geoms: np.ndarray, clean: np.ndarray, segs: "SegmentTable | None" = None,
                    rel_tol: float = 1e-9) -> shapely.Geometry:
    """Union of parcels: the clean ones (a coverage) from their outer edges, or with the coverage union,
    and a full union with the rest."""
    parts = []
    if clean.any():
        u = _lone_edge_union(segs, clean, float(shapely.area(geoms[clean]).sum()), rel_tol) \
            if segs is not None else None
        if u is None:
            try:
                u = shapely.coverage_union_all(geoms[clean])
            except shapely.errors.GEOSException:
                u = shapely.union_all(geoms[clean])
        parts.append(u)
    if (~clean).any():
        parts.append(shapely.union_all(geoms[~clean]))
    if not parts:
        return shapely.Polygon()
    u = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if not shapely.is_valid(u):  # coverage union of a not-quite-coverage: fall back to exact union
        u = shapely.union_all(geoms)
    return u


def _lone_edge_union(segs: "SegmentTable", clean: np.ndarray, area_sum: float, rel_tol: float = 1e-9):
    """Union of the clean parcels (no two overlap) built from the edges that no other clean parcel
    shares: polygonised (``shapely.build_area``: rings nest as outer shells and holes).

    Those edges are the segments of clean parcels that nobody shares (partner -1) and the segments of
    suspect parcels shared with a clean one (the same edge, seen from the other side). The result is
    accepted only when it is valid and its area equals the sum of the clean parcels' areas (relative
    ``rel_tol``: their areas, summed, differ from the union's by rounding only); None otherwise (the
    caller then uses the coverage union).
    """
    own_clean = clean[segs.owner]
    p = segs.partner
    keep = (own_clean & (p == -1)) | (~own_clean & (p >= 0) & clean[np.maximum(p, 0)])
    xy = segs.xy[keep]
    if not len(xy):
        return None
    lines = shapely.linestrings(xy.reshape(-1, 2, 2))
    try:
        u = shapely.build_area(shapely.multilinestrings(lines))
    except shapely.errors.GEOSException:
        return None
    if shapely.is_empty(u) or not shapely.is_valid(u):
        return None
    if abs(float(shapely.area(u)) - area_sum) > rel_tol * max(area_sum, 1.0):
        return None
    return u


def _invalid_edges(geoms: np.ndarray) -> np.ndarray:
    try:
        bad = shapely.coverage_invalid_edges(geoms)
    except shapely.errors.GEOSException:
        return np.ones(len(geoms), dtype=bool)
    return ~shapely.is_empty(bad) & ~shapely.is_missing(bad)


def _unpaired(geoms: np.ndarray, tree: shapely.STRtree | None = None, workers: int = 1,
              tile: int = 150_000, compiled: bool | None = None) -> np.ndarray:
    """Parcels with a ring segment that is not paired exactly once, reversed, by another parcel.

    See :func:`_pairing` (this is its first result).
    """
    return _pairing(geoms, tree, workers, tile, compiled)[0]


def _pairing(geoms: np.ndarray, tree: shapely.STRtree | None = None, workers: int = 1,
             tile: int = 150_000, compiled: bool | None = None, coords: dict | None = None
             ) -> tuple[np.ndarray, "SegmentTable"]:
    """Parcels with a ring segment not paired exactly once, reversed, by another parcel, and every
    segment of those parcels with its partner (see :func:`_pair_block`).

    ``compiled``: use the numba kernel (default: :func:`~gis_planner.balance.segments.use_compiled`),
    which keeps its hash tables small itself (strips of segments). In numpy, large cadastres are cut into
    vertical bands of ``tile`` parcels (hash tables that stay in the CPU cache: the cost stays linear in
    the parcels); each band is checked together with every parcel whose bounding box reaches into it,
    so each of its parcels sees all the owners of its segments. ``coords``: ``{"xy", "ring"}`` of
    ``shapely.get_coordinates(geoms, return_index=True)`` when already read (used in one block only).
    """
    n = len(geoms)
    k = n // tile
    if compiled is None:
        compiled = use_compiled(n)
    if tree is None or k < 2 or compiled:
        return _pair_block(geoms, compiled=compiled, coords=coords)
    order = np.argsort(shapely.bounds(geoms)[:, 0], kind="stable")
    bands = np.array_split(order, k)

    def check(members: np.ndarray):
        members = np.sort(members)
        around = np.union1d(members, tree.query(shapely.box(*shapely.total_bounds(geoms[members]))))
        is_member = np.zeros(len(around), dtype=bool)
        is_member[np.searchsorted(around, members)] = True
        flag, segs = _pair_block(geoms[around], is_member, compiled)
        return members[flag[is_member]], segs.renumbered(around)

    out = np.zeros(n, dtype=bool)
    tables = []
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(check, bands))
    else:
        results = [check(band) for band in bands]
    for bad, segs in results:
        out[bad] = True
        tables.append(segs)
    return out, SegmentTable.concat(tables)


@dataclass
class SegmentTable:
    """Ring segments (x0, y0, x1, y1) with their parcel and the parcel that shares them reversed
    (-1: nobody, or not exactly one; -2: a zero-length segment)."""

    xy: np.ndarray        # (k, 4) float64
    owner: np.ndarray     # (k,) int64
    partner: np.ndarray   # (k,) int64

    def renumbered(self, ids: np.ndarray) -> "SegmentTable":
        p = self.partner
        return SegmentTable(self.xy, ids[self.owner], np.where(p >= 0, ids[np.maximum(p, 0)], p))

    @staticmethod
    def concat(tables: list) -> "SegmentTable":
        if not tables:
            return SegmentTable(np.empty((0, 4)), np.empty(0, np.int64), np.empty(0, np.int64))
        return SegmentTable(np.concatenate([t.xy for t in tables]), np.concatenate([t.owner for t in tables]),
                            np.concatenate([t.partner for t in tables]))


def _ring_segments(geoms: np.ndarray, compiled: bool = True, coords: dict | None = None):
    """Coordinates (float64, -0.0 -> 0.0), the start vertex of every ring segment, whether its ring runs
    against the interior-on-the-left orientation, and its parcel; None for non-polygons.

    ``coords``: ``{"xy", "ring"}`` = ``shapely.get_coordinates(geoms, return_index=True)`` when the caller
    has read them already (polygons without holes only); ``xy`` is then normalised in place."""
    n = len(geoms)
    normalized = False
    if coords and len(coords["ring"]) and coords["ring"][-1] == n - 1:
        xy, ring = coords["xy"], coords["ring"]
        normalized = bool(coords.get("normalized"))     # -0.0 already made 0.0 by the caller
        exterior = np.ones(n, dtype=bool)
        ring_owner = None
    elif (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON).all() and \
            not shapely.get_num_interior_rings(geoms).any():
        # the common case, polygons without holes: one ring per parcel, no ring objects built
        xy, ring = shapely.get_coordinates(geoms, return_index=True)
        exterior = np.ones(n, dtype=bool)
        ring_owner = None
    else:
        gtype, xy, offsets = shapely.to_ragged_array(geoms)
        if gtype == shapely.GeometryType.POLYGON:
            ring_off, poly_off = offsets
            poly_owner = np.arange(n)
        elif gtype == shapely.GeometryType.MULTIPOLYGON:
            ring_off, poly_off, geom_off = offsets
            poly_owner = np.repeat(np.arange(n), np.diff(geom_off))
        else:  # pragma: no cover - callers pass polygons only
            return None
        ring_len = np.diff(ring_off)
        n_rings = len(ring_len)
        exterior = np.zeros(n_rings, dtype=bool)
        exterior[poly_off[:-1][np.diff(poly_off) > 0]] = True
        ring_owner = poly_owner[np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))]
        ring = np.repeat(np.arange(n_rings), ring_len)
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    if not normalized:
        np.add(xy, 0.0, out=xy)   # -0.0 -> 0.0 (in place: the array is this function's or its caller's copy)
    if compiled:
        from .kernels import ring_segments   # numba: imported only when it pays
    else:
        ring_segments = ring_segments_np
    seg, rev = ring_segments(xy, np.ascontiguousarray(ring, dtype=np.int64), exterior)
    owner = ring[seg].astype(np.int64, copy=False)
    if ring_owner is not None:          # None: one ring per parcel, the ring is the parcel
        owner = np.asarray(ring_owner, dtype=np.int64)[owner]
    return xy, seg, rev, owner


def _unpaired_block(geoms: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """:func:`_pair_block`'s parcels (one block, no bands)."""
    return _pair_block(geoms, compiled=use_compiled(len(geoms)) if compiled is None else compiled)[0]


def _pair_block(geoms: np.ndarray, members: np.ndarray | None = None, compiled: bool = True,
                coords: dict | None = None) -> tuple[np.ndarray, SegmentTable]:
    """Parcels with a ring segment that is not paired exactly once, reversed, by another parcel.

    In a clean coverage every edge is shared by exactly two parcels which run along it in opposite
    directions (both rings oriented with the interior on the left). A parcel all of whose segments are
    so paired has no invalid edge for the GEOS coverage validator either, so only the parcels returned
    here (those on the outer edge of the cadastre, or near an overlap, gap, T-junction or repeated
    vertex) need the exact check. One pass of a hash table over the segments (compiled kernel
    :func:`gis_planner.balance.kernels.pair_segments`, or its numpy form), no geometry operation.

    Also returns every segment of the flagged parcels (of ``members`` only, when given) with its
    partner: the linework of the union of the parcels (:func:`_lone_edge_union`).
    """
    n = len(geoms)
    out = np.zeros(n, dtype=bool)
    empty = SegmentTable.concat([])
    if n == 0:
        return out, empty
    rs = _ring_segments(geoms, compiled, coords)
    if rs is None:  # pragma: no cover - callers pass polygons only
        return ~out, empty
    xy, seg, rev, owner = rs
    if compiled:
        from .kernels import pair_segments
    else:
        pair_segments = pair_segments_np
    partner = pair_segments(xy.view(np.uint64), seg, rev, owner)
    bad = partner < 0
    out[owner[bad]] = True
    keep = out[owner] if members is None else (out & members)[owner]
    s = seg[keep]
    segs = SegmentTable(np.concatenate([xy[s], xy[s + 1]], axis=1), owner[keep], partner[keep])
    return out, segs


def _suspects(geoms: np.ndarray, tree: shapely.STRtree, workers: int = 1,
              min_per_strip: int = 25_000, flag: np.ndarray | None = None) -> np.ndarray:
    """Parcels with an edge not shared exactly with a neighbour (GEOS coverage validator).

    The same answer as ``shapely.coverage_invalid_edges`` over all parcels, at a fraction of the cost:
    :func:`_unpaired` (hashing of the segments) rules out every parcel whose edges are all exactly
    shared, and the GEOS validator runs only on the remaining parcels together with every parcel whose
    bounding box touches them (the validator judges a parcel by those neighbours alone, so its answer
    for them is the same as for the whole set). When many parcels remain (a badly damaged cadastre),
    they are cut into vertical strips checked in ``workers`` threads (GEOS releases the GIL).
    ``flag``: the result of :func:`_unpaired` when already known.
    """
    if flag is None:
        flag = _unpaired(geoms, tree, workers)
    out = np.zeros(len(geoms), dtype=bool)
    fi = np.flatnonzero(flag)
    if fi.size == 0:
        return out
    k = min(workers * 2, fi.size // min_per_strip)
    if workers > 1 and k >= 2:
        x = shapely.get_x(shapely.centroid(geoms[fi]))
        strips = np.array_split(fi[np.argsort(x, kind="stable")], k)
    else:
        strips = [fi]

    def check(members: np.ndarray) -> np.ndarray:
        _, nb = tree.query(geoms[members])
        around = np.union1d(members, nb)
        res = _invalid_edges(geoms[around])
        return members[res[np.searchsorted(around, members)]]

    if len(strips) == 1:
        out[check(fi)] = True
    else:
        with ThreadPoolExecutor(workers) as pool:
            for bad in pool.map(check, strips):
                out[bad] = True
    return out


def _boundary_pieces(boundary, seg_per_piece: int = 4, max_length: float | None = None) -> np.ndarray:
    """The rings of ``boundary`` cut into linestrings of at most ``seg_per_piece`` segments, segments
    longer than ``max_length`` first split (``shapely.segmentize``): small pieces with small bounding
    boxes, which together cover the whole linework."""
    rings = shapely.get_rings(polygon_parts([boundary]))
    if max_length is not None and max_length > 0:
        rings = shapely.segmentize(rings, max_length)
    pieces, ids = [], []
    for r in rings:
        c = shapely.get_coordinates(r)
        for s in range(0, len(c) - 1, seg_per_piece):
            pieces.append(c[s:s + seg_per_piece + 1])
            ids.append(len(pieces[-1]))
    if not pieces:
        return np.empty(0, dtype=object)
    return shapely.linestrings(np.concatenate(pieces), indices=np.repeat(np.arange(len(pieces)), ids))


def _properly_inside(boundary, geoms: np.ndarray, tree: shapely.STRtree, seg_per_piece: int = 4,
                     bounds: np.ndarray | None = None) -> np.ndarray:
    """``shapely.contains_properly(boundary, geoms)``, exactly, with the GEOS predicate run only near the
    boundary's linework.

    A parcel whose bounding box meets no bounding box of the pieces of the boundary's rings
    (:func:`_boundary_pieces`: segments no longer than twice a typical parcel's extent, a few per piece)
    has a bounding box that does not meet the linework at all: being connected, that box lies wholly in
    the boundary's interior or wholly outside it, so the parcel is properly inside exactly when the centre
    of its box is inside (a point-in-polygon test). The others (near the linework) are decided by GEOS.
    """
    shapely.prepare(boundary)
    b = shapely.bounds(geoms) if bounds is None else bounds
    ext = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])[:: max(1, len(b) // 10_000)]
    typical = float(np.median(ext)) if ext.size else 0.0
    pieces = _boundary_pieces(boundary, seg_per_piece, 2.0 * typical if typical > 0 else None)
    near = np.unique(tree.query(pieces)[1]) if len(pieces) else np.empty(0, dtype=np.int64)
    inside = shapely.contains_xy(boundary, (b[:, 0] + b[:, 2]) * 0.5, (b[:, 1] + b[:, 3]) * 0.5)
    if near.size:
        inside[near] = shapely.contains_properly(boundary, geoms[near])
    return inside


def cadastre_topology(geoms, boundary=None, tree: shapely.STRtree | None = None,
                      min_overlap_m2: float = 0.0, grid_size: float = 1e-6,
                      workers: int | None = None, compiled: bool | None = None,
                      coords: dict | None = None, pairing: tuple | None = None,
                      areas: np.ndarray | None = None) -> Topology:
    """Measure overlaps, gaps and outside parts of a set of parcel polygons (metric CRS).

    Parameters
    ----------
    geoms : array of (valid) polygons
    boundary : polygonal geometry of the municipality, or None (then no gaps/outside)
    tree : STR-tree over ``geoms`` (built if not given)
    min_overlap_m2 : overlaps smaller than this are not listed (they still count in
        ``double_counted`` so the identity holds)
    grid_size : precision (m) of the snap-rounded overlay used for the pairwise overlap areas
    workers : threads for the coverage check of a badly damaged cadastre (default: CPUs, at most 4)
    compiled : pair the ring segments with the numba kernel (default: when it pays, see
        :func:`gis_planner.balance.segments.use_compiled`); the same result either way
    coords : ``{"xy": ..., "ring": ...}`` = ``shapely.get_coordinates(geoms, return_index=True)`` when
        the caller has read them (the balance's validity check): not read twice; ``xy`` is modified
        (-0.0 -> 0.0)
    pairing : the result of :func:`_pairing` for ``geoms`` when the caller has run it already
    areas : ``shapely.area(geoms)`` when the caller has it

    Example
    -------
    >>> from shapely.geometry import box
    >>> t = cadastre_topology(np.array([box(0, 0, 10, 10), box(8, 0, 20, 10)]), box(0, 0, 30, 10))
    >>> t.overlaps["area_m2"].tolist(), t.double_counted, t.gap_area
    ([20.0], 20.0, 100.0)
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    areas = shapely.area(geoms) if areas is None else areas
    tree = tree or shapely.STRtree(geoms)
    workers = workers or default_workers()
    if pairing is not None:
        flag, segs = pairing
    else:
        flag, segs = (_pairing(geoms, tree, workers, compiled=compiled, coords=coords) if n
                      else (np.zeros(0, dtype=bool), None))
    suspect = _suspects(geoms, tree, workers, flag=flag) if n else np.zeros(0, dtype=bool)
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
    union = _union_coverage(geoms, ~suspect, segs) if n else shapely.Polygon()
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
        inside = _properly_inside(boundary, geoms, tree) if n else np.zeros(0, dtype=bool)
        cand = np.flatnonzero(~inside)
        if cand.size:
            out_a = shapely.area(shapely.difference(geoms[cand], boundary))
            keep = out_a > 0
            outside = pd.DataFrame({"parcel": cand[keep], "area_m2": out_a[keep]})
    return Topology(parcel_area=float(areas.sum()), union_area=union_area, overlaps=overlaps,
                    double_counted=double, gaps=gaps, outside=outside, boundary_area=b_area,
                    gap_neighbours=gap_neighbours)
