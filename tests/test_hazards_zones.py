"""Susceptibility zones, official zones and exposure: hand-computable cases, then the demo workspace."""
from __future__ import annotations

import json
import math
import shutil

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point

from gis_planner import hazards as H
from gis_planner.errors import GisPlannerError
from gis_planner.hazards import susceptibility as S
from tests.helpers import CRS, X0, Y0, gdf, rect, square


def zone_rows(records):
    """hazard_zones rows from (hazard_type, level, method, geometry) tuples."""
    return gdf([{"hazard_type": h, "level": lv, "method": m, "source": "test", "date": "2026-01-01"}
                for h, lv, m, _ in records], [g for *_, g in records])


# ----------------------------------------------------------------------------- level rasters
def south_ramp(rows=12, cols=8, res=10.0, fall=1.0, lake_rows=2, base=1600.0):
    """A plane falling ``fall`` m per row southwards onto a flat lake in the last ``lake_rows`` rows."""
    z = base + (rows - lake_rows - np.arange(rows))[:, None] * fall + np.zeros((1, cols))
    z[-lake_rows:] = base
    lake = np.zeros_like(z, dtype=bool)
    lake[-lake_rows:] = True
    return z, lake, from_origin(X0, Y0 + rows * res, res, res)


def test_flood_levels_follow_hand_above_the_lake():
    z, lake, tr = south_ramp()
    terr = S.compute_terrain(z, tr, CRS, lakes=lake)
    rules = H.hazard_rules()
    lv = S.flood_levels(terr, rules)
    hand = terr.extra["hand"]
    # a row k rows above the lake drains straight to it: HAND = k m
    for k in range(1, 10):
        assert np.allclose(hand[-2 - k], k)
    # lake-shore thresholds 1 / 2 / 3 m (layers/hazards.yaml): k=1 high, 2 medium, 3 low, above: none
    by_row = [int(v) for v in lv[:, 3]]
    assert by_row == [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0]
    # river thresholds 1.5 / 3 / 5 m apply where the lake ones are not given
    del rules["flood"]["lake_hand_m"]
    by_row = [int(v) for v in S.flood_levels(terr, rules)[:, 3]]
    assert by_row == [0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 0, 0]


def test_avalanche_and_landslide_levels_on_planes():
    res = 10.0
    rows, cols = 20, 10
    grad = math.tan(math.radians(35))  # a 35° slope facing south, above 2000 m
    z = 2100 + (rows - np.arange(rows))[:, None] * res * grad + np.zeros((1, cols))
    terr = S.compute_terrain(z, from_origin(X0, Y0 + rows * res, res, res), CRS)
    assert np.allclose(terr.slope[1:-1, 1:-1], 35.0, atol=1e-3)
    rules = H.hazard_rules()
    av = S.avalanche_levels(terr, rules)
    assert (av[1:-1, 1:-1] == 3).all()          # 30–45° above 2000 m: high start zone
    rules["avalanche"]["min_elevation_m"] = 5000
    assert not S.avalanche_levels(terr, rules).any()  # configurable elevation
    ls = S.landslide_levels(terr, H.hazard_rules())
    assert (ls[1:-1, 1:-1] == 3).all()          # very steep (30–45°), planar: high
    # inventory points raise the level of a moderate slope near them
    gentle = 2100 + (rows - np.arange(rows))[:, None] * res * math.tan(math.radians(14)) + np.zeros((1, cols))
    t2 = S.compute_terrain(gentle, from_origin(X0, Y0 + rows * res, res, res), CRS)
    base = S.landslide_levels(t2, H.hazard_rules())
    assert (base[1:-1, 1:-1] == 1).all()        # moderate, planar: low
    inv = gdf([{}], [Point(X0 + 45, Y0 + 105)])
    bumped = S.landslide_levels(t2, H.hazard_rules(), inventory=inv)
    assert (bumped[1:-1, 1:-1] == 2).all()      # within 500 m of a known landslide: one level up


def test_levels_to_polygons_exact_square_and_sieve():
    lv = np.zeros((30, 30), np.uint8)
    lv[5:15, 5:15] = 3      # 10×10 cells of 10 m = 1 ha
    lv[20, 20] = 2          # a single cell: smaller than min_area_ha (1 ha) → merged away
    tr = from_origin(X0, Y0 + 300, 10, 10)
    out = S.levels_to_polygons(lv, tr, CRS, H.hazard_rules(), hazard_type="flood", method="hand_v1",
                               source="test", date="2026-01-01")
    assert len(out) == 1
    row = out.iloc[0]
    assert row["level"] == "high" and row["hazard_type"] == "flood" and row["method"] == "hand_v1"
    assert row.geometry.is_valid and row.geometry.area == pytest.approx(10_000.0)
    assert row.geometry.bounds == pytest.approx((X0 + 50, Y0 + 150, X0 + 150, Y0 + 250))


# ----------------------------------------------------------------------------- workspace compute
def write_dem(path, z, tr, crs=CRS):
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                       dtype="float32", crs=f"EPSG:{crs}", transform=tr, nodata=-9999) as ds:
        ds.write(np.where(np.isnan(z), -9999, z).astype("float32"), 1)


def valley_dem(rows=60, cols=61, res=20.0):
    """A valley with steep sides (31°) and a steep upper course (26°) that reaches a gentle, 340 m wide
    floor (1.4°) at row 30 and a lake in the last 6 rows; high enough for avalanches."""
    rr, cc = np.mgrid[0:rows, 0:cols]
    along = np.where(rr >= 30, 0.5 * (rows - 6 - rr), 12.0 + 10.0 * (30 - rr))
    z = 1990 + np.maximum(np.abs(cc - cols // 2) - 8, 0) * 12.0 + along
    z[-6:] = 1990.0
    return z, from_origin(X0, Y0 + rows * res, res, res)


def test_compute_keeps_official_rows_and_replaces_computed(tmp_ws, tmp_path):
    z, tr = valley_dem()
    write_dem(tmp_path / "dem.tif", z, tr)
    tmp_ws.set_dem(tmp_path / "dem.tif", source="analytic valley", source_date="2026-01-01")
    lake = gdf([{"name": "lake", "water_type": "lake"}], [rect(0, 0, 61 * 20, 6 * 20)])
    official = zone_rows([("mudflow", "high", "official", square(500, 300, 200))])
    tmp_ws.write_layers({"water_bodies": lake, "hazard_zones": official})
    seen = []
    zones = H.run_hazards(tmp_ws, progress=lambda f, m: seen.append((f, m)), lang="en")
    assert seen[-1][0] == pytest.approx(1.0) and all(0 <= f <= 1 for f, _ in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)   # monotone progress
    # no mudflow with the default rules: the steep course drains 0.17 km² (< min_catchment_km2 0.25) and
    # the gentle floor below it (1.4°) is fluvial, not a debris-flow channel
    assert set(zones["hazard_type"]) == {"flood", "landslide", "avalanche"}
    assert zones.geometry.is_valid.all() and set(zones["level"]) <= {"high", "medium", "low"}
    assert (zones.geometry.area >= 10_000 - 1e-6).all()          # min_area_ha = 1
    methods = dict(zip(zones["hazard_type"], zones["method"]))
    rules = H.hazard_rules()
    assert methods == {h: rules[h]["method"] for h in ("flood", "landslide", "avalanche")}
    stored = H.read_hazard_zones(tmp_ws)
    assert (stored["method"] == "official").sum() == 1
    assert len(stored) == len(zones) + 1
    # the lake itself is water, never a flood zone
    lake_geom = lake.geometry.iloc[0].buffer(-25)
    assert stored[stored["hazard_type"] == "flood"].intersection(lake_geom).area.sum() < 1e-6
    # recomputing one type replaces only that type's computed rows
    again = H.run_hazards(tmp_ws, hazards=["flood"])
    stored2 = H.read_hazard_zones(tmp_ws)
    assert (stored2["method"] == "official").sum() == 1
    assert len(stored2) == len(stored) - (zones["hazard_type"] == "flood").sum() + len(again)
    # a workspace override of layers/hazards.yaml changes the result (rules are data)
    (tmp_ws.root / "layers").mkdir()
    (tmp_ws.root / "layers" / "hazards.yaml").write_text("avalanche:\n  min_elevation_m: 9000\n")
    assert not len(H.compute_hazard_zones(tmp_ws, hazards=["avalanche"]))


def test_geographic_dem_is_warped_to_the_workspace_crs(tmp_ws, tmp_path):
    z = np.add.outer(np.arange(40.0)[::-1] * 20, np.zeros(40)) + 1700
    tr = from_origin(77.0, 42.72, 0.001, 0.001)
    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", driver="GTiff", width=40, height=40, count=1, dtype="float32",
                       crs="EPSG:4326", transform=tr) as ds:
        ds.write(z.astype("float32"), 1)
    zz, tr2, crs = S.load_dem(path, 7695)
    assert crs.to_epsg() == 7695 and abs(tr2.a) == pytest.approx(abs(tr2.e))
    assert 80 < abs(tr2.a) < 100  # ~0.001° at 42.7° N: 111 m × 82 m → ~95 m square cells


def test_missing_dem_is_a_clear_error(tmp_ws):
    with pytest.raises(GisPlannerError, match="no DEM") as exc:
        H.compute_hazard_zones(tmp_ws)
    assert "dem set" in str(exc.value)


# ----------------------------------------------------------------------------- official zones
def test_effective_zones_official_governs_and_comparison():
    z = zone_rows([("flood", "medium", "official", square(0, 0, 100)),
                   ("flood", "high", "hand_v1", square(50, 0, 100)),       # half inside the official zone
                   ("mudflow", "high", "melton_fan_v1", square(0, 0, 100))])  # other type: untouched
    eff = H.effective_hazard_zones(z)
    flood = eff[eff["hazard_type"] == "flood"]
    assert sorted(zip(flood["basis"], flood["level"], flood.geometry.area)) == [
        ("computed", "high", pytest.approx(5000.0)), ("official", "medium", pytest.approx(10000.0))]
    assert eff[eff["hazard_type"] == "mudflow"].geometry.area.sum() == pytest.approx(10000.0)
    cmp = H.compare_official_computed(z).set_index(["hazard_type", "level"])
    assert cmp.loc[("flood", "high"), "computed_ha"] == pytest.approx(1.0)
    assert cmp.loc[("flood", "high"), "computed_in_official_ha"] == pytest.approx(0.5)
    assert cmp.loc[("flood", "high"), "effective_ha"] == pytest.approx(0.5)
    assert cmp.loc[("flood", "medium"), "official_ha"] == pytest.approx(1.0)


def test_import_official_map_with_russian_fields(tmp_ws, tmp_path):
    src = gpd.GeoDataFrame({"Вид опасности": ["Сель", "оползень"], "Уровень": ["высокий", "Средний"]},
                           geometry=[square(0, 0, 100), square(200, 0, 100)], crs=CRS).to_crs(4326)
    path = tmp_path / "mchs.geojson"
    src.to_file(path, driver="GeoJSON")
    tmp_ws.write_layer("hazard_zones", zone_rows([("flood", "high", "hand_v1", square(0, 0, 50))]),
                       source="computed")
    res = H.import_official_zones(tmp_ws, path, source="MChS KR 2024", date="2024-05-01")
    assert res == {"imported": 2, "replaced": 0, "kept": 1}
    z = H.read_hazard_zones(tmp_ws)
    off = z[z["method"] == "official"].sort_values("hazard_type")
    assert off["hazard_type"].tolist() == ["landslide", "mudflow"]
    assert off["level"].tolist() == ["medium", "high"]
    assert off.geometry.area.tolist() == pytest.approx([10000.0, 10000.0], rel=1e-6)
    assert (z["method"] == "hand_v1").sum() == 1            # computed rows untouched
    # re-import of the same source replaces it
    res = H.import_official_zones(tmp_ws, path, source="MChS KR 2024", date="2024-06-01")
    assert res["replaced"] == 2 and len(H.read_hazard_zones(tmp_ws)) == 3


def test_import_official_unknown_value_names_file_and_feature(tmp_path, tmp_ws):
    src = gpd.GeoDataFrame({"hazard": ["flood", "tsunami"], "level": ["high", "high"]},
                           geometry=[square(0, 0, 10), square(20, 0, 10)], crs=CRS)
    path = tmp_path / "bad.gpkg"
    src.to_file(path)
    with pytest.raises(GisPlannerError) as exc:
        H.import_official_zones(tmp_ws, path, source="x")
    err = exc.value
    # the feature id is the GeoPackage fid, as `gis-planner import` reports it (one reader for both)
    assert err.code == "unknown_hazard_type" and err.feature == 2 and "bad.gpkg" in err.file
    assert "tsunami" in str(err) and "flood" in err.fix
    # a one-type map without the column: --hazard-type fills it in
    one = gpd.GeoDataFrame({"level": ["low"]}, geometry=[square(0, 0, 10)], crs=CRS)
    assert H.import_official_zones(tmp_ws, one, source="y", hazard_type="кар көчкү")["imported"] == 1
    assert H.read_hazard_zones(tmp_ws)["hazard_type"].tolist() == ["avalanche"]


# ----------------------------------------------------------------------------- exposure
@pytest.fixture
def exposure_ws(tmp_ws):
    zones = zone_rows([("flood", "high", "hand_v1", rect(0, 0, 100, 100)),
                       ("flood", "medium", "hand_v1", rect(0, 0, 200, 100)),   # overlaps high: high wins
                       ("mudflow", "high", "official", rect(150, 0, 250, 100))])
    parcels = gdf([
        {"cadastral_no": "A", "category": "settlement", "land_use": "housing", "households": 2, "population": 7,
         "has_building": True},
        {"cadastral_no": "B", "category": "settlement", "land_use": "crop", "households": 1, "population": 4,
         "has_building": True},                                              # settlement + building: house plot
        {"cadastral_no": "C", "category": "agricultural", "land_use": "crop", "households": 0, "population": 0,
         "has_building": False},
        {"cadastral_no": "D", "category": "settlement", "land_use": "housing", "households": 3, "population": 9,
         "has_building": True},                                # 0.5% (50 m²) in flood medium: not exposed
    ], [rect(10, 10, 60, 60), rect(80, 10, 180, 60), rect(300, 0, 400, 100), rect(199.5, 0, 299.5, 100)])
    buildings = gdf([{"residents": 5}, {"residents": 3}, {"residents": 2}],
                    [Point(X0 + 20, Y0 + 20), Point(X0 + 150, Y0 + 50), Point(X0 + 500, Y0 + 50)])
    roads = gdf([{"name": "r"}], [LineString([(X0 - 50, Y0 + 50), (X0 + 350, Y0 + 50)])])
    settlements = gdf([{"name": "S"}], [rect(0, 0, 50, 100)])
    tmp_ws.write_layers({"hazard_zones": zones, "parcels": parcels, "buildings": buildings, "roads": roads,
                         "settlements": settlements})
    return tmp_ws


def test_exposure_counts_areas_and_lengths(exposure_ws):
    community = gdf([{"category": "school"}, {"category": "spring"}],
                    [Point(X0 + 120, Y0 + 20), Point(X0 + 900, Y0 + 20)])
    e = H.exposure_table(exposure_ws, community=community).set_index(["hazard_type", "level"])
    fh, fm, mh = e.loc[("flood", "high")], e.loc[("flood", "medium")], e.loc[("mudflow", "high")]
    assert fh["zone_ha"] == pytest.approx(1.0) and fm["zone_ha"] == pytest.approx(1.0)
    # A (50×50) in high; B: 20×50 in high, 80×50 in medium → counted once, at high
    assert fh["parcels"] == 2 and fm["parcels"] == 0
    assert fh["parcels_ha"] == pytest.approx((2500 + 1000) / 1e4)
    assert fm["parcels_ha"] == pytest.approx((4000 + 50) / 1e4)   # B's 80×50 + D's 0.5×100 sliver
    assert fh["house_plots"] == 2 and fh["households"] == 3 and fh["population"] == 11
    assert fh["buildings"] == 1 and fh["residents"] == 5 and fm["buildings"] == 1 and fm["residents"] == 3
    assert fh["settlement_ha"] == pytest.approx(0.5)
    assert fh["roads_km"] == pytest.approx(0.1) and fm["roads_km"] == pytest.approx(0.1)
    assert fh["community_features"] == 0 and fm["community_features"] == 1
    # mudflow (official): B's 30×50, D's 50.5×100 (50.5% → exposed)
    assert mh["parcels"] == 2 and mh["parcels_ha"] == pytest.approx((1500 + 5050) / 1e4)
    assert mh["roads_km"] == pytest.approx(0.1)
    assert "hazard_zones" in e.attrs["provenance"]["layers"]


def test_relocation_candidates(exposure_ws, tmp_path):
    r = H.relocation_candidates(exposure_ws)
    assert r["cadastral_no"].tolist() == ["A", "D", "B"]  # by share in high zones: 100%, 50.5%, 50%
    a = r.iloc[0]
    assert a["hazard_types"] == "flood" and a["basis"] == "computed" and a["overlap_share"] == 1.0
    b = r.set_index("cadastral_no").loc["B"]
    assert b["hazard_types"] == "flood;mudflow" and b["basis"] == "computed;official"
    assert b["overlap_ha"] == pytest.approx((1000 + 1500) / 1e4) and b["overlap_share"] == pytest.approx(0.5)
    assert "owner_name" not in r.columns
    assert 77 < a["lon"] < 78 and 42 < a["lat"] < 43


def test_cli_exposure_and_relocation_outputs(exposure_ws, tmp_path):
    from gis_planner.cli import main

    out = tmp_path / "reloc.csv"
    assert main(["hazards", "relocation", "-w", str(exposure_ws.root), "--out", str(out), "--lang", "en"]) == 0
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("cadastral_no,") and len(text.splitlines()) == 4
    js = tmp_path / "exp.json"
    assert main(["hazards", "exposure", "-w", str(exposure_ws.root), "--out", str(js), "--format", "json"]) == 0
    data = json.loads(js.read_text(encoding="utf-8"))
    assert {r["hazard_type"] for r in data["rows"]} == {"flood", "mudflow"} and "provenance" in data
    assert main(["hazards", "compute", "-w", str(exposure_ws.root)]) == 2  # no DEM: one-line error


# ----------------------------------------------------------------------------- demo workspace
@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    from gis_planner import Workspace, settings

    src = settings.demo_workspace()
    if not (src / "workspace.gpkg").exists():
        pytest.fail("demo workspace missing: run `make demo`")
    dst = tmp_path_factory.mktemp("demo") / "demo"
    shutil.copytree(src, dst)
    return Workspace(dst)


def test_demo_zones_exist_are_valid_and_reach_the_restrictions(demo_copy):
    ws = demo_copy
    before = H.read_hazard_zones(ws)
    n_official = int((before["method"] == "official").sum())
    zones = H.run_hazards(ws)
    assert set(zones["hazard_type"]) >= {"flood", "mudflow", "landslide"}
    assert len(zones) > 10 and zones.geometry.is_valid.all()
    assert zones.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    boundary = ws.read_layer("boundary").geometry.union_all()
    assert (zones.geometry.difference(boundary.buffer(1)).area < 1).all()   # clipped to the boundary
    stored = H.read_hazard_zones(ws)
    assert int((stored["method"] == "official").sum()) == n_official
    # zoning (and therefore the balance) uses the effective zones, computed ones included
    from gis_planner.zoning import build_restrictions

    r = build_restrictions(ws)
    hz = r[r["kind"] == "hazard"]
    assert set(hz["subtype"]) >= {"flood", "mudflow", "landslide"}
    computed_fids = set(stored.loc[stored["method"] != "official", "fid"])
    assert computed_fids & set(hz["source_fid"])
    # the balance restricts exactly the parcel land under the effective zones (official + computed)
    from gis_planner.balance import compute_balance

    import shapely

    restricted = sum(compute_balance(ws).to_json()["restricted"]["hazard"].values())
    eff = H.effective_hazard_zones(ws)
    parcels = ws.read_layer("parcels")
    expected = shapely.intersection(shapely.union_all(eff.geometry.values),
                                    shapely.union_all(parcels.geometry.values)).area / 1e4
    assert restricted == pytest.approx(expected, rel=1e-4)
    assert restricted > eff[eff["basis"] == "official"].geometry.union_all().area / 1e4
    # exposure and relocation run on the demo
    e = H.exposure_table(ws)
    assert e["parcels"].sum() > 0 and (e["zone_ha"] > 0).all()
    reloc = H.relocation_candidates(ws)
    assert reloc["cadastral_no"].is_unique


def test_house_plot_mask_reads_text_flags():
    parcels = gdf([{"category": "settlement", "land_use": "crop", "has_building": v}
                   for v in ["да", "Ооба", "yes", 1.0, "нет", None]] +
                  [{"category": "agricultural", "land_use": "housing", "has_building": None}],
                  [square(i * 20, 0, 10) for i in range(7)])
    assert H.house_plot_mask(parcels, H.hazard_rules()).tolist() == [True, True, True, True, False, False, True]


def test_rules_and_messages_are_complete():
    from gis_planner.catalog import catalogue, rules_version
    from gis_planner.i18n import messages

    rules = H.hazard_rules()
    for section in ("items", "levels"):
        for code, item in rules[section].items():
            assert all(item["names"].get(lang) for lang in ("ky", "ru", "en")), code
    for h in H.HAZARD_TYPES:
        assert rules[h]["method"]
    assert catalogue("hazards").lookup("Сель") == "mudflow" and catalogue("hazards.levels").lookup("высокий") == "high"
    assert rules_version("hazards")["version"] == 1
    keys = [k for k in messages() if k.startswith("hazards.")]
    assert keys and all(all(messages()[k].get(lang) for lang in ("ky", "ru", "en")) for k in keys)


def test_lithology_classes_move_landslide_levels(tmp_path):
    res, rows, cols = 10.0, 20, 10
    z = 2100 + (rows - np.arange(rows))[:, None] * res * math.tan(math.radians(25)) + np.zeros((1, cols))
    tr = from_origin(X0, Y0 + rows * res, res, res)
    terr = S.compute_terrain(z, tr, CRS)
    # a class raster on a coarser grid in another CRS: west half class 3 (weak), east half class 7 (strong)
    cls = np.zeros((4, 4), np.int32)
    cls[:, :2], cls[:, 2:] = 3, 7
    path = tmp_path / "lith.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="int32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0, Y0 + rows * res, cols * res / 4, rows * res / 4)) as ds:
        ds.write(cls, 1)
    lith = S.load_class_raster(path, terr)
    assert (lith[:, :5] == 3).all() and (lith[:, 5:] == 7).all()
    rules = H.hazard_rules()
    rules["landslide"]["lithology_weights"] = {3: 1, 7: -1}
    base = S.landslide_levels(terr, rules)
    assert (base[1:-1, 1:-1] == 2).all()                 # steep (20–30°), planar: medium
    lv = S.landslide_levels(terr, rules, lithology=lith)
    assert (lv[1:-1, 1:5] == 3).all() and (lv[1:-1, 5:-1] == 1).all()


def test_mudflow_channel_and_fan_at_the_break_of_slope():
    z, tr = valley_dem()
    terr = S.compute_terrain(z, tr, CRS)
    rules = H.hazard_rules()
    rules["mudflow"]["min_catchment_km2"] = 0.1   # a small test valley
    lv = S.mudflow_levels(terr, rules)
    cols = z.shape[1]
    # the sides drain diagonally into the floor-edge columns 22 and 38; over the next 200 m the channel
    # falls 33.5 m (9.5°) from row 27 but 24 m (6.8°) from row 28: the apexes are at row 28
    apexes = terr.extra["fan_apexes"]
    assert sorted((int(a) // cols, int(a) % cols) for a in apexes) == [(28, 22), (28, 38)]
    # catchment at the apex: column 22 (rows 0–28, 29 cells) + the side cells (r, c < 22) whose diagonal
    # path reaches column 22 by row 28, i.e. c ≥ r − 6 (7 × 22 + 21 + 20 + … + 1 = 385) = 414 cells
    assert terr.acc[28, 22] == 414
    # Melton ratio: relief 2566 − 2022 m over √(414 × 400 m²) = 1.34 → high
    assert terr.extra["melton"][28, 22] == pytest.approx(544 / math.sqrt(414 * 400))
    assert lv[28, 22] == 3 and lv[25, 22] == 3          # the high channel above the apex (0.138 km²)
    # fan: area 0.5 · 0.1656^0.9 km² → half-disc radius 251 m; (36, 30) is 226 m from the apex (outer
    # half: one level lower), (40, 30) is 288 m away (beyond); the steep side is never fan
    assert lv[36, 30] == 2
    assert lv[40, 30] == 0 and lv[31, 5] == 0


def test_out_of_core_terrain_gives_the_levels_of_the_terrain_in_memory(monkeypatch, tmp_path):
    from dataclasses import fields, replace

    from gis_planner.hazards import mapped

    monkeypatch.setattr(mapped, "MIN_BYTES", 0)          # every array of this small grid into a file
    monkeypatch.setattr(mapped.tempfile, "tempdir", str(tmp_path))
    z, tr = valley_dem()
    lake = np.zeros(z.shape, bool)
    lake[-6:] = True
    terr = S.compute_terrain(z, tr, CRS, lakes=lake)
    rasters = ("dem", "filled", "fdir", "acc", "slope", "plan", "profile", "lakes", "acc_mfd")
    assert all(terr._store.owns(getattr(terr, k)) for k in rasters)
    assert terr._store.owns(terr.extra["routing"]) and terr.extra["routing"] is not terr.filled  # lakes: two
    # the same rasters in memory, no store: the zone rules must give the same levels and diagnostics
    mem = replace(terr, _store=None, _rec=None, _order=None, extra=dict(terr.extra),
                  **{k: np.array(getattr(terr, k)) for k in rasters})
    mem.extra["routing"] = np.array(terr.extra["routing"])
    assert not any(isinstance(getattr(mem, f.name), np.ndarray) and terr._store.owns(getattr(mem, f.name))
                   for f in fields(mem))
    rules = H.hazard_rules()
    rules["mudflow"]["min_catchment_km2"] = 0.1   # a small test valley (as the mudflow test above)
    for name in S.HAZARD_TYPES:
        lv = getattr(S, f"{name}_levels")(terr, rules)
        assert np.array_equal(lv, getattr(S, f"{name}_levels")(mem, rules)), name
        assert lv.any() and not terr._store.owns(lv), name           # a level raster is the caller's array
    assert terr._store.owns(terr.rec) and terr._store.owns(terr.order) and mem._store is None
    for k in ("hand", "melton", "flow_length_km", "mfd_order", "debris_sources"):
        assert terr._store.owns(terr.extra[k]) and np.array_equal(terr.extra[k], mem.extra[k]), k
    assert list(tmp_path.iterdir()) == []      # the files have no name: nothing to clean up, ever
    import copy
    import pickle

    for other in (pickle.loads(pickle.dumps(terr)), copy.deepcopy(terr)):     # by value, in memory
        assert np.array_equal(other.acc_mfd, terr.acc_mfd) and not other._store.owns(other.acc_mfd)
        assert np.array_equal(S.flood_levels(other, rules), S.flood_levels(terr, rules))


def test_mapped_store_keeps_data_across_releases_and_small_arrays_in_memory(tmp_path):
    from gis_planner.hazards.mapped import MappedStore

    store = MappedStore(tmp_path, min_bytes=64)
    small = np.arange(4.0)
    assert store.put(small) is small and not store.owns(small)      # 32 bytes: stays in memory
    big = np.arange(1000, dtype=np.int32).reshape(10, 100)
    held = store.put(big)
    assert store.owns(held) and store.owns(held[3:5]) and store.put(held) is held
    assert held.dtype == np.int32 and held.shape == (10, 100) and held.flags.writeable
    store.release()
    assert np.array_equal(held, big)          # pages dropped, data read back from the file
    held[9, 99] = -1
    store.release()
    assert held[9, 99] == -1 and held.sum() == big.sum() - 999 - 1
    assert list(tmp_path.iterdir()) == []


def test_cli_compute_dry_run_and_zones(tmp_ws, tmp_path, capsys):
    from gis_planner.cli import main

    z, tr = valley_dem()
    write_dem(tmp_path / "dem.tif", z, tr)
    tmp_ws.set_dem(tmp_path / "dem.tif", source="analytic valley", source_date="2026-01-01")
    official = zone_rows([("landslide", "high", "official", square(0, 700, 300))])
    tmp_ws.write_layer("hazard_zones", official, source="MChS")
    capsys.readouterr()
    assert main(["hazards", "compute", "-w", str(tmp_ws.root), "--dry-run", "--format", "json",
                 "--hazard", "landslide"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["written"] is False and {r["hazard_type"] for r in out["zones"]} == {"landslide"}
    assert len(H.read_hazard_zones(tmp_ws)) == 1                 # dry run: nothing written
    assert main(["hazards", "compute", "-w", str(tmp_ws.root), "--hazard", "landslide", "--lang", "ru"]) == 0
    text = capsys.readouterr()
    assert "Оползень" in text.out and "официальные зоны сохранены: 1" in text.out
    assert main(["hazards", "zones", "-w", str(tmp_ws.root), "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "hazard_type,level,official_ha,computed_ha,computed_in_official_ha,effective_ha"
    assert any(r.startswith("landslide,high,9.0,") for r in rows)  # the 300 m official square


def test_near_is_the_euclidean_distance_within_a_radius():
    """_near (banded distances from the feature transform) marks the cells whose distance to the mask is
    at most the radius: a single cell on 10 × 20 m cells reaches ±2 rows and ±1 column at 25 m, the
    corner (20 m, 20 m) = 28.3 m does not; and on random masks it equals scipy's distance grid <= r."""
    from scipy.ndimage import distance_transform_edt

    class G:            # what _near reads of a Terrain: cell width (x) and height (y)
        xres, yres = 20.0, 10.0

    m = np.zeros((300, 9), bool)
    m[150, 4] = True
    near = S._near(m, G, 25.0)
    rows, cols = np.nonzero(near)
    assert set(zip(rows - 150, cols - 4)) == {(dr, dc) for dr in range(-2, 3) for dc in (-1, 0, 1)
                                              if (dr * 10) ** 2 + (dc * 20) ** 2 <= 625}
    assert not S._near(np.zeros((3, 3), bool), G, 1e9).any() and S._near(np.zeros((3, 3), bool), G, np.inf).all()
    rng = np.random.default_rng(3)
    for density, radius in ((0.001, 45.0), (0.05, 20.0), (0.3, 10.0)):
        m = rng.random((517, 301)) < density
        ref = distance_transform_edt(~m, sampling=(G.yres, G.xres)) <= radius
        assert np.array_equal(S._near(m, G, radius), ref)


def test_load_dem_keeps_float32_on_the_target_grid(tmp_path):
    """A DEM already on the metric grid is read without a float64 copy when float32 holds its values
    (float32, 16-bit integers), with its nodata as NaN; other types (int32) are read as float64."""
    tr = from_origin(X0, Y0, 30, 30)
    z = np.add.outer(np.arange(6.0), np.arange(5.0)) * 7.25 + 1500.0
    z[2, 3] = -9999
    for dtype, want in (("float32", np.float32), ("int16", np.float32), ("int32", np.float64)):
        path = tmp_path / f"dem_{dtype}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=5, height=6, count=1, dtype=dtype, crs=f"EPSG:{CRS}",
                           transform=tr, nodata=-9999) as ds:
            ds.write(z.astype(dtype), 1)
        zz, tr2, crs = S.load_dem(path, CRS)
        assert zz.dtype == want and tr2 == tr and crs.to_epsg() == CRS
        assert np.isnan(zz[2, 3]) and int(np.isnan(zz).sum()) == 1
        ok = ~np.isnan(zz)
        assert np.array_equal(zz[ok].astype(np.float64), z.astype(dtype)[ok].astype(np.float64))
