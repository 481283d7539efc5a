"""Issue 16, item 6 (third pass): the shortcuts of the full balance give exactly the old answers.

* the "outside the boundary" check runs GEOS only for parcels near the boundary's linework
  (:func:`gis_planner.balance.topology._properly_inside`), a point-in-polygon test for the others;
* the parcels' coordinates are read once for the validity check and the segment pairing;
* the gap neighbours' cadastral numbers are looked up once for all gaps.

Each is compared with the direct computation on hand-built cases with known answers.
"""
from __future__ import annotations

import numpy as np
import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gis_planner.balance import compute_balance
from gis_planner.balance import topology as T
from gis_planner.balance.core import _clean_polygons, _joined_ids
from tests.helpers import X0, Y0, rect
from tests.test_balance_speed_exact import jittered_cadastre


def _boundary_with_hole_and_island():
    """A 1000 x 1000 m boundary with a 200 x 200 m hole, plus an island 100 m east of it."""
    main = Polygon(shapely.get_coordinates(rect(0, 0, 1000, 1000)),
                   [shapely.get_coordinates(rect(400, 400, 600, 600))])
    return MultiPolygon([main, rect(1100, 0, 1300, 200)])


def test_properly_inside_equals_geos_with_known_cases():
    b = _boundary_with_hole_and_island()
    cases = {
        "deep inside": (rect(100, 100, 150, 150), True),
        "inside, touching the boundary from within": (rect(0, 100, 50, 150), False),
        "straddling the outer ring": (rect(-20, 300, 30, 350), False),
        "wholly outside": (rect(-300, -300, -200, -200), False),
        "in the hole": (rect(450, 450, 550, 550), False),
        "surrounding the hole (its box contains the hole)": (Polygon(
            shapely.get_coordinates(rect(350, 350, 650, 650)),
            [shapely.get_coordinates(rect(390, 390, 610, 610))]), True),
        "on the island": (rect(1150, 50, 1200, 100), True),
        "between mainland and island": (rect(1020, 50, 1080, 100), False),
        "sharing the hole's edge": (rect(350, 450, 400, 550), False),
    }
    g = np.array([c[0] for c in cases.values()], dtype=object)
    want = np.array([c[1] for c in cases.values()])
    tree = shapely.STRtree(g)
    for seg_per_piece in (1, 4, 32):     # one segment per piece: most cases decided by the point test
        got = T._properly_inside(b, g, tree, seg_per_piece)
        assert got.tolist() == want.tolist()
        assert np.array_equal(got, shapely.contains_properly(b, g))
    near = np.unique(tree.query(T._boundary_pieces(b, 1))[1])
    assert {0, 3, 6}.isdisjoint(near.tolist())   # deep inside, wholly outside, island: no GEOS predicate


def test_properly_inside_equals_geos_on_a_jittered_cadastre_and_a_wiggly_boundary():
    geoms, _, rng = jittered_cadastre(nx=40, ny=30, seed=4)
    g = np.array(geoms, dtype=object)
    # a boundary whose ring wanders through the parcels: hundreds of vertices, several pieces
    t = np.linspace(0, 2 * np.pi, 700, endpoint=False)
    r = 600 + 80 * np.sin(7 * t) + rng.uniform(-5, 5, t.size)
    b = Polygon(np.c_[X0 + 1000 + r * np.cos(t), Y0 + 750 + r * np.sin(t)])
    got = T._properly_inside(b, g, shapely.STRtree(g))
    assert np.array_equal(got, shapely.contains_properly(b, g))
    assert 200 < got.sum() < len(g) - 200      # both kinds of answers occur


def test_pieces_cover_the_whole_linework():
    b = _boundary_with_hole_and_island()
    pieces = T._boundary_pieces(b, seg_per_piece=2)
    lines = shapely.union_all(pieces)
    assert shapely.equals(lines, shapely.union_all(shapely.boundary(b)))
    assert len(pieces) == 2 + 2 + 2      # three rings of four segments, two segments per piece
    short = T._boundary_pieces(b, seg_per_piece=1, max_length=50.0)
    assert shapely.equals(shapely.union_all(short), lines)
    assert len(short) == (4000 + 800 + 800) // 50          # perimeters / 50 m
    assert shapely.length(short).max() == pytest.approx(50.0)


def test_properly_inside_on_a_rectangle_boundary_uses_geos_only_near_it(monkeypatch):
    """A 5-vertex boundary around 40 x 30 parcels of 50 m: only the parcels along it go to GEOS."""
    geoms, boundary, _ = jittered_cadastre(nx=40, ny=30, seed=8)
    g = np.array(geoms + [rect(-300, -300, -200, -200)], dtype=object)
    seen = []
    real = shapely.contains_properly
    monkeypatch.setattr(T.shapely, "contains_properly", lambda a, b: seen.append(len(b)) or real(a, b))
    got = T._properly_inside(boundary, g, shapely.STRtree(g))
    monkeypatch.undo()
    assert np.array_equal(got, shapely.contains_properly(boundary, g))
    assert got.sum() == 38 * 28 and not got[-1]           # all but the outer ring of parcels, and the far one
    assert seen and seen[0] < 0.4 * len(g)


def test_shared_coordinates_give_the_same_topology():
    """The topology from the coordinates the validity check read = the topology reading them itself."""
    geoms, boundary, _ = jittered_cadastre(nx=20, ny=15, seed=6)
    geoms[5] = shapely.affinity.translate(geoms[5], 2.0, 1.0)      # overlap + gap
    geoms.append(rect(900, 700, 1100, 800))                          # partly outside
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=7695)
    coords: dict = {}
    g, invalid = _clean_polygons(gdf, "parcels", compiled=True, coords=coords)
    assert not invalid and len(coords["ring"]) == sum(len(p.exterior.coords) for p in geoms)
    shared = T.cadastre_topology(g, boundary, compiled=True, coords=coords)
    own = T.cadastre_topology(g, boundary, compiled=True)
    assert shared.union_area == own.union_area and shared.gap_area == own.gap_area
    assert shared.overlaps.equals(own.overlaps) and shared.outside.equals(own.outside)
    assert own.outside["parcel"].tolist() == [len(geoms) - 1]
    assert own.outside["area_m2"].iloc[0] == pytest.approx(200 * 100 - 100 * 50)   # all but its corner inside


def test_a_repaired_parcel_drops_the_shared_coordinates():
    bow_tie = Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    gdf = gpd.GeoDataFrame(geometry=[rect(0, 0, 10, 10), bow_tie], crs=7695)
    coords: dict = {}
    _, invalid = _clean_polygons(gdf, "parcels", compiled=True, coords=coords)
    assert invalid == [1] and coords == {}


def test_joined_ids_known_answer():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    assert _joined_ids(lambda pos: ids[pos], [[2, 0], [], [3]]) == ["c, a", "", "d"]
    assert _joined_ids(lambda pos: ids[pos], []) == []


def test_balance_outside_and_gaps_known_answer():
    """Three 100 m parcels in a row, the boundary covers the first two and 10 m more: one gap of
    10 x 100 m next to parcel 2, parcel 3 wholly outside, parcel 2 not."""
    p = gpd.GeoDataFrame({"cadastral_no": ["p1", "p2", "p3"], "category": ["agricultural"] * 3},
                         geometry=[rect(0, 0, 100, 100), rect(100, 0, 200, 100), rect(300, 0, 400, 100)],
                         crs=7695)
    b = compute_balance(parcels=p, restrictions=p.iloc[:0].assign(kind=[]), boundary=rect(0, 0, 210, 100))
    t = b.to_json()["topology"]
    assert t["outside"] == [{"cadastral_no": "p3", "ha": pytest.approx(1.0)}]
    assert t["gap_ha"] == pytest.approx(0.1) and t["gaps"][0]["neighbours"] == "p2"


def test_pct_text_equals_numpy_text():
    from gis_planner.balance.core import _pct_text

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.random(20_000) * 100, rng.random(500) * 1e-3, rng.uniform(-5e4, 5e4, 500),
                        [0.05, 0.15, 0.25, 99.95, 100.0, 100.00000000000001, 1e-300, -0.04, np.nan, np.inf]])
    assert _pct_text(x).tolist() == np.char.add(np.round(x, 1).astype(str), "%").tolist()


def test_coded_attributes_merge_aliases_and_nulls():
    from gis_planner.balance.core import _coded, _codes

    raw = pd.Series(["Agricultural", None, "odd value", "agricultural", "", "settlement", "agricultural land"])
    codes, pos, distinct = _coded(raw, "land_categories")
    assert codes.tolist() == ["agricultural", "unknown", "odd value", "agricultural", "unknown", "settlement",
                              "agricultural"]
    assert np.array(distinct, dtype=object)[pos].tolist() == codes.tolist() == _codes(raw, "land_categories").tolist()
    assert len(distinct) == len(set(distinct)) == 4


def test_tables_count_aliases_once():
    """Two spellings of one category, a null and an unknown value: areas and counts by code."""
    p = gpd.GeoDataFrame({"cadastral_no": list("abcde"),
                          "category": ["Agricultural", "agricultural", None, "odd", "settlement"],
                          "land_type": ["arable", "pasture", None, None, None]},
                         geometry=[rect(0, 0, 100, 100), rect(100, 0, 200, 100), rect(200, 0, 300, 100),
                                   rect(300, 0, 400, 100), rect(400, 0, 500, 100)], crs=7695)
    r = gpd.GeoDataFrame({"kind": ["hazard"], "subtype": ["flood"], "level": ["high"]},
                         geometry=[rect(50, 0, 250, 100)], crs=7695)
    b = compute_balance(parcels=p, restrictions=r)
    cat = dict(zip(b.by_category["code"], zip(b.by_category["area_ha"], b.by_category["parcels"])))
    assert cat == {"agricultural": (2.0, 2), "settlement": (1.0, 1), "unknown": (1.0, 1), "odd": (1.0, 1)}
    assert b.restricted.loc["agricultural", "hazard"] == pytest.approx(1.5)
    assert b.restricted.loc["unknown", "hazard"] == pytest.approx(0.5)
    assert b.restricted.loc["settlement", "hazard"] == 0.0
    # catalogue order, then the others sorted (as before the tables counted by code position)
    assert list(b.restricted.index) == list(b.by_category["code"]) == ["agricultural", "settlement", "odd", "unknown"]
    assert b.provenance["warnings"] == ["parcels.category: values not in layers/land_categories.yaml, counted "
                                        "apart (1.00 ha): odd"]
    lt = b.restricted_land_type
    assert lt.loc["pasture", "hazard"] == pytest.approx(1.0) and lt.loc["arable", "hazard"] == pytest.approx(0.5)
    assert b.parcels["restrictions"].tolist()[:3] == ["hazard:flood:high 50.0%", "hazard:flood:high 100.0%",
                                                      "hazard:flood:high 50.0%"]
