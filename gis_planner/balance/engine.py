"""Exact, fast areas of parcels inside unions of polygons (the overlay engine of the balance).

The obvious way to measure "how much of each parcel lies in a restriction" is
``geopandas.overlay(parcels, restrictions)`` followed by a ``groupby``: every parcel is clipped
against every restriction polygon whose bounding box it touches. Almost all of that work is wasted,
because almost every parcel is either wholly inside or wholly outside a restriction; only parcels
that cross a restriction *boundary* need clipping. This module does exactly that:

1. the polygons of a group (a restriction kind, a hazard type and level, a settlement …) are
   unioned, so overlapping polygons are never counted twice;
2. the union is cut into small pieces (recursive halving of the bounding box until each piece has at
   most ``max_vertices`` vertices, as PostGIS ``ST_Subdivide`` does), so each clip is cheap;
3. one STR-tree over the parcels is queried with the (prepared) pieces: pairs where the piece
   *properly contains* the parcel count the parcel's full area, pairs that merely intersect are
   clipped with vectorised ``shapely.intersection``; all other parcels are outside (area 0).

The pieces of one union do not overlap (they are intersections of the union with disjoint boxes),
so the area of a parcel inside the union is the sum over pieces. Results equal
``geopandas.overlay`` to about 1e-12 relative (floating-point rounding of the cut vertices).

Example
-------
>>> import numpy as np
>>> from shapely.geometry import box
>>> parcels = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10), box(30, 0, 40, 10)])
>>> groups = {"zone": [box(5, -5, 15, 15), box(12, -5, 16, 15)]}
>>> overlay_areas(parcels, groups)["zone"].tolist()
[50.0, 60.0, 0.0]
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely

POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def available_cores() -> int:
    """CPU cores this process may run on (``os.sched_getaffinity``; the CPU count elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Threads for vectorised shapely calls (shapely releases the GIL); at most 4."""
    return max(1, min(4, available_cores()))


def balance_threads(engine_cfg: Mapping | None = None) -> int:
    """Threads of the full balance: ``layers/balance.yaml`` ``engine.threads``, or (null, 0) the cores
    available to the process. 1: everything in the calling thread, in the order of the code."""
    val = (engine_cfg or {}).get("threads")
    if val is None or int(val) <= 0:
        return available_cores()
    return int(val)


class Deferred:
    """A future of the single-thread path: the call runs when its result is first asked for."""

    def __init__(self, fn, *args, **kwargs):
        self._call = (fn, args, kwargs)
        self._done = False
        self._value = self._exc = None

    def result(self):
        if not self._done:
            fn, args, kwargs = self._call
            self._call = None
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:   # re-raised on every call, as a Future does
                self._exc = exc
            self._done = True
        if self._exc is not None:
            raise self._exc
        return self._value


class Background:
    """Tasks of the full balance run beside the calling thread (``threads - 1`` workers), or, with one
    thread, deferred until their result is asked for (:class:`Deferred`: the order of the code, nothing
    in other threads). ``submit`` returns an object with ``result()``."""

    def __init__(self, threads: int):
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def submit(self, fn, *args, **kwargs):
        if self._pool is None:
            return Deferred(fn, *args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Waits for the running tasks (never leaves one working after the caller returns); drops the queued."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def polygon_parts(geoms) -> np.ndarray:
    """Single polygons of ``geoms`` (multi-parts exploded, empty and non-polygonal parts dropped)."""
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size == 0:
        return np.empty(0, dtype=object)
    parts = shapely.get_parts(geoms[~shapely.is_missing(geoms)])
    # a GeometryCollection (e.g. from make_valid) may hold collections; flatten once more
    while True:
        coll = shapely.get_type_id(parts) == shapely.GeometryType.GEOMETRYCOLLECTION
        if not coll.any():
            break
        parts = np.concatenate([parts[~coll], shapely.get_parts(parts[coll])])
    parts = shapely.get_parts(parts)  # multipolygons inside collections
    keep = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts)
    return parts[keep]


def union_polygons(geoms) -> shapely.Geometry:
    """Exact union of polygons (overlaps counted once). Invalid inputs are repaired first."""
    parts = polygon_parts(geoms)
    if parts.size == 0:
        return shapely.Polygon()
    bad = ~shapely.is_valid(parts)
    if bad.any():
        parts = np.concatenate([parts[~bad], polygon_parts(shapely.make_valid(parts[bad]))])
    if parts.size == 1:
        return parts[0]
    if parts.size >= COVERAGE_MIN_PARTS and (u := _coverage_union(parts)) is not None:
        return u
    return shapely.union_all(parts)


COVERAGE_MIN_PARTS = 64


def _coverage_union(parts: np.ndarray):
    """Union of polygons that form a valid coverage (e.g. forest-fund *parcels* used as a restriction),
    or None when they do not.

    A coverage (polygons sharing edges exactly, never overlapping) is unioned by dropping the shared
    edges (``shapely.coverage_union_all``), 10-30x faster than an overlay union. Validity is checked
    exactly as the topology of the balance checks the parcels (GEOS coverage validator, run only where
    an edge is not shared exactly); any doubt falls back to the overlay union.
    """
    from .topology import _suspects  # topology imports this module

    if _suspects(parts, shapely.STRtree(parts)).any():
        return None
    try:
        u = shapely.coverage_union_all(parts)
    except shapely.errors.GEOSException:
        return None
    return u if shapely.is_valid(u) and not shapely.is_empty(u) else None


def subdivide(geom, max_vertices: int = 256) -> np.ndarray:
    """Cut a polygonal geometry into non-overlapping polygons of at most ``max_vertices`` vertices.

    Like PostGIS ``ST_Subdivide``: the bounding box is halved along its longer side until each part
    is small enough. The parts cover ``geom`` exactly (their areas sum to its area up to rounding).

    >>> from shapely.geometry import Point
    >>> pieces = subdivide(Point(0, 0).buffer(100, quad_segs=64), max_vertices=32)
    >>> bool(abs(sum(p.area for p in pieces) - Point(0, 0).buffer(100, quad_segs=64).area) < 1e-6)
    True
    """
    out: list = []
    stack = list(polygon_parts([geom]))
    while stack:
        g = stack.pop()
        if shapely.get_num_coordinates(g) <= max_vertices:
            out.append(g)
            continue
        minx, miny, maxx, maxy = g.bounds
        if maxx - minx >= maxy - miny:
            mid = (minx + maxx) / 2.0
            halves = (shapely.box(minx, miny, mid, maxy), shapely.box(mid, miny, maxx, maxy))
        else:
            mid = (miny + maxy) / 2.0
            halves = (shapely.box(minx, miny, maxx, mid), shapely.box(minx, mid, maxx, maxy))
        if max(maxx - minx, maxy - miny) < 1e-6:  # degenerate: cannot cut further
            out.append(g)
            continue
        for h in halves:
            stack.extend(polygon_parts([shapely.intersection(g, h)]))
    return np.array(out, dtype=object)


def cut_pieces(geoms, max_vertices: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``geoms`` cut into pieces of at most ``max_vertices`` vertices (:func:`subdivide`): the pieces
    and the position of the geometry each comes from."""
    cut = [subdivide(g, max_vertices) for g in np.asarray(geoms, dtype=object)]
    labels = np.repeat(np.arange(len(cut)), [len(c) for c in cut])
    pieces = np.concatenate(cut) if cut else np.empty(0, dtype=object)
    return pieces, labels


def _chunked(func, workers: int, *arrays, keys: np.ndarray | None = None, min_size: int = 256):
    """Apply a vectorised shapely function in ``workers`` threads over chunks of the arrays.

    shapely releases the GIL inside its vectorised functions, so threads use several cores. With
    ``keys`` (sorted), chunks never split a run of equal keys: a prepared geometry is then used by one
    thread only (GEOS builds its prepared indexes lazily, which is not thread-safe).
    """
    n = len(arrays[0])
    if workers <= 1 or n < min_size:
        return func(*arrays)
    cuts = np.linspace(0, n, workers * 4 + 1).astype(int)
    if keys is not None:
        cuts = np.unique(np.searchsorted(keys, keys[np.minimum(cuts, n - 1)], side="left").tolist() + [0, n])
    bounds = list(zip(cuts[:-1], cuts[1:]))
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda ab: func(*(a[ab[0]:ab[1]] for a in arrays)), bounds))
    return np.concatenate(parts)


def _ragged(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates, ring offsets and per-polygon ring offsets of single polygons (the compiled clipper's
    input layout, that of ``shapely.to_ragged_array``). Polygons without holes (most parcels) are read
    with one ``get_coordinates`` (a ring per polygon, ~5x faster than building ring objects); the
    polygons with holes come after them, in their order, with ``to_ragged_array``. Returns the arrays
    and the order of the polygons in them."""
    n = len(polygons)
    holed = shapely.get_num_interior_rings(polygons) > 0 if n else np.zeros(0, dtype=bool)
    plain = np.flatnonzero(~holed)
    xy, idx = shapely.get_coordinates(polygons[plain], return_index=True)
    rings = np.zeros(plain.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx, minlength=plain.size), out=rings[1:])
    geoms = np.arange(plain.size + 1, dtype=np.int64)
    if not holed.any():
        return np.ascontiguousarray(xy, dtype=np.float64), rings, geoms, plain
    other = np.flatnonzero(holed)
    _, xy2, (rings2, geoms2) = shapely.to_ragged_array(polygons[other], include_z=False)
    xy = np.concatenate([xy, xy2])
    rings = np.concatenate([rings, rings2[1:].astype(np.int64) + rings[-1]])
    geoms = np.concatenate([geoms, geoms2[1:].astype(np.int64) + geoms[-1]])
    return np.ascontiguousarray(xy, dtype=np.float64), rings, geoms, np.concatenate([plain, other])


CLIP_CHUNK_MIN_PAIRS = 50_000


def clip_chunked(pxy, pring, pgeom, qxy, qring, qgeom, pp, qq, threads: int = 1,
                 min_pairs: int = CLIP_CHUNK_MIN_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gis_planner.balance.kernels.clip_areas` of the pairs ``pp``, ``qq`` in ``threads`` threads.

    The pieces are set up once (:func:`~gis_planner.balance.kernels.clip_setup`); the pairs are cut into
    ``threads * 4`` chunks (for an even load: pairs near long piece edges cost more) of at least
    ``min_pairs`` pairs (below that a thread costs more than it saves; ``layers/balance.yaml``
    ``engine.clip_chunk_min_pairs``), each measured by the nogil kernel
    :func:`~gis_planner.balance.kernels.clip_pairs`. Every pair is measured on its own, so the result is
    the same array as one call's, whatever the cuts (tested)."""
    from . import kernels as K   # numba: imported only when it pays

    n = len(pp)
    k = min(max(1, int(threads)) * 4, n // max(1, int(min_pairs)))
    setup = K.clip_setup(qxy, qring, qgeom)
    if threads <= 1 or k < 2:
        return K.clip_pairs(pxy, pring, pgeom, qxy, qring, qgeom, pp, qq, setup)
    cuts = np.linspace(0, n, k + 1).astype(np.int64)

    def run(ab):
        a, b = ab
        return K.clip_pairs(pxy, pring, pgeom, qxy, qring, qgeom, pp[a:b], qq[a:b], setup)

    with ThreadPoolExecutor(min(int(threads), k)) as pool:
        parts = list(pool.map(run, zip(cuts[:-1].tolist(), cuts[1:].tolist())))
    return np.concatenate([a for a, _ in parts]), np.concatenate([s for _, s in parts])


def _clip_area(parcels, pieces):
    return shapely.area(shapely.intersection(parcels, pieces))


class ParcelIndex:
    """Parcel geometries with their STR-tree and areas, reused for every group.

    Parameters
    ----------
    geoms : array of polygons in a metric CRS (invalid ones should be repaired before).
    """

    def __init__(self, geoms, workers: int | None = None):
        self.geoms = np.asarray(geoms, dtype=object)
        self.area = shapely.area(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.workers = workers or default_workers()
        self._polygon = None     # parcels that are single polygons (the compiled clipper's input)
        # (xy, offsets): the coordinates of every parcel when all are polygons without holes (ring i: vertices
        # offsets[i] .. offsets[i + 1] - 1), as the balance's validity check read them; the compiled clipper
        # then reads them in place instead of gathering them again. None: gathered (``_ragged``)
        self.coords: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.geoms)

    def areas_in(self, union, max_vertices: int = 256, within: np.ndarray | None = None) -> np.ndarray:
        """Area (m²) of each parcel inside the polygonal geometry ``union`` (no overlaps in it).

        ``within`` (optional boolean mask): only these parcels can touch ``union`` (e.g. the parcels
        touching the union of a whole restriction kind, for one of its subtypes); the others get 0
        without being tested. The figures of the parcels in the mask are the same as without it.
        """
        return self.areas_and_hits(union, max_vertices, within)[0]

    def areas_and_hits(self, union, max_vertices: int = 256, within: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`areas_in` and a boolean mask of the parcels that intersect ``union`` at all."""
        out = np.zeros(len(self.geoms))
        hits = np.zeros(len(self.geoms), dtype=bool)
        if union is None or shapely.is_empty(union) or len(self.geoms) == 0:
            return out, hits
        if within is not None and not within.any():
            return out, hits
        pieces = subdivide(union, max_vertices)
        if pieces.size == 0:
            return out, hits
        shapely.prepare(pieces)
        # one bounding-box query; the exact predicates run vectorised on the candidate pairs
        # (pairs come sorted by piece, so each prepared piece stays in one thread)
        if within is not None and within.sum() * 4 < len(self.geoms):
            # few parcels to test: query the pieces with them (not all parcels with the pieces)
            cand = np.flatnonzero(within)
            p, q = shapely.STRtree(pieces).query(self.geoms[cand])
            order = np.argsort(q, kind="stable")
            q, p = q[order], cand[p[order]]
        else:
            q, p = self.tree.query(pieces)
            if within is not None:
                keep = within[p]
                q, p = q[keep], p[keep]
        w = self.workers
        cp = _chunked(shapely.contains_properly, w, pieces[q], self.geoms[p], keys=q)
        inside = np.zeros(len(self.geoms), dtype=bool)
        inside[p[cp]] = True
        rest = ~inside[p]
        q, p = q[rest], p[rest]
        hit = _chunked(shapely.intersects, w, pieces[q], self.geoms[p], keys=q)
        q_x, p_x = q[hit], p[hit]
        out[inside] = self.area[inside]
        if p_x.size:
            a = _chunked(_clip_area, w, self.geoms[p_x], pieces[q_x])
            out += np.bincount(p_x, weights=a, minlength=len(self.geoms))
        # a clip can exceed the parcel area by rounding only; never report more than the parcel
        np.minimum(out, self.area, out=out)
        hits[inside] = True
        hits[p_x] = True
        return out, hits


    def label_areas(self, geoms, max_vertices: int = 256, cover=None, compiled: bool = False,
                    geos_below_share: float = 0.01, threads: int = 1, chunk_min_pairs: int | None = None,
                    cut: tuple | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Area (m²) of each parcel inside each of the disjoint polygons ``geoms``, as sparse triplets.

        Returns ``(parcel, label, area)``: one entry per parcel and polygon they share area or a boundary
        with (``label``: the polygon's position). ``geoms`` must not overlap one another (e.g. the atoms of
        :mod:`gis_planner.balance.atoms`); each is cut into pieces as in :meth:`areas_in`.

        ``cover`` (optional): the union of ``geoms``. A parcel that it covers and that meets several
        pieces is clipped against all of them but one: the piece holding the parcel's interior point
        gets the rest of the parcel's area (the pieces partition the parcel). One clip fewer per such
        parcel; the figures differ from clipping only by rounding.

        ``compiled``: the candidate pairs are measured by the compiled clipper
        (:func:`gis_planner.balance.kernels.clip_areas`, ``cover`` not used) instead of GEOS' predicates
        and intersection; GEOS still measures the pairs the clipper leaves undecided (touching or
        collinear edges, a multipolygon parcel…) and the pairs whose clipped share of the parcel is below
        ``geos_below_share`` (slivers: their figures and whether they are listed at all stay GEOS').
        The figures differ from the GEOS path by rounding only (~1e-12 relative, tested). ``threads``,
        ``chunk_min_pairs``: the compiled clipper's pairs are cut into chunks measured in threads
        (:func:`clip_chunked`; the same figures as one call). ``cut``: :func:`cut_pieces` of ``geoms`` when
        already computed (e.g. in another thread).
        """
        chunk_min_pairs = CLIP_CHUNK_MIN_PAIRS if chunk_min_pairs is None else int(chunk_min_pairs)
        geoms = np.asarray(geoms, dtype=object)
        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
        if geoms.size == 0 or len(self.geoms) == 0:
            return empty
        pieces, labels = cut_pieces(geoms, max_vertices) if cut is None else cut
        if labels.size == 0:
            return empty
        shapely.prepare(pieces)
        q, p = self.tree.query(pieces)
        if compiled:
            return self._clip_compiled(pieces, labels, q, p, geos_below_share, threads, chunk_min_pairs)
        w = self.workers
        cp = _chunked(shapely.contains_properly, w, pieces[q], self.geoms[p], keys=q)
        q_in, p_in = q[cp], p[cp]
        # a parcel properly inside one piece touches no other piece's interior
        inside = np.zeros(len(self.geoms), dtype=bool)
        inside[p_in] = True
        rest = ~inside[p]
        q, p = q[rest], p[rest]
        hit = _chunked(shapely.intersects, w, pieces[q], self.geoms[p], keys=q)
        q_x, p_x = q[hit], p[hit]
        derived = self._derived_pairs(pieces, q_x, p_x, cover)
        clip = ~derived
        a_x = np.zeros(len(p_x))
        if clip.any():
            a_x[clip] = _chunked(_clip_area, w, self.geoms[p_x[clip]], pieces[q_x[clip]])
        if derived.any():
            pd_ = p_x[derived]
            others = np.bincount(p_x[clip], weights=a_x[clip], minlength=len(self.geoms))
            a_x[derived] = np.maximum(self.area[pd_] - others[pd_], 0.0)
        return (np.concatenate([p_in, p_x]).astype(np.int64), labels[np.concatenate([q_in, q_x])],
                np.concatenate([self.area[p_in], a_x]))

    def _clip_compiled(self, pieces, labels, q, p, geos_below_share: float, threads: int = 1,
                       chunk_min_pairs: int = CLIP_CHUNK_MIN_PAIRS):
        """:meth:`label_areas` of the candidate pairs (piece ``q``, parcel ``p``, sorted by ``q``) with the
        compiled clipper; GEOS for the pairs it leaves undecided and for slivers."""
        from . import kernels as K   # numba: imported only when it pays

        n_pairs = len(p)
        area = np.full(n_pairs, np.nan)
        status = np.full(n_pairs, K.CLIP_HARD, dtype=np.int8)
        if n_pairs and self.coords is not None:
            # every parcel is a polygon without holes whose coordinates the validity check has read: the
            # clipper reads them in place (parcel i: vertices offsets[i] .. offsets[i + 1] - 1)
            pxy, offsets = self.coords
            qxy, qring, qgeom, qorder = _ragged(pieces)
            qloc = np.empty(len(pieces), dtype=np.int64)
            qloc[qorder] = np.arange(len(pieces))
            area[:], status[:] = clip_chunked(pxy, offsets, np.arange(len(offsets), dtype=np.int64), qxy, qring,
                                              qgeom, p.astype(np.int64, copy=False), qloc[q], threads, chunk_min_pairs)
        elif n_pairs:
            if self._polygon is None:
                self._polygon = shapely.get_type_id(self.geoms) == shapely.GeometryType.POLYGON
            up = np.flatnonzero(np.bincount(p, minlength=len(self.geoms)))
            up = up[self._polygon[up]]
            pxy, pring, pgeom, order = _ragged(self.geoms[up])
            loc = np.full(len(self.geoms), -1, dtype=np.int64)
            loc[up[order]] = np.arange(up.size)
            pl = loc[p]
            ok = np.flatnonzero(pl >= 0)
            if ok.size:
                qxy, qring, qgeom, qorder = _ragged(pieces)
                qloc = np.empty(len(pieces), dtype=np.int64)
                qloc[qorder] = np.arange(len(pieces))
                area[ok], status[ok] = clip_chunked(pxy, pring, pgeom, qxy, qring, qgeom, pl[ok], qloc[q[ok]],
                                                    threads, chunk_min_pairs)
            del pxy, pring, pgeom
            del loc, pl, ok
        crossing = status == K.CLIP_CROSSING
        inside = status == K.CLIP_INSIDE
        sliver = crossing & ~(area >= geos_below_share * self.area[p])
        hard = np.flatnonzero((status == K.CLIP_HARD) | sliver)
        crossing &= ~sliver
        area[inside] = self.area[p[inside]]
        keep = np.flatnonzero(inside | crossing)
        q_h, p_h = q[hard], p[hard]
        w = self.workers
        hit = _chunked(shapely.intersects, w, pieces[q_h], self.geoms[p_h], keys=q_h)
        q_h, p_h = q_h[hit], p_h[hit]
        a_h = _chunked(_clip_area, w, self.geoms[p_h], pieces[q_h]) if p_h.size else np.empty(0)
        return (np.concatenate([p[keep], p_h]).astype(np.int64), labels[np.concatenate([q[keep], q_h])],
                np.concatenate([area[keep], a_h]))

    def _derived_pairs(self, pieces, q_x, p_x, cover) -> np.ndarray:
        """Pairs (piece q_x, parcel p_x) whose area is the parcel's area minus its other pairs' areas:
        the parcel is covered by ``cover`` and meets two pieces or more, and the piece holds the parcel's
        interior point strictly inside (so it is the one piece per parcel, and its share is not zero)."""
        derived = np.zeros(len(p_x), dtype=bool)
        if cover is None or not len(p_x):
            return derived
        multi = np.flatnonzero(np.bincount(p_x, minlength=len(self.geoms)) >= 2)
        if not multi.size:
            return derived
        shapely.prepare(cover)
        covered = multi[shapely.covers(cover, self.geoms[multi])]
        if not covered.size:
            return derived
        sel = np.flatnonzero(np.isin(p_x, covered))
        xy = shapely.get_coordinates(shapely.point_on_surface(self.geoms[covered]))
        k = np.searchsorted(covered, p_x[sel])
        holds = shapely.contains_xy(pieces[q_x[sel]], xy[k, 0], xy[k, 1])
        cand = sel[holds]
        _, first = np.unique(p_x[cand], return_index=True)   # one per parcel (pieces are disjoint anyway)
        derived[cand[first]] = True
        return derived


def overlay_areas(parcels, groups: Mapping[Hashable, Sequence], *, index: ParcelIndex | None = None,
                  max_vertices: int = 256) -> pd.DataFrame:
    """Area (m²) of each parcel inside the union of each group of polygons.

    Parameters
    ----------
    parcels : array-like of polygons (metric CRS), or ignored when ``index`` is given
    groups : mapping key -> polygons; polygons within a group are unioned (never double counted)
    index : a prebuilt :class:`ParcelIndex` (to reuse the tree across calls)

    Returns
    -------
    DataFrame, one row per parcel (positional), one column per group key.
    """
    index = index or ParcelIndex(parcels)
    cols = {key: index.areas_in(union_polygons(geoms), max_vertices) for key, geoms in groups.items()}
    return pd.DataFrame(cols, index=pd.RangeIndex(len(index)))
