"""Land-use balance and restriction cross-tab (issue 3): hand-computable cadastres in EPSG:7695."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from gis_planner.balance import (cadastre_topology, compute_balance, load_reported, overlay_areas,
                                 restriction_crosstab, subdivide, write_xlsx)
from gis_planner.errors import GisPlannerError
from tests.helpers import CRS, X0, Y0, gdf, rect, square

JSON_KEYS = {"total_ha", "by_category", "by_land_type", "use_status", "restricted", "unrestricted_ha",
             "topology", "provenance"}


def parcels(rows):
    """rows: (cadastral_no, category, geometry[, land_type, use_status, owner_type])."""
    recs = []
    for r in rows:
        rec = {"cadastral_no": r[0], "category": r[1]}
        for k, v in zip(("land_type", "use_status", "owner_type"), r[3:]):
            rec[k] = v
        recs.append(rec)
    return gdf(recs, [r[2] for r in rows])


def restr(rows):
    """rows: (kind, subtype, level, geometry)."""
    return gdf([{"kind": k, "subtype": s, "level": lv} for k, s, lv, _ in rows], [r[3] for r in rows])


def tri(*pts):
    return Polygon([(X0 + x, Y0 + y) for x, y in pts])


# ---------------------------------------------------------------------- restriction cross-tab
def test_overlapping_restrictions_of_one_kind_are_not_double_counted():
    p = parcels([("A", "agricultural", square(0, 0, 100))])          # 1 ha
    r = restr([("hazard", "flood", "high", rect(0, 0, 60, 100)),     # 0.6 ha of A
               ("hazard", "mudflow", "low", rect(40, 0, 100, 100)),  # 0.6 ha, 0.2 ha shared
               ("protected_area", "core", None, rect(-50, 0, 20, 100))])
    b = compute_balance(parcels=p, restrictions=r)
    j = b.to_json()
    assert j["restricted"]["hazard"]["agricultural"] == pytest.approx(1.0, abs=1e-12)  # not 1.2
    assert j["restricted"]["protected_area"]["agricultural"] == pytest.approx(0.2, abs=1e-12)
    assert j["restricted_detail"]["hazard:flood:high"]["agricultural"] == pytest.approx(0.6, abs=1e-12)
    assert j["restricted_detail"]["hazard:mudflow:low"]["agricultural"] == pytest.approx(0.6, abs=1e-12)
    # any restriction = union of all kinds (hazard already covers everything)
    assert j["restricted_any"]["agricultural"] == pytest.approx(1.0, abs=1e-12)
    assert j["unrestricted_ha"] == pytest.approx(0.0, abs=1e-12)


def test_parcel_crossing_two_zones_and_triangle():
    p = parcels([("A", "settlement", rect(0, 0, 200, 100)),                  # 2 ha
                 ("T", "agricultural", tri((300, 0), (400, 0), (300, 100)), "pasture")])  # 0.5 ha
    r = restr([("protected_area", "buffer", None, rect(-50, -50, 50, 150)),   # 0.5 ha of A
               ("water_protection_zone", "river", None, rect(150, -10, 350, 110)),  # 0.5 ha of A
               ])
    b = compute_balance(parcels=p, restrictions=r)
    j = b.to_json()
    assert j["restricted"]["protected_area"] == {"settlement": pytest.approx(0.5), "agricultural": 0.0}
    # triangle part with x < 350: integral of (100 - x) dx over 0..50 = 3750 m2
    assert j["restricted"]["water_protection_zone"]["agricultural"] == pytest.approx(0.375, abs=1e-12)
    assert j["restricted"]["water_protection_zone"]["settlement"] == pytest.approx(0.5, abs=1e-12)
    assert j["unrestricted_ha"] == pytest.approx(2.5 - 1.0 - 0.375, abs=1e-12)
    pr = b.parcel_restrictions.set_index(["cadastral_no", "group"])
    assert pr.loc[("A", "protected_area"), "share"] == pytest.approx(0.25)
    assert pr.loc[("A", "water_protection_zone"), "share"] == pytest.approx(0.25)
    assert pr.loc[("T", "water_protection_zone"), "share"] == pytest.approx(0.75)
    row = b.parcels.set_index("cadastral_no").loc["A"]
    assert row["restricted_ha"] == pytest.approx(1.0) and row["restricted_share"] == pytest.approx(0.5)
    assert "protected_area:buffer 25.0%" in row["restrictions"]
    # the cross-tab by land type: pasture row
    assert b.restricted_land_type.loc["pasture", "water_protection_zone"] == pytest.approx(0.375)


def test_land_types_state_fund_use_ratio_and_owner():
    p = parcels([
        ("1", "agricultural", square(0, 0, 100), "irrigated", "used", "private"),       # 1 ha
        ("2", "agricultural", rect(100, 0, 300, 100), "rain_fed", "unused", "state_fund"),  # 2 ha
        ("3", "agricultural", rect(300, 0, 600, 100), "pasture", "used", "state"),      # 3 ha
        ("4", "settlement", rect(600, 0, 1000, 100), None, "used", "municipal"),        # 4 ha
    ])
    b = compute_balance(parcels=p, restrictions=restr([]))
    j = b.to_json()
    assert j["total_ha"] == pytest.approx(10.0)
    assert j["by_category"] == {"agricultural": pytest.approx(6.0), "settlement": pytest.approx(4.0)}
    # JSON: land types as recorded, a partition of agricultural land; the parent total separately
    assert j["by_land_type"] == {"irrigated": pytest.approx(1.0), "rain_fed": pytest.approx(2.0),
                                 "pasture": pytest.approx(3.0)}
    assert sum(j["by_land_type"].values()) == pytest.approx(j["by_category"]["agricultural"])
    assert j["land_type_groups"] == {"arable": pytest.approx(3.0)}             # irrigated + rain-fed
    lt = b.by_land_type.set_index("code")["area_ha"]                          # the table shows both levels
    assert lt["arable"] == pytest.approx(3.0) and lt["irrigated"] == pytest.approx(1.0)
    assert j["state_fund"] == {"rain_fed": pytest.approx(2.0)}
    assert j["use_status"] == {"used": pytest.approx(8.0), "unused": pytest.approx(2.0)}
    assert j["use_ratio"]["used_to_unused"] == pytest.approx(4.0)
    assert j["use_ratio"]["used_pct"] == pytest.approx(80.0)
    assert j["by_owner"]["state_fund"] == pytest.approx(2.0)
    cnt = b.by_category.set_index("code")["parcels"]
    assert cnt["agricultural"] == 3 and cnt["settlement"] == 1
    assert j["unrestricted_ha"] == pytest.approx(10.0)


def test_zones_by_settlement_layer():
    p = parcels([("1", "settlement", rect(0, 0, 200, 100)), ("2", "agricultural", rect(200, 0, 300, 100))])
    zones = gdf([{"name": "Tamga"}, {"name": "Tamga"}, {"name": "Barskoon"}],
                [rect(0, 0, 150, 100), rect(100, 0, 160, 100), rect(250, 0, 400, 100)])
    b = compute_balance(parcels=p, restrictions=restr([]), zones=zones)
    z = b.by_zone.set_index("zone")
    assert z.loc["Tamga", "area_ha"] == pytest.approx(1.6) and z.loc["Tamga", "parcels"] == 1
    assert z.loc["Barskoon", "area_ha"] == pytest.approx(0.5)
    assert z.loc["__outside__", "area_ha"] == pytest.approx(3.0 - 1.6 - 0.5)


# ---------------------------------------------------------------------- topology
def test_overlaps_gaps_outside_and_identity():
    boundary = rect(0, 0, 300, 100)                                    # 3 ha
    p = parcels([("A", "agricultural", square(0, 0, 100)),             # 1 ha
                 ("B", "agricultural", rect(90, 0, 190, 100)),         # 1 ha, 0.1 ha over A
                 ("C", "settlement", rect(200, 0, 320, 100))])         # 1.2 ha, 0.2 ha outside; gap 190-200
    b = compute_balance(parcels=p, restrictions=restr([]), boundary=boundary)
    topo = b.to_json()["topology"]
    assert topo["overlap_ha"] == pytest.approx(0.1)
    assert topo["overlap_pairs"] == [{"a": "A", "b": "B", "ha": pytest.approx(0.1)}]
    assert topo["gap_ha"] == pytest.approx(0.1)
    assert topo["gaps"][0]["neighbours"] == "B, C"
    assert topo["outside_ha"] == pytest.approx(0.2)
    assert topo["outside"] == [{"cadastral_no": "C", "ha": pytest.approx(0.2)}]
    assert b.total_ha == pytest.approx(3.2)                           # full parcel areas in the rows
    ident = topo["identity"]
    assert ident["boundary_ha"] == pytest.approx(3.0)
    assert b.total_ha == pytest.approx(3.0 - 0.1 + 0.2 + 0.1, abs=1e-9)
    assert ident["residual_ha"] == pytest.approx(0.0, abs=1e-9)


def test_triple_overlap_and_contained_parcel():
    geoms = np.array([square(0, 0, 100), square(50, 0, 100), square(25, 25, 50),   # 3 overlap in a patch
                      square(200, 0, 100), square(220, 20, 10)])                     # 4 contains 5
    t = cadastre_topology(geoms, boundary=None)
    pairs = {(int(a), int(b)): area for a, b, area in t.overlaps.itertuples(index=False)}
    assert pairs[(0, 1)] == pytest.approx(5000.0)
    assert pairs[(0, 2)] == pytest.approx(2500.0)
    assert pairs[(1, 2)] == pytest.approx(1250.0)                 # x 50..75, y 25..75
    assert pairs[(3, 4)] == pytest.approx(100.0)
    # double counted = sum of areas - union area (not the sum of pairs when three overlap)
    union = shapely.union_all(geoms[:3]).area
    assert t.double_counted == pytest.approx(geoms[0].area + geoms[1].area + geoms[2].area - union + 100.0)


def test_invalid_parcel_is_repaired_and_reported():
    bow = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])  # bow-tie, 2 x 0.25 ha
    p = parcels([("bow", "reserve", bow)])
    b = compute_balance(parcels=p, restrictions=restr([]))
    assert b.total_ha == pytest.approx(0.5)
    assert b.topology["invalid_repaired"] == ["bow"]


# ---------------------------------------------------------------------- CRS
def test_non_metric_input_crs_gives_same_hectares():
    p = parcels([("A", "agricultural", rect(0, 0, 200, 100)), ("B", "settlement", rect(200, 0, 300, 100))])
    r = restr([("hazard", "flood", "high", rect(100, -10, 250, 110)),
               ("protected_area", "core", None, tri((0, 0), (100, 0), (0, 100)))])
    ref = compute_balance(parcels=p, restrictions=r).to_json()
    r4326 = r.to_crs(4326)
    got = compute_balance(parcels=p, restrictions=r4326).to_json()
    got2 = compute_balance(parcels=p.to_crs(4326), restrictions=r4326).to_json()
    assert got["provenance"]["crs"] == "EPSG:7695" and got2["provenance"]["crs"] == "EPSG:7695"
    for j in (got, got2):
        assert j["total_ha"] == pytest.approx(3.0, rel=1e-9)
        for kind, per_cat in ref["restricted"].items():
            for cat, ha in per_cat.items():
                assert j["restricted"][kind][cat] == pytest.approx(ha, rel=1e-9, abs=1e-9)
    assert ref["restricted"]["hazard"] == {"agricultural": pytest.approx(1.0), "settlement": pytest.approx(0.5)}
    assert ref["restricted"]["protected_area"]["agricultural"] == pytest.approx(0.5)


# ---------------------------------------------------------------------- exactness vs geopandas.overlay
def _random_case(seed, n_side=12, cell=50.0):
    rng = np.random.default_rng(seed)
    xs = np.arange(n_side + 1) * cell
    gx, gy = np.meshgrid(xs, xs)
    jit = rng.uniform(-0.3, 0.3, size=gx.shape + (2,)) * cell
    px, py = gx + jit[..., 0] + X0, gy + jit[..., 1] + Y0
    polys, cats = [], []
    for i in range(n_side):
        for k in range(n_side):
            ring = [(px[i, k], py[i, k]), (px[i, k + 1], py[i, k + 1]), (px[i + 1, k + 1], py[i + 1, k + 1]),
                    (px[i + 1, k], py[i + 1, k])]
            polys.append(Polygon(ring))
            cats.append(["agricultural", "settlement", "reserve"][rng.integers(3)])
    p = gpd.GeoDataFrame({"category": cats}, geometry=polys, crs=CRS)
    ext = n_side * cell
    circles = [shapely.Point(X0 + rng.uniform(0, ext), Y0 + rng.uniform(0, ext)).buffer(rng.uniform(40, 160), 24)
               for _ in range(14)]
    kinds = ["hazard", "protected_area"] * 7
    r = gpd.GeoDataFrame({"kind": kinds}, geometry=circles, crs=CRS)
    return p, r


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_geopandas_overlay_to_1e9(seed):
    p, r = _random_case(seed)
    ours = restriction_crosstab(p, r)
    diss = r.dissolve(by="kind").reset_index()
    ov = gpd.overlay(p, diss, how="intersection", keep_geom_type=True)
    ref = (ov.assign(ha=ov.geometry.area / 1e4).groupby(["category", "kind"])["ha"].sum()
           .unstack("kind").reindex(ours.index).fillna(0.0))
    for kind in ("hazard", "protected_area"):
        a, e = ours[kind].to_numpy(), ref[kind].to_numpy()
        assert e.sum() > 1.0  # the case really has restricted area
        assert np.all(np.abs(a - e) <= 1e-9 * np.maximum(np.abs(e), 1e-6))
    # also against a small max_vertices (many pieces) through the engine
    groups = {k: r.geometry[r["kind"] == k].to_numpy() for k in ("hazard", "protected_area")}
    fine = overlay_areas(p.geometry.to_numpy(), groups, max_vertices=16)
    by_cat = fine.groupby(p["category"].to_numpy()).sum() / 1e4
    for kind in groups:
        e = ref[kind].reindex(by_cat.index).to_numpy()
        assert np.all(np.abs(by_cat[kind].to_numpy() - e) <= 1e-9 * np.maximum(np.abs(e), 1e-6))


def test_subdivide_covers_exactly():
    g = shapely.Point(X0, Y0).buffer(500, 128).difference(shapely.Point(X0, Y0).buffer(200, 64))
    pieces = subdivide(g, max_vertices=20)
    assert len(pieces) > 10
    assert max(shapely.get_num_coordinates(pieces)) <= 20 or len(pieces) > 10
    assert shapely.area(pieces).sum() == pytest.approx(g.area, rel=1e-12)
    assert shapely.union_all(pieces).symmetric_difference(g).area < 1e-6


# ---------------------------------------------------------------------- reconciliation
def test_reconciliation_flags(tmp_path):
    p = parcels([("1", "agricultural", rect(0, 0, 1000, 100)),   # 10 ha
                 ("2", "settlement", rect(1000, 0, 1500, 100)),  # 5 ha
                 ("3", "reserve", rect(1500, 0, 1600, 100))])    # 1 ha
    f = tmp_path / "reported_balance.yaml"
    f.write_text("source: form 6-zem\ndate: 2025-01-01\ncategories:\n  Земли сельскохозяйственного назначения: 10.04\n"
                 "  settlement: 6.0\n  reserve: 1.0\n  forest_fund: 2.0\n", encoding="utf-8")
    assert load_reported(f) == {"agricultural": 10.04, "settlement": 6.0, "reserve": 1.0, "forest_fund": 2.0}
    b = compute_balance(parcels=p, restrictions=restr([]), reported=f)
    rec = b.reconciliation.set_index("code")
    assert not rec.loc["agricultural", "flag"]            # 0.04 ha < 0.5 ha and 0.4 % < 1 %
    assert rec.loc["settlement", "flag"]                   # -1 ha, -16.7 %
    assert rec.loc["settlement", "diff_ha"] == pytest.approx(-1.0)
    assert not rec.loc["reserve", "flag"]
    assert rec.loc["forest_fund", "flag"] and rec.loc["forest_fund", "computed_ha"] == 0.0
    assert rec.loc["total", "diff_ha"] == pytest.approx(16.0 - 19.04)
    # either limit flags: 0.3 ha is within 0.5 ha but 2.9 % is above 1 %
    b2 = compute_balance(parcels=p, restrictions=restr([]), reported={"agricultural": 10.3})
    assert b2.reconciliation.set_index("code").loc["agricultural", "flag"]
    # a large category: 0.2 % but 20 ha off is flagged by the absolute limit
    big = parcels([("1", "agricultural", rect(0, 0, 10_000, 1_000))])           # 1000 ha
    b3 = compute_balance(parcels=big, restrictions=restr([]), reported={"agricultural": 1002.0})
    assert b3.reconciliation.set_index("code").loc["agricultural", "flag"]
    b4 = compute_balance(parcels=big, restrictions=restr([]), reported={"agricultural": 1002.0},
                         abs_tolerance_ha=5.0)
    assert not b4.reconciliation.set_index("code").loc["agricultural", "flag"]
    with pytest.raises(GisPlannerError, match="unknown land category"):
        load_reported({"orchards of gold": 1.0})


# ---------------------------------------------------------------------- outputs
def test_json_keys_and_xlsx_headers(tmp_path):
    p = parcels([("A", "agricultural", square(0, 0, 100), "arable", "used", "private")])
    r = restr([("hazard", "mudflow", "high", rect(50, 0, 150, 100))])
    b = compute_balance(parcels=p, restrictions=r, boundary=rect(0, 0, 100, 100))
    j = b.to_json()
    assert JSON_KEYS <= set(j)
    assert j["restricted"] == {"hazard": {"agricultural": pytest.approx(0.5)}}
    json.dumps(j)  # serialisable as is
    from openpyxl import load_workbook

    path = write_xlsx(b, tmp_path / "b.xlsx", lang="ru")
    wb = load_workbook(path)
    assert "Категории" in wb.sheetnames and "Ограничения" in wb.sheetnames and "Наложения" in wb.sheetnames
    ws = wb["Ограничения"]
    headers = [c.value for c in ws[1]]
    assert "Категория земель" in headers and "Зона природной опасности" in headers
    assert "Без ограничений" in headers
    wb_ky = load_workbook(write_xlsx(b, tmp_path / "k.xlsx", lang="ky"))
    assert "Категориялар" in wb_ky.sheetnames


def test_cli_balance_json_on_tmp_workspace(tmp_ws, capsys):
    from gis_planner.cli import main

    p = parcels([("A", "agricultural", rect(0, 0, 200, 100), "pasture", "used", "state"),
                 ("B", "settlement", rect(200, 0, 300, 100), None, "used", "private")])
    tmp_ws.write_layers(
        {"parcels": p, "boundary": gdf([{"name": "Test"}], [rect(0, 0, 300, 100)]),
         "protected_areas": gdf([{"name": "PA", "pa_type": "zakaznik", "regime": "buffer"}],
                                [rect(-100, 0, 50, 100)]),
         "hazard_zones": gdf([{"hazard_type": "mudflow", "level": "high", "method": "official"},
                              {"hazard_type": "mudflow", "level": "medium", "method": "official"}],
                             [rect(150, 0, 260, 100), rect(180, 0, 300, 100)])},
        {"parcels": {"source": "test"}, "boundary": {"source": "test"},
         "protected_areas": {"source": "test"}, "hazard_zones": {"source": "test"}})
    (tmp_ws.root / "reported_balance.yaml").write_text("agricultural: 2.0\nsettlement: 3.0\n")
    assert main(["balance", "-w", str(tmp_ws.root), "--format", "json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= set(j)
    assert j["total_ha"] == pytest.approx(3.0)
    assert j["by_category"] == {"agricultural": pytest.approx(2.0), "settlement": pytest.approx(1.0)}
    assert j["restricted"]["protected_area"]["agricultural"] == pytest.approx(0.5)
    assert j["restricted"]["hazard"]["agricultural"] == pytest.approx(0.5)   # 150..200 of A
    assert j["restricted"]["hazard"]["settlement"] == pytest.approx(1.0)     # union 150..300
    assert j["restricted_detail"]["hazard:mudflow:medium"]["settlement"] == pytest.approx(1.0)
    assert j["topology"]["identity"]["residual_ha"] == pytest.approx(0.0, abs=1e-9)
    rec = {r["code"]: r for r in j["reconciliation"]}
    assert rec["settlement"]["flag"] is True and rec["agricultural"]["flag"] is False
    # terminal table in Russian, and an XLSX beside it
    xlsx = tmp_ws.root / "balance.xlsx"
    assert main(["balance", "-w", str(tmp_ws.root), "--lang", "ru", "--xlsx", str(xlsx)]) == 0
    out = capsys.readouterr().out
    assert "Земли сельскохозяйственного назначения" in out and "Сверка с кадастром" in out
    assert xlsx.exists()
    assert main(["balance", "-w", str(tmp_ws.root), "--format", "csv", "--table", "restricted",
                 "--lang", "en"]) == 0
    csv = capsys.readouterr().out
    assert csv.splitlines()[0].startswith("Code,Land category,")


def test_no_category_field_is_a_clear_error():
    p = gdf([{"cadastral_no": "1"}], [square(0, 0, 10)])
    with pytest.raises(GisPlannerError, match="category"):
        compute_balance(parcels=p, restrictions=restr([]))


# ---------------------------------------------------------------------- the demo
def test_demo_balance_identity(demo_ws):
    b = compute_balance(demo_ws)
    j = b.to_json()
    topo = j["topology"]
    ident = topo["identity"]
    assert ident is not None, "the demo has a boundary"
    # sum of rows = boundary - gaps + outside + overlaps, exactly
    rows = sum(j["by_category"].values())
    assert rows == pytest.approx(j["total_ha"], rel=1e-12)
    assert sum(j["by_land_type"].values()) == pytest.approx(j["by_category"]["agricultural"], rel=1e-12)
    assert sum(j["use_status"].values()) == pytest.approx(j["total_ha"], rel=1e-12)
    expected = topo["boundary_ha"] - topo["gap_ha"] + topo["outside_ha"] + topo["overlap_ha"]
    assert rows == pytest.approx(expected, abs=1e-6)
    # the deliberate topology errors of the demo are found
    assert topo["overlap_ha"] > 0 and topo["overlap_pairs"]
    assert topo["gap_ha"] > 0
    assert topo["outside_ha"] > 0 and topo["outside"]
    # reconciliation against the demo's reported balance flags the deliberate differences
    import yaml

    spec = yaml.safe_load((demo_ws.root / "reported_balance.yaml").read_text(encoding="utf-8"))
    rec = b.reconciliation[b.reconciliation["code"] != "total"]
    assert set(rec.loc[rec["flag"], "code"]) == set(spec.get("deliberate_differences_ha") or {})
    # every restricted area is within its category's total
    for kind, per_cat in j["restricted"].items():
        for cat, ha in per_cat.items():
            assert ha <= j["by_category"][cat] + 1e-9
    assert j["unrestricted_ha"] <= j["total_ha"]
    assert list(b.restricted.index) == list(j["by_category"])
    # the zoning module's restriction frame was used and found the demo's water zones and hazards
    assert "water_protection_zone" in j["restricted"] and "hazard" in j["restricted"]


def test_parallel_coverage_check_equals_whole_check():
    from gis_planner.balance.topology import _invalid_edges, _suspects

    cells = [square(i * 10, j * 10, 10) for i in range(30) for j in range(20)]
    extra = [square(55, 55, 10), square(203, 100, 4), square(120, 0, 10)]   # overlapping, contained, duplicate
    geoms = np.array(cells + extra, dtype=object)
    whole = _invalid_edges(geoms)
    assert whole.sum() > 3
    strips = _suspects(geoms, shapely.STRtree(geoms), workers=2, min_per_strip=50)
    assert (strips == whole).all()
    t = cadastre_topology(geoms, boundary=rect(0, 0, 300, 200))
    assert t.double_counted == pytest.approx(100.0 + 16.0 + 100.0)
    assert t.gap_area == pytest.approx(0.0)


def test_layer_restriction_frame_fallback(tmp_ws):
    from gis_planner.balance import layer_restriction_frame

    tmp_ws.write_layers(
        {"protected_areas": gdf([{"name": "PA", "regime": "core"}, {"name": "PA2", "regime": "buffer"}],
                                [rect(0, 0, 100, 100), rect(50, 0, 150, 100)]),
         "hazard_zones": gdf([{"hazard_type": "flood", "level": "high"}], [rect(0, 0, 10, 10)]),
         "water_bodies": gdf([{"name": "river", "water_type": "river"}], [rect(0, 200, 10, 300)])},
        {k: {"source": "test"} for k in ("protected_areas", "hazard_zones", "water_bodies")})
    fr = layer_restriction_frame(tmp_ws)
    assert fr["kind"].tolist() == ["protected_area", "protected_area", "hazard"]   # no invented water zones
    assert fr["subtype"].tolist() == ["core", "buffer", "flood"]
    assert fr["level"].tolist()[2] == "high"
    p = parcels([("A", "reserve", rect(0, 0, 200, 100))])                              # 2 ha
    j = compute_balance(parcels=p, restrictions=fr).to_json()
    assert j["restricted"]["protected_area"]["reserve"] == pytest.approx(1.5)      # union, not 2.0
    assert j["restricted_detail"]["protected_area:core"]["reserve"] == pytest.approx(1.0)
    assert j["restricted_detail"]["protected_area:buffer"]["reserve"] == pytest.approx(1.0)
