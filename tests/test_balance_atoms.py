"""The restriction groups of the balance measured at once on their atoms (gis_planner.balance.atoms):
known answers, the check that sends a group back to its own measurement, and the same figures as the
group-by-group measurement."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis_planner.balance import atoms as A
from gis_planner.balance import compute_balance
from gis_planner.balance import core
from gis_planner.balance.engine import ParcelIndex, union_polygons
from tests.helpers import X0, Y0, gdf, rect


def four_parcels():
    return gdf([{"cadastral_no": c, "category": "agricultural"} for c in "ABCD"],
               [rect(0, 0, 100, 100), rect(100, 0, 200, 100), rect(0, 100, 100, 200), rect(100, 100, 200, 200)])


def three_zones():
    return gdf([{"kind": "hazard", "subtype": "flood", "level": "high"},
                {"kind": "hazard", "subtype": "mudflow", "level": "low"},
                {"kind": "protected_area", "subtype": "buffer", "level": None}],
               [rect(50, 0, 150, 100), rect(120, 0, 200, 60), rect(0, 150, 200, 200)])


def test_known_answer_nested_and_overlapping_groups():
    bal = compute_balance(parcels=four_parcels(), restrictions=three_zones())
    pr = bal.parcel_restrictions.set_index(["cadastral_no", "group"])["area_ha"] * 1e4
    want = {("A", "hazard"): 5000, ("B", "hazard"): 5000 + 4800 - 1800,      # flood ∪ mudflow in B
            ("A", "hazard:flood:high"): 5000, ("B", "hazard:flood:high"): 5000,
            ("B", "hazard:mudflow:low"): 4800,
            ("C", "protected_area"): 5000, ("D", "protected_area"): 5000,
            ("C", "protected_area:buffer"): 5000, ("D", "protected_area:buffer"): 5000}
    assert {k: pytest.approx(v, rel=1e-12) for k, v in want.items()} == pr.to_dict()
    any_m2 = dict(zip(bal.parcels["cadastral_no"], bal.parcels["restricted_ha"] * 1e4))
    assert any_m2 == pytest.approx({"A": 5000, "B": 8000, "C": 5000, "D": 5000}, rel=1e-12)
    # measured on the atoms, none apart: flood only, flood ∩ mudflow, mudflow only, protected area
    assert bal.provenance["restriction_atoms"] == {"atoms": 4, "groups_measured_apart": []}


def test_atoms_known_answer():
    a = A.build_atoms({"k": rect(0, 0, 100, 100), "k:s": rect(0, 0, 50, 100), "j": rect(80, 0, 200, 100),
                       "empty": shapely.Polygon()})
    got = sorted((round(float(g.area)), tuple(k for k, m in zip(a.keys, row) if m))
                 for g, row in zip(a.geoms, a.member))
    assert got == [(2000, ("k", "j")), (3000, ("k",)), (5000, ("k", "k:s")), (10_000, ("j",))]
    assert a.failed == []
    # parcels: one across all three atoms of k, one inside j
    idx = ParcelIndex(np.array([rect(40, 10, 90, 20), rect(150, 10, 160, 20)], dtype=object))
    cols, any_ = A.group_areas(idx, a)
    assert cols["k"].tolist() == pytest.approx([500, 0])
    assert cols["k:s"].tolist() == pytest.approx([100, 0])
    assert cols["j"].tolist() == pytest.approx([100, 100])
    assert cols["empty"].tolist() == [0, 0]
    assert any_.tolist() == pytest.approx([500, 100])


def test_a_group_whose_atoms_do_not_add_up_is_measured_apart(monkeypatch):
    ref = compute_balance(parcels=four_parcels(), restrictions=three_zones())
    # a check that nothing passes (negative tolerance): every group measured on its own, same figures
    monkeypatch.setattr(core, "build_atoms", lambda u: A.build_atoms(u, rel_tol=-1.0))
    apart = compute_balance(parcels=four_parcels(), restrictions=three_zones())
    assert set(apart.provenance["restriction_atoms"]["groups_measured_apart"]) == set(apart.groups)
    for df in ("restricted", "restricted_detail"):
        a, b = getattr(apart, df), getattr(ref, df)
        assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, atol=1e-12)
    assert np.allclose(apart.parcels["restricted_ha"], ref.parcels["restricted_ha"], rtol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_overlapping_groups_same_as_group_by_group(seed):
    rng = np.random.default_rng(seed)
    n_side, cell = 25, 40.0
    xs, ys = np.meshgrid(np.arange(n_side + 1) * cell, np.arange(n_side + 1) * cell)
    xs[1:-1, 1:-1] += rng.uniform(-10, 10, (n_side - 1, n_side - 1))
    ys[1:-1, 1:-1] += rng.uniform(-10, 10, (n_side - 1, n_side - 1))
    parcels = np.array([shapely.Polygon([(X0 + xs[j, i], Y0 + ys[j, i]), (X0 + xs[j, i + 1], Y0 + ys[j, i + 1]),
                                         (X0 + xs[j + 1, i + 1], Y0 + ys[j + 1, i + 1]),
                                         (X0 + xs[j + 1, i], Y0 + ys[j + 1, i])])
                        for j in range(n_side) for i in range(n_side)], dtype=object)
    ext = n_side * cell
    groups: dict[str, list] = {}
    for i in range(30):
        c = shapely.Point(X0 + rng.uniform(0, ext), Y0 + rng.uniform(0, ext)).buffer(rng.uniform(30, 200), 16)
        kind = ["hazard", "protected_area", "forest_fund"][i % 3]
        sub = f"{kind}:{['a', 'b'][int(rng.integers(2))]}"
        groups.setdefault(kind, []).append(c)
        groups.setdefault(sub, []).append(c)
    unions = {k: union_polygons(g) for k, g in groups.items()}
    kinds = {k: u for k, u in unions.items() if ":" not in k}
    details = {k: u for k, u in unions.items() if ":" in k}
    index = ParcelIndex(parcels)
    atoms = A.build_atoms(unions)
    assert atoms.failed == [] and len(atoms.geoms) > len(unions)
    cols, any_ = A.group_areas(index, atoms)
    k_ref, d_ref, any_ref = core._group_areas_one_by_one(index, kinds, details, 256)
    for key, ref in {**k_ref, **d_ref}.items():
        assert ref.sum() > 0
        assert np.allclose(cols[key], ref, rtol=1e-9, atol=1e-6), key
    assert np.allclose(any_, any_ref, rtol=1e-9, atol=1e-6)
    # and against the plain definition: area of each parcel ∩ each union
    for key, u in unions.items():
        assert np.allclose(cols[key], shapely.area(shapely.intersection(parcels, u)), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("grid_coords", [True, False])
def test_fast_validity_agrees_with_geos(grid_coords):
    """The compiled ring check says 'valid' only for rings GEOS finds valid; GEOS decides the rest."""
    from gis_planner.balance.kernels import simple_rings

    rng = np.random.default_rng(7)
    polys = []
    for _ in range(5000):
        k = int(rng.integers(3, 9))
        pts = rng.integers(0, 6, (k, 2)).astype(float) if grid_coords else rng.uniform(0, 6, (k, 2))
        polys.append(shapely.Polygon(np.vstack([pts, pts[:1]]) + [X0, Y0]))
    polys.append(shapely.Polygon([(0, 0), (2, 0), (2, 2), (1, 0), (0, 2)]))      # touches itself at (1, 0)
    polys.append(shapely.Polygon([(0, 0), (2, 0), (1, 0), (1, 1)]))              # folds back on itself
    polys = np.array(polys, dtype=object)
    geos = shapely.is_valid(polys)
    assert 0 < geos.sum() < len(polys)
    xy, ring = shapely.get_coordinates(polys, return_index=True)
    fast = simple_rings(xy, np.searchsorted(ring, np.arange(len(polys) + 1)))
    assert not (fast & ~geos).any() and fast.sum() > 0.5 * geos.sum()
    assert not fast[-1] and not fast[-2]
    for compiled in (True, False):
        assert np.array_equal(core._is_valid(polys, shapely.get_type_id(polys), compiled), geos)


def test_covered_parcel_is_clipped_once_less(monkeypatch):
    from gis_planner.balance import engine

    clipped = []
    real = engine._clip_area
    monkeypatch.setattr(engine, "_clip_area", lambda a, b: (clipped.append(len(a)), real(a, b))[1])
    atoms = np.array([rect(0, 0, 50, 100), rect(50, 0, 100, 100)], dtype=object)
    idx = ParcelIndex(np.array([rect(30, 10, 80, 20), rect(90, 10, 110, 20), rect(10, 40, 20, 50)],
                               dtype=object), workers=1)
    p, lab, a = idx.label_areas(atoms, cover=rect(0, 0, 100, 100))
    got = {(int(i), int(j)): float(x) for i, j, x in zip(p, lab, a)}
    assert got == pytest.approx({(0, 0): 200.0, (0, 1): 300.0, (1, 1): 100.0, (2, 0): 100.0}, rel=1e-12)
    assert sum(clipped) == 2          # parcel 0: one of its two pieces; parcel 1 (not covered): its one piece
    clipped.clear()
    p2, lab2, a2 = idx.label_areas(atoms)                 # without the cover: every piece clipped
    assert sum(clipped) == 3
    assert sorted(zip(p2.tolist(), lab2.tolist())) == sorted(got)
    # interior point on the line between the two pieces (a 40 m parcel centred on x = 50): both clipped
    clipped.clear()
    idx = ParcelIndex(np.array([rect(30, 10, 70, 20)], dtype=object), workers=1)
    _, _, a3 = idx.label_areas(atoms, cover=rect(0, 0, 100, 100))
    assert sum(clipped) == 2 and a3.tolist() == pytest.approx([200.0, 200.0], rel=1e-12)
