"""The arrangement of restriction groups: disjoint "atoms", each inside a known set of groups.

The balance measures every parcel inside 20-odd restriction groups (each kind, each subtype/level of a
kind, and "any restriction"). The groups overlap heavily (a subtype lies inside its kind; flood and
mudflow zones overlap a water-protection zone), so clipping the parcels against each group on its
own clips the same parcel against the same boundary again and again. Instead:

1. the boundaries of all group unions are noded together and polygonised: the faces ("atoms") do
   not overlap, and no group boundary crosses the inside of an atom, so each atom lies wholly inside
   or wholly outside each group; its groups are found at one interior point;
2. every group is checked: the areas of its atoms must add up to the area of its union (relative
   ``rel_tol``, rounding only); a group that fails is measured on its own (:func:`group_areas`);
3. the parcels are clipped once against the atoms (:meth:`ParcelIndex.label_areas`), and a parcel's
   area in a group is the sum over the atoms of that group: disjoint atoms, so nothing counts twice.

Example
-------
>>> from shapely.geometry import box
>>> a = build_atoms({"k": box(0, 0, 10, 10), "k:sub": box(0, 0, 5, 10), "j": box(8, 0, 20, 10)})
>>> sorted((round(float(g.area)), [k for k, m in zip(a.keys, row) if m]) for g, row in zip(a.geoms, a.member))
[(20, ['k', 'j']), (30, ['k']), (50, ['k', 'k:sub']), (100, ['j'])]
>>> a.failed
[]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import shapely

from .engine import ParcelIndex, cut_pieces, polygon_parts


@dataclass
class Atoms:
    """Disjoint polygons (``geoms``) and which groups each lies in (``member``: atoms x groups)."""

    keys: list
    geoms: np.ndarray
    member: np.ndarray
    failed: list = field(default_factory=list)   # groups whose atoms do not add up to their union
    _cut: dict = field(default_factory=dict, repr=False, compare=False)

    def cut(self, max_vertices: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """The atoms cut into pieces (:func:`~gis_planner.balance.engine.cut_pieces`), computed once per size
        (the balance computes them beside the parcels' validation, with the atoms)."""
        key = int(max_vertices)
        if key not in self._cut:
            self._cut[key] = cut_pieces(self.geoms, key)
        return self._cut[key]

    def union(self, rel_tol: float = 1e-9):
        """Union of the atoms (they share edges exactly: a coverage union, checked by its area)."""
        if not len(self.geoms):
            return None
        want = float(shapely.area(self.geoms).sum())
        try:
            u = shapely.coverage_union_all(self.geoms)
            if shapely.is_valid(u) and abs(float(shapely.area(u)) - want) <= rel_tol * max(want, 1.0):
                return u
        except shapely.errors.GEOSException:
            pass
        return shapely.union_all(self.geoms)


def build_atoms(unions: Mapping[str, shapely.Geometry], rel_tol: float = 1e-9) -> Atoms:
    """Atoms of the polygonal geometries ``unions`` (group key -> union of its polygons)."""
    keys = list(unions)
    geoms = np.array([unions[k] for k in keys], dtype=object)
    present = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    if not present.any():
        return Atoms(keys, np.empty(0, dtype=object), np.zeros((0, len(keys)), dtype=bool))
    try:
        noded = shapely.union_all(shapely.boundary(geoms[present]))   # the linework, noded once
        faces = polygon_parts([shapely.polygonize(shapely.get_parts(noded))])
    except shapely.errors.GEOSException:
        return Atoms(keys, np.empty(0, dtype=object), np.zeros((0, len(keys)), dtype=bool),
                     failed=[k for k, p in zip(keys, present) if p])
    inner = shapely.point_on_surface(faces)
    member = np.zeros((len(faces), len(keys)), dtype=bool)
    for j in np.flatnonzero(present):
        shapely.prepare(geoms[j])
        member[:, j] = shapely.contains(geoms[j], inner)
    keep = member.any(axis=1)
    faces, member = faces[keep], member[keep]
    face_area = shapely.area(faces)
    failed = []
    for j in np.flatnonzero(present):
        want = float(shapely.area(geoms[j]))
        if abs(float(face_area[member[:, j]].sum()) - want) > rel_tol * max(want, 1.0):
            failed.append(keys[j])
    return Atoms(keys, faces, member, failed)


def group_areas_sparse(index: ParcelIndex, atoms: Atoms, max_vertices: int = 256, geos_below_share: float = 0.01,
                       threads: int = 1, chunk_min_pairs: int | None = None) -> tuple[np.ndarray, dict, np.ndarray]:
    """:func:`group_areas` on the compiled path, sparse: ``(touched, {key: areas}, any)``, the parcels the atoms
    touch (sorted positions) and their areas in each group that passed the check and in the union of all
    atoms; every other parcel has 0 everywhere. The same figures as the dense columns at ``touched``; sums
    over the touched parcels in their order equal the sums over all parcels (the others add exact zeros)."""
    n = len(index)
    p, lab, a = index.label_areas(atoms.geoms, max_vertices, compiled=True, geos_below_share=geos_below_share,
                                  threads=threads, chunk_min_pairs=chunk_min_pairs, cut=atoms.cut(max_vertices))
    touched = np.flatnonzero(np.bincount(p, minlength=n))
    at = np.zeros(n, dtype=np.int64)
    at[touched] = np.arange(touched.size)
    pc = at[p]
    area_t = index.area[touched]
    # one pass over the entries for every group (kernels.group_sums: the bincounts' sums, same order)
    from .kernels import group_sums

    sums = group_sums(pc, lab, a, np.ascontiguousarray(atoms.member), touched.size)
    np.minimum(sums, area_t, out=sums)        # a clip exceeds the parcel by rounding only
    out = {key: sums[j] for j, key in enumerate(atoms.keys) if key not in atoms.failed}
    return touched, out, sums[-1]


def group_areas(index: ParcelIndex, atoms: Atoms, max_vertices: int = 256, compiled: bool = False,
                geos_below_share: float = 0.01, threads: int = 1, chunk_min_pairs: int | None = None
                ) -> tuple[dict, np.ndarray]:
    """Area (m²) of each parcel in each group that passed the check, and in the union of all atoms.

    Returns ``({key: per-parcel areas}, any)``; the groups in ``atoms.failed`` are left out (measure
    them with :meth:`ParcelIndex.areas_in`). ``any`` is the area inside at least one group (every atom
    lies in some group); it is only meaningful when no group failed. ``compiled``, ``geos_below_share``,
    ``threads``, ``chunk_min_pairs``: see :meth:`ParcelIndex.label_areas`.
    """
    n = len(index)
    if compiled:    # the compiled clipper measures every pair (no derived pairs: no cover needed)
        touched, sums, any_sums = group_areas_sparse(index, atoms, max_vertices, geos_below_share, threads,
                                                     chunk_min_pairs)

        def column(s) -> np.ndarray:
            col = np.zeros(n)
            col[touched] = s
            return col

        return {key: column(s) for key, s in sums.items()}, column(any_sums)
    p, lab, a = index.label_areas(atoms.geoms, max_vertices, cover=atoms.union(), cut=atoms.cut(max_vertices))
    # sums over the parcels the atoms touch only (a few of all at 1M parcels), then spread out: the
    # same sums, in the same order, as bincounts over all parcels
    touched = np.flatnonzero(np.bincount(p, minlength=n))
    at = np.zeros(n, dtype=np.int64)
    at[touched] = np.arange(touched.size)
    pc = at[p]
    area_t = index.area[touched]
    in_group = atoms.member.T[:, lab] if len(lab) else np.zeros((len(atoms.keys), 0), dtype=bool)

    def spread(sel) -> np.ndarray:
        s = np.bincount(pc[sel], weights=a[sel], minlength=touched.size).astype(float, copy=False)
        np.minimum(s, area_t, out=s)              # a clip exceeds the parcel by rounding only
        col = np.zeros(n)
        col[touched] = s
        return col

    out = {key: spread(in_group[j]) for j, key in enumerate(atoms.keys) if key not in atoms.failed}
    return out, spread(slice(None))
