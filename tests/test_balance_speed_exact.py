"""The fast topology of the balance (issue 16, item 6) gives exactly the figures of the old one.

The old implementation ran GEOS' coverage validator (``shapely.coverage_invalid_edges``) over every
parcel to find the parcels that may overlap; the new one runs it only where a hashing of the ring
segments finds an edge not shared exactly. ``old_topology`` below is the old implementation (the
validator over all parcels), so every comparison is against it. Speed is measured in
``benchmarks/balance_bench.py``, not here.
"""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gis_planner.balance import compute_balance
from gis_planner.balance import topology as T
from tests.helpers import X0, Y0, rect, square


def old_suspects(geoms, tree, workers=1, **kw):
    return T._invalid_edges(geoms)


def old_topology(monkeypatch, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(T, "_suspects", old_suspects)
        return T.cadastre_topology(*args, **kw)


def assert_same(new: T.Topology, old: T.Topology):
    assert new.overlaps.equals(old.overlaps)
    assert new.double_counted == old.double_counted
    assert new.union_area == old.union_area
    assert new.gap_area == old.gap_area
    assert len(new.gaps) == len(old.gaps)
    assert new.outside.equals(old.outside)
    assert new.gap_neighbours == old.gap_neighbours


def grid(nx, ny, size=100.0):
    return [square(i * size, j * size, size) for j in range(ny) for i in range(nx)]


def test_unpaired_flags_exactly_the_parcels_with_an_unshared_edge():
    g = np.array(grid(3, 3), dtype=object)
    flag = T._unpaired(g)
    assert flag.tolist() == [True] * 4 + [False] + [True] * 4   # only the centre has 4 shared edges
    # the validator (all parcels) finds no invalid edge; neither does the fast path
    tree = shapely.STRtree(g)
    assert not T._suspects(g, tree).any() and not old_suspects(g, tree).any()


def test_orientation_hole_and_multipolygon_are_understood():
    # clockwise exterior, a parcel with a hole filled exactly by another, a two-part parcel
    outer = Polygon([(X0, Y0), (X0 + 300, Y0), (X0 + 300, Y0 + 300), (X0, Y0 + 300)],
                    [[(X0 + 100, Y0 + 100), (X0 + 200, Y0 + 100), (X0 + 200, Y0 + 200), (X0 + 100, Y0 + 200)]])
    hole_fill = shapely.reverse(square(100, 100, 100))                         # clockwise on purpose
    ring = [square(i * 300 - 300, j * 300 - 300, 300) for j in range(3) for i in range(3) if (i, j) != (1, 1)]
    two = MultiPolygon([square(-300, -300, 300), square(300, 300, 300)])
    geoms = np.array([outer, hole_fill, two] + [r for r in ring if not (r.equals(square(-300, -300, 300))
                                                                        or r.equals(square(300, 300, 300)))],
                     dtype=object)
    flag = T._unpaired(geoms)
    assert not flag[0] and not flag[1]          # every edge of these two is shared exactly, reversed
    assert flag[2]                               # the multipolygon has outer edges
    tree = shapely.STRtree(geoms)
    assert np.array_equal(T._suspects(geoms, tree), old_suspects(geoms, tree))


def hand_made():
    """4 x 4 grid of 1 ha parcels; parcel 5 pushed 10 m east (overlap 0.1 ha with 6, gap 0.1 ha),
    a 20 x 20 m parcel inside parcel 15 (overlap 400 m²), parcel 10 missing (gap 1 ha)."""
    g = grid(4, 4)
    g[5] = shapely.affinity.translate(g[5], 10, 0)
    g[10] = square(310, 310, 20)                 # replaces parcel 10: inside parcel 15 (300..400)
    return np.array(g, dtype=object), rect(0, 0, 400, 400)


def test_hand_made_overlap_and_gap_known_and_same_as_old(monkeypatch):
    geoms, boundary = hand_made()
    new = T.cadastre_topology(geoms, boundary)
    old = old_topology(monkeypatch, geoms, boundary)
    assert_same(new, old)
    pairs = {(int(a), int(b)): area for a, b, area in new.overlaps.itertuples(index=False)}
    assert pairs == {(5, 6): pytest.approx(1000.0), (10, 15): pytest.approx(400.0)}
    assert new.double_counted == pytest.approx(1400.0)
    assert new.gap_area == pytest.approx(1000.0 + 10_000.0)     # strip west of 5 + the missing parcel 10
    assert new.outside_area == pytest.approx(0.0)


def jittered_cadastre(nx=40, ny=30, seed=1):
    """A clean coverage of quadrilaterals with shared jittered vertices, then damaged on purpose."""
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.arange(nx + 1) * 50.0, np.arange(ny + 1) * 50.0)
    xs[1:-1, 1:-1] += rng.uniform(-12, 12, (ny - 1, nx - 1))
    ys[1:-1, 1:-1] += rng.uniform(-12, 12, (ny - 1, nx - 1))
    xs, ys = xs + X0, ys + Y0
    geoms = [Polygon([(xs[j, i], ys[j, i]), (xs[j, i + 1], ys[j, i + 1]), (xs[j + 1, i + 1], ys[j + 1, i + 1]),
                      (xs[j + 1, i], ys[j + 1, i])]) for j in range(ny) for i in range(nx)]
    boundary = shapely.box(X0, Y0, X0 + nx * 50.0, Y0 + ny * 50.0)
    return geoms, boundary, rng


def test_clean_jittered_cadastre_has_no_suspect_inside(monkeypatch):
    geoms, boundary, _ = jittered_cadastre()
    g = np.array(geoms, dtype=object)
    flag = T._unpaired(g)
    assert flag.sum() == 2 * 40 + 2 * 30 - 4     # the parcels on the outer edge only
    assert_same(T.cadastre_topology(g, boundary), old_topology(monkeypatch, g, boundary))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_damaged_cadastre_same_figures_as_old(monkeypatch, seed):
    geoms, boundary, rng = jittered_cadastre(seed=seed)
    n = len(geoms)
    pick = rng.choice(n, 40, replace=False)
    for k, i in enumerate(pick):
        g = geoms[i]
        if k % 5 == 0:                            # shifted: overlap + gap
            geoms[i] = shapely.affinity.translate(g, rng.uniform(-5, 5), rng.uniform(-5, 5))
        elif k % 5 == 1:                          # grown: overlap with all neighbours
            geoms[i] = g.buffer(1.5, join_style="mitre")
        elif k % 5 == 2:                          # shrunk: gaps
            geoms[i] = g.buffer(-2.0, join_style="mitre")
        elif k % 5 == 3:                          # an extra vertex on an edge (T-junction, no overlap)
            c = list(g.exterior.coords)
            mid = ((c[0][0] + c[1][0]) / 2, (c[0][1] + c[1][1]) / 2)
            geoms[i] = Polygon(c[:1] + [mid] + c[1:])
        else:                                     # a duplicate parcel
            geoms.append(g)
    geoms.append(shapely.box(X0 + 500, Y0 + 500, X0 + 520, Y0 + 520))      # a small parcel inside others
    geoms.append(shapely.box(X0 + 1900, Y0 + 1400, X0 + 2100, Y0 + 1600))  # partly outside the boundary
    g = np.array(geoms, dtype=object)
    tree = shapely.STRtree(g)
    assert np.array_equal(T._suspects(g, tree), old_suspects(g, tree))
    new, old = T.cadastre_topology(g, boundary), old_topology(monkeypatch, g, boundary)
    assert_same(new, old)
    assert len(new.overlaps) > 30 and new.gap_area > 0 and new.outside_area > 0


def test_demo_topology_identical_to_old(demo_ws, monkeypatch):
    new = compute_balance(demo_ws).to_json()["topology"]
    with monkeypatch.context() as m:
        m.setattr(T, "_suspects", old_suspects)
        old = compute_balance(demo_ws).to_json()["topology"]
    for key in ("overlap_ha", "overlap_pairs", "gap_ha", "gaps", "outside_ha", "outside", "parcels_union_ha",
                "identity"):
        assert new[key] == old[key], key
    assert new["overlap_pairs"] and new["gaps"] and new["outside"]     # the demo's deliberate errors


def test_union_of_many_restriction_parcels_uses_the_coverage_union_only_when_valid():
    from gis_planner.balance import engine

    geoms, _, _ = jittered_cadastre(nx=12, ny=10)                       # 120 parcels, a clean coverage
    g = np.array(geoms, dtype=object)
    u = engine._coverage_union(g)
    assert u is not None
    assert u.area == pytest.approx(shapely.union_all(g).area, rel=1e-12)
    assert u.area == pytest.approx(sum(p.area for p in geoms), rel=1e-12)
    assert engine.union_polygons(g).area == pytest.approx(600.0 * 500.0, rel=1e-12)
    # two overlapping parcels: not a coverage, the overlay union is used (overlap counted once)
    bad = g.copy()
    bad[5] = shapely.affinity.translate(bad[5], 7, 0)
    assert engine._coverage_union(bad) is None
    assert engine.union_polygons(bad).area == pytest.approx(shapely.union_all(bad).area, rel=1e-12)
    assert engine.union_polygons(bad).area < sum(p.area for p in bad) - 1.0


def test_forest_parcels_as_restriction_give_the_full_parcel_area():
    import geopandas as gpd

    from gis_planner.balance import restriction_crosstab

    geoms, _, _ = jittered_cadastre(nx=12, ny=10)
    cat = ["forest_fund" if 3 <= i % 12 <= 8 else "agricultural" for i in range(len(geoms))]
    parcels = gpd.GeoDataFrame({"category": cat}, geometry=geoms, crs=7695)
    forest = parcels[parcels["category"] == "forest_fund"]
    restr = gpd.GeoDataFrame({"kind": ["forest_fund"] * len(forest)}, geometry=forest.geometry.values, crs=7695)
    ct = restriction_crosstab(parcels, restr)
    assert ct.loc["forest_fund", "forest_fund"] == pytest.approx(forest.area.sum() / 1e4, rel=1e-12)
    assert ct.loc["agricultural", "forest_fund"] == pytest.approx(0.0, abs=1e-9)


def test_unpaired_by_bands_equals_one_block():
    geoms, _, rng = jittered_cadastre(nx=40, ny=30, seed=4)
    geoms[100] = shapely.affinity.translate(geoms[100], 3, 0)
    geoms[700] = geoms[700].buffer(-1.0, join_style="mitre")
    g = np.array(geoms, dtype=object)
    tree = shapely.STRtree(g)
    whole = T._unpaired_block(g, compiled=False)
    for workers in (1, 2):
        assert np.array_equal(T._unpaired(g, tree, workers, tile=150, compiled=False), whole)   # 8 bands
    assert np.array_equal(T._unpaired(g, tree, compiled=True), whole)         # strips of segments
    assert np.array_equal(T._unpaired_block(g, compiled=True), whole)
    assert whole[100] and whole[700] and not whole[500]


def grid_with_overlap_and_gap():
    """3 x 3 grid of 100 m squares; parcel 0 narrowed to 90 m (a 10 x 100 m gap beside parcel 1),
    parcel 8 reaching 10 m down into parcel 5 (a 100 x 10 m overlap)."""
    g = grid(3, 3)
    g[0] = rect(0, 0, 90, 100)
    g[8] = rect(200, 190, 300, 300)
    return np.array(g, dtype=object)


def test_lone_edge_union_known_answer_with_overlap_and_gap():
    g = grid_with_overlap_and_gap()
    tree = shapely.STRtree(g)
    flag, segs = T._pairing(g, tree)
    clean = ~T._suspects(g, tree, flag=flag)
    assert not clean[5] and not clean[8]                  # the overlapping pair is suspect
    u = T._lone_edge_union(segs, clean, float(shapely.area(g[clean]).sum()))
    assert u is not None                                   # built from the edges, not the fallback
    assert shapely.area(shapely.symmetric_difference(u, shapely.union_all(g[clean]))) == pytest.approx(0, abs=1e-6)
    topo = T.cadastre_topology(g, rect(0, 0, 300, 300))
    assert topo.union_area == pytest.approx(90_000 - 1_000, rel=1e-12)
    assert topo.double_counted == pytest.approx(1_000, rel=1e-9)
    assert topo.gap_area == pytest.approx(1_000, rel=1e-9)
    # told that every parcel is clean, the edges no longer bound an area equal to the sum of the
    # parcels (the overlap would count twice): refused, the caller falls back to the coverage union
    assert T._lone_edge_union(segs, np.ones(len(g), bool), float(shapely.area(g).sum())) is None


def test_lone_edge_union_with_holes_island_and_outer_ring():
    # a 300 m square with a 100 m hole; inside the hole a 40 m island parcel (the rest of the hole a gap);
    # a clean neighbour to the east sharing the whole edge
    outer = Polygon(shapely.get_coordinates(rect(0, 0, 300, 300)),
                    [shapely.get_coordinates(rect(100, 100, 200, 200))])
    island = rect(130, 130, 170, 170)
    east = rect(300, 0, 400, 300)
    g = np.array([outer, island, east], dtype=object)
    flag, segs = T._pairing(g)
    assert flag.tolist() == [True, True, True]            # all have edges on the outside
    clean = np.ones(3, bool)
    u = T._lone_edge_union(segs, clean, float(shapely.area(g).sum()))
    assert u is not None
    assert shapely.area(u) == pytest.approx(400 * 300 - 100 * 100 + 40 * 40, rel=1e-12)
    assert shapely.area(shapely.symmetric_difference(u, shapely.union_all(g))) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_and_numpy_pairing_give_the_same_partners(seed):
    """The numba kernel and its numpy form: the same flags and the same partner of every segment, on a
    damaged cadastre with holes, multipolygons, repeated vertices, duplicates and T-junctions."""
    geoms, _, rng = jittered_cadastre(nx=20, ny=15, seed=seed)
    geoms[3] = Polygon(list(geoms[3].exterior.coords)[:2] + list(geoms[3].exterior.coords)[1:])  # repeated vertex
    geoms[40] = shapely.affinity.translate(geoms[40], 2, 1)
    geoms.append(geoms[100])                                                   # a duplicate
    geoms.append(MultiPolygon([geoms[150], geoms[152]]))
    outer = Polygon(shapely.get_coordinates(rect(2000, 0, 2300, 300)),
                    [shapely.get_coordinates(rect(2100, 100, 2200, 200))])
    geoms += [outer, rect(2100, 100, 2200, 200)]
    g = np.array(geoms, dtype=object)
    tree = shapely.STRtree(g)
    f1, s1 = T._pairing(g, tree, compiled=True)
    f0, s0 = T._pairing(g, tree, compiled=False)
    assert np.array_equal(f1, f0) and f1[3] and f1[40] and f1[100] and not f1[-1]
    key = lambda s: sorted(zip(map(tuple, s.xy.round(6).tolist()), s.owner.tolist(), s.partner.tolist()))  # noqa: E731
    assert key(s1) == key(s0)
    assert (s1.partner == -2).any() and (s1.partner == -1).any() and (s1.partner >= 0).any()
    for compiled in (True, False):
        t = T.cadastre_topology(g, rect(0, 0, 2300, 750), compiled=compiled)
        assert t.union_area == pytest.approx(shapely.union_all(g).area, rel=1e-12)


def test_kernel_strips_do_not_change_the_partners():
    from gis_planner.balance.kernels import pair_segments, pair_segments_np

    geoms, _, _ = jittered_cadastre(nx=30, ny=20, seed=5)
    geoms[7] = shapely.affinity.translate(geoms[7], 1, 0)
    xy, seg, rev, owner = T._ring_segments(np.array(geoms, dtype=object))
    bits = xy.view(np.uint64)
    ref = pair_segments_np(bits, seg, rev, owner)
    for strip in (16, 256, 1 << 20):                  # 150 strips, 9 strips, one
        assert np.array_equal(pair_segments(bits, seg, rev, owner, strip), ref)
