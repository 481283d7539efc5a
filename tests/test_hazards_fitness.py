"""Fitness of the DEM for each hazard model: screening zones never prohibit or relocate on their own;
a DEM that misses the municipality is refused and nothing stored is lost."""
from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from gis_planner import hazards as H
from gis_planner.catalog import load_rules
from gis_planner.errors import GisPlannerError
from gis_planner.hazards import fitness as F
from tests.helpers import CRS, X0, Y0, gdf, rect, square

RULES = {"dem_fitness": {"models": {
    "flood": {"max_cell_m": 30, "max_vertical_error_m": 1.0},
    "avalanche": {"max_cell_m": 25, "max_vertical_error_m": 10.0}}}}


def _write(path, z, transform, crs, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=z.shape[0], width=z.shape[1], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(z.astype("float32"), 1)
    return path


def _digest(ws) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ws.root.iterdir()) if p.is_file()}


# ----------------------------------------------------------------------------- rules against a profile
def test_model_fitness_names_each_missing_requirement():
    coarse = F.model_fitness({"cell_m": 40.0, "native_resolution_m": 460.0, "effective_cell_m": 460.0,
                              "vertical_error_m": 30.0}, RULES, ["flood", "avalanche"])
    assert not coarse["flood"]["fit"]
    assert [r["code"] for r in coarse["flood"]["reasons"]] == ["too_coarse", "vertical_error"]
    assert coarse["flood"]["reasons"][0]["cell_m"] == 460.0     # the product's cell, not the resampled one
    lidar = F.model_fitness({"cell_m": 1.0, "effective_cell_m": 1.0, "vertical_error_m": 0.3}, RULES)
    assert lidar["flood"]["fit"] and lidar["avalanche"]["fit"]
    unknown = F.model_fitness({"cell_m": 20.0, "effective_cell_m": 20.0, "vertical_error_m": None}, RULES)
    assert [r["code"] for r in unknown["flood"]["reasons"]] == ["vertical_unknown"]   # unknown is not fit
    edge = F.model_fitness({"cell_m": 30.0, "effective_cell_m": 30.0, "vertical_error_m": 1.0}, RULES)
    assert edge["flood"]["fit"]                                  # the limits themselves are allowed


def test_products_are_recognised_from_the_source_text():
    rules = load_rules("hazards")
    assert F._product("GEBCO 2023 grid (15 arc-seconds)", rules)["native_resolution_m"] == 460
    assert F._product("Copernicus DEM GLO-30 (ESA)", rules)["native_resolution_m"] == 30
    assert F._product("SRTM 3 arc-second", rules)["native_resolution_m"] == 90
    assert F._product("a survey of our own", rules) is None


def test_geographic_cell_is_measured_in_metres_at_the_centre(tmp_path):
    # 1 arc-second cells centred on 42.5 N: 1/3600 degree of latitude and of longitude in metres
    z = np.zeros((20, 20))
    res = 1 / 3600
    path = _write(tmp_path / "geo.tif", z, from_origin(77.0, 42.5 + 10 * res, res, res), "EPSG:4326")
    prof = F.raster_profile(path)
    lat = math.radians(42.5)
    m_lat = 111132.92 - 559.82 * math.cos(2 * lat) + 1.175 * math.cos(4 * lat)
    m_lon = 111412.84 * math.cos(lat) - 93.5 * math.cos(3 * lat)
    assert prof["cell_y_m"] == pytest.approx(m_lat / 3600, rel=1e-9)      # 30.86 m
    assert prof["cell_x_m"] == pytest.approx(m_lon / 3600, rel=1e-9)      # 22.8 m
    from pyproj import Geod  # the same cells measured on the ellipsoid, independently

    g = Geod(ellps="WGS84")
    assert prof["cell_y_m"] == pytest.approx(g.inv(77, 42.5 - res / 2, 77, 42.5 + res / 2)[2], rel=1e-4)
    assert prof["cell_x_m"] == pytest.approx(g.inv(77 - res / 2, 42.5, 77 + res / 2, 42.5)[2], rel=1e-4)
    assert prof["cell_m"] == prof["cell_y_m"]


# ----------------------------------------------------------------------------- workspaces
def _plane_ws(tmp_ws, tmp_path, source, cell=10.0, n=60, **notes):
    """A 600 m x 600 m south-falling plane DEM and a boundary of 500 x 500 m inside it."""
    z = 2000.0 - np.arange(n)[:, None] * 1.0 + np.zeros((1, n))
    path = _write(tmp_path / "dem.tif", z, from_origin(X0, Y0 + n * cell, cell, cell), f"EPSG:{CRS}")
    tmp_ws.write_layer("boundary", gdf([{"name": "b"}], [rect(50, 50, 500, 500)]), source="test")
    tmp_ws.set_dem(path, source=source, notes=notes or None)
    return tmp_ws


def test_user_figures_override_the_product_and_decide_fitness(tmp_ws, tmp_path):
    ws = _plane_ws(tmp_ws, tmp_path, "drone survey 2025", vertical_error_m=0.2)
    prof = F.dem_profile(ws)
    assert prof["cell_m"] == pytest.approx(10.0) and prof["vertical_error_m"] == 0.2
    assert prof["coverage"] == pytest.approx(1.0)
    assert prof["given_by_user"] == ["vertical_error_m"]
    assert F.screening_models(ws) == {}                           # 10 m, 0.2 m: every model is fit


def test_computed_zones_from_a_coarse_dem_are_screening_and_never_prohibit(tmp_ws, tmp_path):
    ws = _plane_ws(tmp_ws, tmp_path, "GEBCO 2023 grid, resampled")
    assert set(F.screening_models(ws)) == set(H.HAZARD_TYPES)
    # a computed high flood zone over a house plot, and an official high flood zone over another
    plots = gdf([{"cadastral_no": "A", "category": "settlement", "land_use": "housing", "has_building": 1},
                 {"cadastral_no": "B", "category": "settlement", "land_use": "housing", "has_building": 1}],
                [square(100, 100, 40), square(300, 100, 40)])
    ws.write_layer("parcels", plots, source="test")
    computed = gdf([{"hazard_type": "flood", "level": "high", "method": "hand_v1", "source": "t", "date": "2026",
                     "screening": 1}], [square(90, 90, 60)])
    computed.attrs["dem_fitness"] = F.model_fitness(F.dem_profile(ws), load_rules("hazards", ws))
    H.store_hazard_zones(ws, computed, ["flood"])
    H.import_official_zones(ws, _official_file(tmp_path), source="МЧС КР, 2024")
    eff = H.effective_hazard_zones(ws)
    assert sorted(eff["basis"]) == ["official", "screening"]
    rel = H.relocation_candidates(ws)
    assert list(rel["cadastral_no"]) == ["B"]                    # only the plot in the official zone
    assert rel.attrs["screening_only"] == 1                      # A is said, not silently dropped
    ex = H.exposure_table(ws)
    flood_high = ex[(ex["hazard_type"] == "flood") & (ex["level"] == "high")].set_index("screening")
    assert flood_high.loc[True, "house_plots"] == 1 and flood_high.loc[False, "house_plots"] == 1
    from gis_planner.zoning.check import check

    a = check(ws, "housing", parcel_id="A", lang="en")
    b = check(ws, "housing", parcel_id="B", lang="en")
    assert b.verdict == "prohibited"
    assert a.verdict == "conditional"                            # a site survey, not a prohibition
    assert any(r["rule_id"] == "hazard_screening_high" for r in a.reasons)


def _official_file(tmp_path):
    path = tmp_path / "official.geojson"
    gdf([{"hazard_type": "паводок", "level": "высокий"}], [square(290, 90, 60)]).to_crs(4326).to_file(path)
    return path


def test_a_dem_that_misses_the_boundary_is_refused_and_nothing_changes(tmp_ws, tmp_path):
    ws = _plane_ws(tmp_ws, tmp_path, "Copernicus GLO-30")
    zones = gdf([{"hazard_type": "flood", "level": "high", "method": "hand_v1", "source": "t", "date": "2026"}],
                [square(100, 100, 50)])
    H.store_hazard_zones(ws, zones, ["flood"])
    before = _digest(ws)
    # a DEM 2 km east of the municipality
    far = _write(tmp_path / "far.tif", np.ones((20, 20)), from_origin(X0 + 2000, Y0 + 200, 10, 10), f"EPSG:{CRS}")
    cmd = [sys.executable, "-m", "gis_planner", "dem", "set", str(far), "-w", str(ws.root), "--source", "x",
           "--lang", "en"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "covers 0.0% of the municipality boundary" in out.stderr
    assert "DEM extent" in out.stderr and "boundary extent" in out.stderr
    assert _digest(ws) == before
    # the same DEM put in place by hand: hazards compute refuses before touching the stored zones
    shutil.copyfile(far, ws.root / "dem.tif")
    before = _digest(ws)
    with pytest.raises(GisPlannerError, match="covers 0.0% of the municipality"):
        H.run_hazards(ws)
    assert _digest(ws) == before
    assert len(H.read_hazard_zones(ws)) == 1


# ----------------------------------------------------------------------------- the demo
@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    from gis_planner import Workspace, settings

    dst = tmp_path_factory.mktemp("demo-fit") / "demo"
    shutil.copytree(settings.demo_workspace(), dst)
    return Workspace(dst)


def test_demo_gebco_zones_are_screening_and_the_relocation_list_is_official(demo_copy):
    ws = demo_copy
    prof = F.dem_profile(ws)
    assert prof["native_resolution_m"] == 460 and prof["cell_m"] == pytest.approx(40.0)
    before = H.relocation_candidates(ws)
    zones = H.run_hazards(ws)
    assert set(zones["screening"]) == {1}                      # GEBCO 15": no model is fit
    after = H.relocation_candidates(ws)
    assert set(after["basis"]) == {"official"}
    assert sorted(after["cadastral_no"]) == sorted(before["cadastral_no"])   # computed zones add no one
    assert after.attrs["screening_only"] > 100                 # ... and the plots they reach are counted
    notes = ws.provenance("hazard_zones")["notes"]
    assert notes["screening_types"] == sorted(H.HAZARD_TYPES)


# ----------------------------------------------------------------------------- geographic DEMs, borders
PLANE_DEG = math.degrees(math.atan(0.1))   # 5.7106°: a plane rising 1 m per 10 m eastwards


def test_border_cells_of_the_data_keep_the_full_slope_of_a_plane():
    from gis_planner.hazards import terrain as T

    x = np.arange(50) * 10.0
    z = np.add.outer(np.zeros(50), 0.1 * x)
    rows, cols = np.indices(z.shape)
    z[rows + cols < 20] = np.nan                       # a nodata corner, as a warped footprint leaves
    valid = np.isfinite(z)
    linear, _ = T.slope_aspect(z, 10.0, 10.0, edges="linear")
    assert np.nanmax(np.abs(linear[valid] - PLANE_DEG)) < 1e-4     # every valid cell, borders included
    gdal_like, _ = T.slope_aspect(z, 10.0, 10.0, edges=True)     # gdaldem -compute_edges halves them
    assert np.nanmin(gdal_like[valid]) < 0.7 * PLANE_DEG


def test_geographic_plane_is_warped_without_bias(tmp_path):
    """A plane in the Kyrg-06 grid sampled on a 1″ lon/lat grid (as SRTM) comes back at its true slope."""
    from pyproj import Transformer

    from gis_planner.hazards import susceptibility as S
    from gis_planner.hazards import terrain as T

    res = 1 / 3600
    n = 240
    lon0, lat0 = 77.10, 42.70
    lons = lon0 + (np.arange(n) + 0.5) * res
    lats = lat0 - (np.arange(n) + 0.5) * res
    lon, lat = np.meshgrid(lons, lats)
    east, _ = Transformer.from_crs(4326, CRS, always_xy=True).transform(lon, lat)
    z = 1500.0 + 0.1 * (east - east.min())
    path = _write(tmp_path / "geo.tif", z, from_origin(lon0, lat0, res, res), "EPSG:4326")
    zm, tr, crs = S.load_dem(path, CRS)
    # no coarser than the source along either axis: the 1″ longitude step (~22.8 m) at 42.7° N
    assert abs(tr.a) == pytest.approx(F.raster_profile(path)["cell_x_m"], rel=1e-9)
    assert abs(tr.a) < 23.0
    slope, _ = T.slope_aspect(zm, abs(tr.a), abs(tr.e), edges="linear")
    valid = np.isfinite(zm)
    assert np.median(slope[valid]) == pytest.approx(PLANE_DEG, abs=0.01)
    # the border of the warped footprint (valid cells next to nodata) is not halved
    from scipy.ndimage import binary_erosion

    border = valid & ~binary_erosion(valid)
    assert border.sum() > 100
    assert np.percentile(slope[border], 5) > 0.95 * PLANE_DEG


# ----------------------------------------------------------------------------- mudflow fans
def chute_onto_plain(rows=130, cols=81, res=20.0):
    """A steep V-chute (26.6° along, 36.9° sides) from the north ending at row 80 on a near-flat plain."""
    rr, cc = np.mgrid[0:rows, 0:cols]
    z = np.full((rows, cols), 1000.0) - 0.001 * rr
    chute = (rr < 80) & (np.abs(cc - 40) <= 5)
    z = np.where(chute, 1000.0 + 10.0 * (80 - rr) + 15.0 * np.abs(cc - 40), z)
    lake = np.zeros_like(z, bool)
    lake[-3:] = True
    return z, lake, chute, from_origin(X0, Y0 + rows * res, res, res)


def test_mudflow_fan_is_a_sector_below_the_apex():
    import copy

    from gis_planner.hazards import susceptibility as S

    z, lake, chute, tr = chute_onto_plain()
    terr = S.compute_terrain(z, tr, CRS, lakes=lake)
    rules = H.hazard_rules()
    lv = S.mudflow_levels(terr, rules)
    cols = z.shape[1]
    # over the next 200 m the course falls 30.1 m (8.6°) from row 77 but 20.1 m (5.7°) from row 78
    assert [divmod(int(a), cols) for a in terr.extra["fan_apexes"]] == [(78, 40)]
    r = rules["mudflow"]
    a_km2 = terr.acc[78, 40] * 400 / 1e6
    radius = math.sqrt(r["fan_area_c"] * a_km2 ** r["fan_area_n"] * 1e6 / (math.pi / 2))   # half-disc of c·A^n
    rr, cc = np.indices(z.shape)
    dist = np.hypot((rr - 78) * 20.0, (cc - 40) * 20.0)
    fan = (lv > 0) & ~chute
    assert fan.sum() > 300
    assert (rr[fan] >= 78).all()                           # only below the apex (the flow goes south)
    assert dist[fan].max() <= radius + 1e-9
    assert lv[78 + 7, 40] == 3                             # 140 m: inner half keeps the channel's level
    assert lv[78 + 10, 40] == 2                            # 200 m: outer half, one level lower
    assert lv[78 + 16, 40] == 0                            # 320 m: beyond the radius
    assert (lv[100:, :] == 0).all()                        # the river below the fan is not a mudflow channel
    disc = copy.deepcopy(rules)
    disc["mudflow"]["fan_angle_deg"] = 360                 # the old full disc would reach upslope sides
    lv2 = S.mudflow_levels(terr, disc)
    assert ((lv2 > 0) & ~chute & (rr < 78)).sum() > 0


def test_long_steep_basins_are_debris_floods_not_debris_flows():
    from gis_planner.hazards import susceptibility as S

    z, lake, chute, tr = chute_onto_plain()
    terr = S.compute_terrain(z, tr, CRS, lakes=lake)
    rules = H.hazard_rules()
    assert terr.extra.get("flow_length_km") is None
    high = S.mudflow_levels(terr, rules)
    assert high[70, 40] == 3                               # R = 1.53 > 0.6, L = 1.43 km < 2.7 km
    assert terr.extra["melton"][70, 40] > 0.6 and terr.extra["flow_length_km"][70, 40] < 2.7
    rules["mudflow"]["debris_flow_max_length_km"] = 1.0    # the same basin counted as too long
    assert S.mudflow_levels(terr, rules)[70, 40] == 2


# ----------------------------------------------------------------------------- validation
def test_validation_against_official_zones_hand_computed(tmp_ws):
    from gis_planner.hazards.validation import validate_zones

    ws = tmp_ws
    ws.write_layer("boundary", gdf([{"name": "b"}], [square(0, 0, 1000)]), source="test")   # 100 ha
    zones = gdf([{"hazard_type": "flood", "level": "high", "method": "official", "source": "МЧС", "date": "2024"},
                 {"hazard_type": "flood", "level": "high", "method": "hand_v1", "source": "t", "date": "2026"},
                 {"hazard_type": "flood", "level": "low", "method": "hand_v1", "source": "t", "date": "2026"}],
                [square(0, 0, 200), square(100, 0, 200), square(600, 600, 100)])
    ws.write_layer("hazard_zones", zones, source="test")
    v = validate_zones(ws, cell_m=25.0).set_index("hazard_type").loc["flood"]
    assert v["official_high_ha"] == pytest.approx(4.0) and v["computed_high_ha"] == pytest.approx(4.0)
    assert v["captured_high"] == pytest.approx(0.5)          # computed covers half of the official high zone
    assert v["captured_high_as_high"] == pytest.approx(0.5)
    assert v["false_alarm_high"] == pytest.approx(0.5)       # half of the computed high zone is outside it
    # 25 m cells: 64 official cells (32 scored high, 32 none); 1536 others (32 high, 16 low, 1488 none)
    assert v["auc"] == pytest.approx((32 * (1504 + 16) + 32 * 744) / (64 * 1536))
    from gis_planner.cli import main

    assert main(["hazards", "validate", "-w", str(ws.root), "--format", "json"]) == 0
