"""The compiled polygon clipper of the balance (:func:`gis_planner.balance.kernels.clip_areas`).

Known answers on hand-computable geometry (squares, an L-shape, polygons with holes, touching edges, a
sliver, rings in either orientation, projected coordinates), then the clipper against GEOS on random
non-convex polygons, and the full balance with the clipper against the GEOS path (same lists, figures
to rounding).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from gis_planner.balance import compute_balance
from gis_planner.balance import core
from gis_planner.balance import kernels as K
from gis_planner.balance.engine import ParcelIndex, _ragged
from tests.helpers import X0, Y0, rect
from tests.test_balance_speed_exact import jittered_cadastre


def clip(parcel, piece):
    """(area, status) of one pair."""
    a, s = K.clip_areas(*_ragged(np.array([parcel]))[:3], *_ragged(np.array([piece]))[:3],
                        np.array([0]), np.array([0]))
    return float(a[0]), int(s[0])


SQ = box(0, 0, 10, 10)
L_SHAPE = Polygon([(0, 0), (10, 0), (10, 5), (5, 5), (5, 10), (0, 10)])          # 75 m², not convex
FRAME = Polygon(box(0, 0, 20, 20).exterior.coords, [box(5, 5, 15, 15).exterior.coords])  # 300 m², a hole


@pytest.mark.parametrize("parcel, piece, area", [
    (SQ, box(5, 5, 15, 15), 25.0),                       # overlapping squares
    (SQ, box(-5, 2, 15, 4), 20.0),                       # a strip across
    (L_SHAPE, box(2, 2, 8, 8), 27.0),                    # 36 minus the missing corner 3 x 3
    (L_SHAPE, box(6, 6, 12, 12), 0.0),                   # in the L's notch: bounding boxes meet, nothing else
    (box(2, 2, 10, 10), FRAME, 39.0),                    # the piece's hole takes a 5 x 5 corner of 64
    (FRAME, box(10, -1, 30, 21), 150.0),                 # the parcel's hole: 200 - 50
    (FRAME, box(6, 6, 14, 14), 0.0),                     # the piece lies in the parcel's hole
])
def test_known_areas(parcel, piece, area):
    a, s = clip(parcel, piece)
    ref = shapely.area(shapely.intersection(parcel, piece))
    assert ref == pytest.approx(area, abs=1e-12)
    if area == 0.0:
        assert s == K.CLIP_DISJOINT and a == 0.0
    else:
        assert s == K.CLIP_CROSSING and a == pytest.approx(area, rel=1e-14, abs=1e-12)


def test_orientation_of_rings_does_not_matter():
    for parcel in (L_SHAPE, shapely.reverse(L_SHAPE)):
        frame = shapely.affinity.translate(FRAME, -3, -3)      # its hole covers 39 m² of the L
        for piece in (box(2, 2, 8, 8), shapely.reverse(box(2, 2, 8, 8)), frame, shapely.reverse(frame)):
            a, s = clip(parcel, piece)
            assert s == K.CLIP_CROSSING
            assert a == pytest.approx(shapely.area(shapely.intersection(parcel, piece)), rel=1e-13)
            assert a == pytest.approx(27.0 if piece.area == 36 else 36.0, rel=1e-13)


def test_inside_disjoint_and_undecided_pairs():
    assert clip(box(2, 2, 4, 4), SQ) == (0.0, K.CLIP_INSIDE)              # the caller takes the parcel's area
    tri = Polygon([(0, 0), (10, 0), (0, 10)])
    assert clip(box(8, 8, 9, 9), tri) == (0.0, K.CLIP_DISJOINT)           # inside the bounding box only
    # touching along an edge, at a corner, and a shared edge inside: GEOS decides (area NaN here)
    for parcel, piece in [(SQ, box(10, 0, 20, 10)), (SQ, box(10, 10, 20, 20)), (SQ, box(0, 0, 10, 5)),
                          (box(4, 4, 6, 6), SQ.difference(box(4, 4, 6, 6)))]:
        a, s = clip(parcel, piece)
        assert s == K.CLIP_HARD and np.isnan(a)
    a, s = clip(SQ, box(4, 4, 6, 6))                                      # the piece inside the parcel
    assert s == K.CLIP_HARD and np.isnan(a)


def test_sliver_is_measured_and_sent_to_geos_by_share():
    parcel, piece = SQ, box(9.99, -1, 20, 11)
    a, s = clip(parcel, piece)
    assert s == K.CLIP_CROSSING and a == pytest.approx(0.1, rel=1e-12)
    # in label_areas a pair below the share threshold is measured by GEOS: exactly its figure
    # (and as in the GEOS path: a parcel inside counts its own area, a touching one an entry of 0)
    idx = ParcelIndex(np.array([parcel, box(12, 2, 18, 8), box(20, 0, 30, 10)]))
    p, lab, area = idx.label_areas(np.array([piece]), compiled=True, geos_below_share=0.01)
    geos = float(shapely.area(shapely.intersection(parcel, piece)))
    assert dict(zip(p.tolist(), area.tolist())) == {0: geos, 1: 36.0, 2: 0.0}
    p0, _, a0 = idx.label_areas(np.array([piece]))
    assert dict(zip(p0.tolist(), a0.tolist())) == {0: geos, 1: 36.0, 2: 0.0}
    p, lab, area = idx.label_areas(np.array([piece]), compiled=True, geos_below_share=0.0)
    assert dict(zip(p.tolist(), area.tolist()))[0] == pytest.approx(geos, rel=1e-9)


def test_projected_coordinates_keep_their_digits():
    """Coordinates of ~4.7e6 m: the clipper works relative to the parcel's first vertex."""
    parcel = Polygon([(X0 + 0.3, Y0 + 0.1), (X0 + 40.7, Y0 + 2.2), (X0 + 38.9, Y0 + 45.5), (X0 + 20, Y0 + 20),
                      (X0 + 1.1, Y0 + 41.3)])
    piece = shapely.affinity.translate(parcel, 13.37, -7.77)
    local = shapely.affinity.translate(parcel, -X0, -Y0), shapely.affinity.translate(piece, -X0, -Y0)
    a, s = clip(parcel, piece)
    assert s == K.CLIP_CROSSING
    assert a == pytest.approx(shapely.area(shapely.intersection(*local)), rel=1e-12)


def _star(rng, cx, cy, r, k):
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * rng.uniform(0.3, 1.0, k)
    return Polygon(np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)])


def test_random_non_convex_polygons_with_holes_equal_geos():
    rng = np.random.default_rng(7)
    P, Q = [], []
    while len(P) < 600:
        p = _star(rng, *rng.uniform(-5, 5, 2), 10, int(rng.integers(3, 12)))
        q = _star(rng, *rng.uniform(-5, 5, 2), 12, int(rng.integers(3, 40)))
        if len(P) % 4 == 0 and q.is_valid:
            q = q.difference(q.centroid.buffer(2, quad_segs=3))
        if len(P) % 5 == 0 and p.is_valid:
            p = p.difference(p.centroid.buffer(1.5, quad_segs=2))
        if p.geom_type == q.geom_type == "Polygon" and p.is_valid and q.is_valid:
            P.append(p)
            Q.append(q)
    P, Q = np.array(P), np.array(Q)
    i = np.arange(len(P))
    (pxy, pr, pg, po), (qxy, qr, qg, qo) = _ragged(P), _ragged(Q)
    P, Q = P[po], Q[qo]                        # polygons with holes last
    a, s = K.clip_areas(pxy, pr, pg, qxy, qr, qg, i, i)
    ref = shapely.area(shapely.intersection(P, Q))
    assert (s == K.CLIP_CROSSING).sum() > 500
    c = s == K.CLIP_CROSSING
    np.testing.assert_allclose(a[c], ref[c], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ref[s == K.CLIP_INSIDE], shapely.area(P[s == K.CLIP_INSIDE]), rtol=1e-12)
    assert (ref[s == K.CLIP_DISJOINT] == 0.0).all()


def _synthetic(seed=1):
    geoms, boundary, rng = jittered_cadastre(nx=30, ny=20, seed=seed)
    n = len(geoms)
    parcels = gpd.GeoDataFrame({"cadastral_no": [f"P{i}" for i in range(n)],
                                "category": rng.choice(["agricultural", "settlement", "forest"], n)},
                               geometry=geoms, crs=7695)
    kinds = [("hazard", "flood", "high", shapely.Point(X0 + 300, Y0 + 300).buffer(260)),
             ("hazard", "flood", "low", shapely.Point(X0 + 500, Y0 + 400).buffer(330)),
             ("water_protection_zone", "river", None, rect(0, 480, 1500, 560)),
             ("protected_area", "core", None, rect(700, 0, 1100, 1000)),
             ("forest_fund", None, None, shapely.union_all(geoms[40:80]))]      # shares the parcels' edges
    r = gpd.GeoDataFrame({"kind": [k[0] for k in kinds], "subtype": [k[1] for k in kinds],
                          "level": [k[2] for k in kinds]}, geometry=[k[3] for k in kinds], crs=7695)
    return parcels, r, boundary


def test_full_balance_with_the_clipper_equals_geos_path(monkeypatch):
    parcels, r, boundary = _synthetic()
    ref = compute_balance(parcels=parcels, restrictions=r, boundary=boundary)
    monkeypatch.setattr(core, "use_compiled", lambda n, limit=None: True)
    new = compute_balance(parcels=parcels, restrictions=r, boundary=boundary)
    for name in ("restricted", "restricted_land_type", "restricted_detail"):
        a, b = getattr(new, name), getattr(ref, name)
        assert list(a.index) == list(b.index) and list(a.columns) == list(b.columns)
        np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=0)
    a, b = new.parcel_restrictions, ref.parcel_restrictions
    assert a[["cadastral_no", "group"]].values.tolist() == b[["cadastral_no", "group"]].values.tolist()
    np.testing.assert_allclose(a["area_ha"], b["area_ha"], rtol=0, atol=1e-6)
    pa, pb = new.parcels, ref.parcels
    np.testing.assert_allclose(pa["restricted_ha"], pb["restricted_ha"], rtol=0, atol=1e-6)
    assert (pa["restrictions"] == pb["restrictions"]).all()


def test_label_areas_compiled_equals_geos_with_holed_and_multi_parcels():
    """Parcels with holes are laid out after the others in the clipper's arrays, multipolygons go to GEOS:
    every pair must still land on its own parcel."""
    frame = shapely.affinity.translate(FRAME, 30, 0)
    multi = shapely.MultiPolygon([box(60, 0, 65, 5), box(70, 0, 75, 5)])
    parcels = np.array([SQ, frame, box(12, 0, 28, 10), multi, L_SHAPE.buffer(0).union(box(0, 12, 4, 16)).convex_hull,
                        box(80, 0, 90, 10)], dtype=object)
    atoms = np.array([box(5, -5, 40, 5), box(5, 5, 40, 30), box(42, -5, 100, 30)], dtype=object)
    idx = ParcelIndex(parcels)
    ref = {(int(p), int(lab)): a for p, lab, a in zip(*idx.label_areas(atoms)) if a > 0}
    new = {(int(p), int(lab)): a for p, lab, a in zip(*idx.label_areas(atoms, compiled=True)) if a > 0}
    assert set(new) == set(ref) and len(ref) >= 8
    for k, a in ref.items():
        assert new[k] == pytest.approx(a, rel=1e-12, abs=1e-9), k
    exact = {(1, 0): 50.0, (1, 1): 150.0 - 50.0, (3, 2): 50.0, (5, 2): 100.0}     # 150 less the hole's 5 x 10
    for k, a in exact.items():
        assert new[k] == pytest.approx(a, rel=1e-12), k
