"""Growth scenarios, allocation and consequences on a hand-made grid of parcels (EPSG:7695).

The grid: ten 100 m × 100 m parcels P0…P9 in a row (x 0–1000, y 0–100), all municipal reserve land
except P8 (private, used). The settlement lies west of P0 (x −200…0), a road runs along y = −5.
P3 is entirely inside a high mudflow zone. A small river runs north–south at x = 650: its coastal strip
(20 m each side, layers/restrictions.yaml) cuts x 630–670 out of P6, its water-protection zone (100 m)
covers x 550–750.

House plots are 25 m × 40 m (0.10 ha) in blocks two plots deep along a 12 m street: a free 1 ha parcel
holds 4 columns × 2 rows = 8 plots; P6 keeps two 30 m strips (x 600–630, 670–700) that hold one
column each, 4 plots. Capacity for housing: 7 × 8 + 4 = 60 plots.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString

from gis_planner import Workspace
from gis_planner.balance import compute_balance
from gis_planner.cli import main
from gis_planner.scenarios import (Scenario, allocate, apply_allocation, compare_table, demand, plot_maps,
                                   run_many, run_scenario)
from gis_planner.scenarios.allocate import candidate_mask, cut_area, households_fit, subdivide_plots

from .helpers import CRS, X0, Y0, gdf, rect, square

HA = 10_000.0


def _grid_parcels():
    recs = {"cadastral_no": [f"P{i}" for i in range(10)],
            "category": ["reserve"] * 10, "land_type": [None] * 10,
            "use_status": ["unused"] * 10, "owner_type": ["municipal"] * 10}
    recs["owner_type"][8] = "private"
    recs["use_status"][8] = "used"
    return gdf(recs, [square(100 * i, 0, 100) for i in range(10)])


@pytest.fixture(scope="module")
def grid_ws(tmp_path_factory):
    ws = Workspace.create(tmp_path_factory.mktemp("grid") / "ws", name="Grid", crs=CRS)
    frames = {
        "parcels": _grid_parcels(),
        "settlements": gdf({"name": ["Village"], "population": [1000]}, [rect(-200, -100, 0, 200)]),
        "roads": gdf({"name": ["Main"], "road_class": ["local"]},
                     [LineString([(X0 - 200, Y0 - 20), (X0 + 1000, Y0 - 20)])]),   # right of way (8 m) clear of the parcels
        "hazard_zones": gdf({"hazard_type": ["mudflow"], "level": ["high"], "method": ["official"],
                             "source": ["MES"], "date": ["2024"]}, [rect(300, -50, 400, 150)]),
        "water_bodies": gdf({"name": ["Kara-Suu"], "water_type": ["river"], "size_class": ["small"]},
                            [LineString([(X0 + 650, Y0 - 1000), (X0 + 650, Y0 + 1100)])]),
    }
    ws.write_layers(frames, {k: {"source": "hand-made test grid", "source_date": "2026-01-01"} for k in frames})
    return ws


def _scn(**kw):
    base = {"id": "t", "base_year": 2024, "horizon_year": 2026}
    base.update(kw)
    return Scenario.from_dict(base)


def _union(gs):
    return shapely.union_all(np.asarray(gs.geometry.values))


# --------------------------------------------------------------------------- geometry helpers
def test_subdivide_square_hectare_into_eight_plots():
    plots, fronts, streets = subdivide_plots(square(0, 0, 100), 1000.0, 25.0, 12.0)
    assert len(plots) == 8
    assert all(abs(p.area - 1000.0) < 1e-6 for p in plots)
    # 4 street cells of 25 × 12 m in the middle of the block
    live = [s for s in streets if not s.is_empty]
    assert len(live) == 4 and abs(sum(s.area for s in live) - 4 * 300.0) < 1e-6
    # every plot fronts a street cell it touches
    for p, f in zip(plots, fronts):
        assert p.distance(streets[f]) < 1e-6


def test_subdivide_rotated_parcel_keeps_plot_count():
    from shapely import affinity

    sq = square(0, 0, 100)
    rot = affinity.rotate(sq, 30, origin=sq.centroid)
    plots, _, _ = subdivide_plots(rot, 1000.0, 25.0, 12.0)
    assert len(plots) == 8 and all(abs(p.area - 1000.0) < 1e-4 for p in plots)
    assert all(rot.buffer(1e-6).contains(p) for p in plots)


def test_cut_area_is_exact_and_on_the_side_of_the_target():
    g = square(0, 0, 100)
    west = rect(-50, 0, -10, 100)
    piece = cut_area(g, 2500.0, west)
    assert abs(piece.area - 2500.0) < 1e-3
    assert piece.bounds[0] == pytest.approx(X0) and piece.bounds[2] == pytest.approx(X0 + 25, abs=1e-3)


def test_candidate_rules_include_and_exclude():
    p = _grid_parcels()
    m, why = candidate_mask(p, {"include": [{"owner_type": ["municipal"]}], "exclude": [{"use_status": ["used"]}]})
    assert m.tolist() == [True] * 8 + [False, True]
    assert why[0] == "owner_type=municipal" and why[8] is None


# --------------------------------------------------------------------------- allocation
def test_housing_meets_demand_exactly_nearest_settlement_first(grid_ws):
    d = demand(_scn(housing={"queue_households": 20}))
    a = allocate(grid_ws, d)
    row = a.summary.set_index("use").loc["housing"]
    assert (row["demand"], row["allocated"], row["unmet"]) == (20, 20, 0)
    plots = a.pieces[a.pieces["kind"] == "plot"]
    assert len(plots) == 20
    assert plots.groupby("cadastral_no").size().to_dict() == {"P0": 8, "P1": 8, "P2": 4}
    assert np.allclose(plots.geometry.area, 1000.0)
    # the 4 plots of P2 are its western columns (x 200–250), nearest the settlement
    p2 = plots[plots["cadastral_no"] == "P2"]
    assert p2.total_bounds[0] == pytest.approx(X0 + 200) and p2.total_bounds[2] == pytest.approx(X0 + 250)
    # explainable: each piece carries its score components and rank
    assert plots["s_settlement"].iloc[0] == pytest.approx(1.0)
    assert plots.groupby("cadastral_no")["rank"].first().to_dict() == {"P0": 1, "P1": 2, "P2": 3}
    first = plots.iloc[0]
    assert first["why"].startswith("0.25×0.50 slope + 0.5×1.00 settlement")      # no DEM: slope scores 0.5
    assert first["why"].endswith(f"= {first['score']:.3f}")
    assert a.unmet() == {}


def test_never_allocates_into_hazard_or_coastal_strip_and_reports_unmet(grid_ws):
    from gis_planner.zoning import build_restrictions

    d = demand(_scn(housing={"queue_households": 100}))
    a = allocate(grid_ws, d)
    row = a.summary.set_index("use").loc["housing"]
    # only land within the growth distance (500 m) of the village: P0–P2 and P4 (P3 is a high hazard)
    assert (row["allocated"], row["unmet"]) == (32, 68)
    plots = a.pieces[a.pieces["kind"] == "plot"]
    counts = plots.groupby("cadastral_no").size().to_dict()
    assert counts == {"P0": 8, "P1": 8, "P2": 8, "P4": 8}
    r = build_restrictions(grid_ws)
    strip = _union(r[r["kind"] == "coastal_strip"])
    hazard = _union(r[r["kind"] == "hazard"])
    every = _union(a.pieces)
    assert every.intersection(strip).area < 1e-6
    assert every.intersection(hazard).area < 1e-6
    cand = a.candidates.set_index("cadastral_no")
    assert cand.loc["P3", "status"] == "prohibited_or_too_small"
    assert cand.loc["P3", "verdict"] == "prohibited" and cand.loc["P3", "prohibited_share"] == 1.0
    assert "hazard_high" in cand.loc["P3", "reasons"]
    # P6 loses its coastal strip (x 630–670, 40 %); the part left is checked: allowed with conditions (WPZ)
    assert cand.loc["P6", "prohibited_share"] == pytest.approx(0.4)
    assert cand.loc["P6", "verdict"] == "conditional" and "water_protection_zone" in cand.loc["P6", "reasons"]
    assert cand.loc["P0", "verdict"] == "allowed"
    assert "P8" not in cand.index                        # private: never a candidate
    assert set(cand.loc[["P5", "P6", "P7", "P9"], "status"]) == {"beyond_growth_distance"}
    # the densification alternative: 68 households at 100 households/ha = 0.68 ha instead of 6.8 ha of plots
    dens = a.densification
    assert (dens["unmet_households"], dens["multistorey_ha_for_unmet"], dens["plot_ha_for_unmet"]) == (68, 0.68, 6.8)
    assert households_fit(0.4) == 40
    # unmet demand per village, with its alternatives
    v = a.villages.set_index("village").loc["Village"]
    assert (v["demand"], v["allocated"], v["unmet"], v["capacity"]) == (100, 32, 68, 32)
    (opt,) = a.unmet_options
    assert opt["village"] == "Village" and opt["unmet_plots"] == 68 and opt["multistorey_ha"] == 0.68
    assert opt["other_villages"] == [] and opt["growth_distance_m"] == 500


def test_area_use_meets_demand_exactly_outside_water_protection_zone(grid_ws):
    from gis_planner.zoning import build_restrictions

    # industry 50 million som → 50 jobs → 50 × 0.05 = 2.5 ha (horizon before the households' lag)
    d = demand(_scn(investments=[{"sector": "industry", "amount_mio_som": 50}]))
    assert float(d.land_ha["industry"]) == 2.5
    a = allocate(grid_ws, d)
    row = a.summary.set_index("use").loc["industry"]
    assert row["allocated"] == pytest.approx(2.5, abs=1e-7) and row["unmet"] == 0
    assert a.pieces.groupby("cadastral_no")["area_ha"].sum().round(6).to_dict() == {"P0": 1.0, "P1": 1.0, "P2": 0.5}
    half = a.pieces[a.pieces["cadastral_no"] == "P2"]
    assert half.total_bounds[0] == pytest.approx(X0 + 200) and half.total_bounds[2] == pytest.approx(X0 + 250, abs=1e-3)
    r = build_restrictions(grid_ws)
    wpz = _union(r[r["kind"] == "water_protection_zone"])   # industry is prohibited there (Decree 271)
    big = allocate(grid_ws, demand(_scn(investments=[{"sector": "industry", "amount_mio_som": 400}])))
    assert _union(big.pieces).intersection(wpz).area < 1e-6
    # free for industry: P0–P2, P4 (4 ha), P5 west of the zone (x 500–550, 0.5 ha), P7 east of it
    # (x 750–800, 0.5 ha), P9 (1 ha); P3 is in the high hazard zone, P6 inside the zone, P8 private
    assert big.summary.set_index("use").loc["industry", "allocated"] == pytest.approx(6.0, abs=1e-6)
    assert big.pieces.groupby("cadastral_no")["area_ha"].sum().round(6).to_dict() == {
        "P0": 1.0, "P1": 1.0, "P2": 1.0, "P4": 1.0, "P5": 0.5, "P7": 0.5, "P9": 1.0}


def test_same_input_same_output(grid_ws):
    d = demand(_scn(housing={"queue_households": 37}, investments=[{"sector": "tourism", "amount_mio_som": 10}]))
    a1, a2 = allocate(grid_ws, d), allocate(grid_ws, d)
    assert a1.pieces.drop(columns="geometry").equals(a2.pieces.drop(columns="geometry"))
    assert list(shapely.to_wkb(a1.pieces.geometry.values)) == list(shapely.to_wkb(a2.pieces.geometry.values))
    assert a1.summary.equals(a2.summary)


def test_irrigation_needs_gravity_from_the_canal(tmp_path):
    """Plane DEM rising 0.05 m/m northwards; canal along y = 150 m. Parcels south of the canal lie below
    it (mean 1002.5 m < 1007.5 m) and can be irrigated by gravity; parcels north of it cannot."""
    ws = Workspace.create(tmp_path / "irr", name="Irr", crs=CRS)
    south = [square(100 * i, 0, 100) for i in range(3)]
    north = [square(100 * i, 300, 100) for i in range(3)]
    parcels = gdf({"cadastral_no": [f"S{i}" for i in range(3)] + [f"N{i}" for i in range(3)],
                   "category": ["agricultural"] * 6, "land_type": ["rain_fed"] * 6,
                   "use_status": ["used"] * 6, "owner_type": ["private"] * 6}, south + north)
    canal = gdf({"name": ["Canal"], "water_type": ["canal"]}, [LineString([(X0 - 100, Y0 + 150), (X0 + 400, Y0 + 150)])])
    ws.write_layers({"parcels": parcels, "water_bodies": canal}, {"parcels": {"source": "test"}, "water_bodies": {"source": "test"}})
    res = 10.0
    ys = Y0 + 600 - res / 2 - res * np.arange(80)           # cell centres, north to south
    z = (1000 + 0.05 * (ys - Y0))[:, None] * np.ones((1, 60))
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=60, height=80, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0 - 100, Y0 + 600, res, res)) as dst:
        dst.write(z.astype("float32"), 1)
    ws.set_dem(dem, source="analytic plane")
    d = demand(_scn(investments=[{"sector": "irrigation", "amount_mio_som": 0.1}]))   # 1.75 ha
    a = allocate(ws, d, uses=["irrigated_agriculture"])
    cand = a.candidates.set_index("cadastral_no")
    assert cand.loc["S0", "slope_deg"] == pytest.approx(np.degrees(np.arctan(0.05)), abs=1e-3)
    assert cand.loc["S0", "elev_m"] == pytest.approx(1002.5, abs=0.01)
    assert cand.loc["S0", "canal_elev_m"] == pytest.approx(1007.5, abs=0.26)
    assert set(cand.index[cand["status"] == "above_water_source"]) == {"N0", "N1", "N2"}
    assert set(a.pieces["cadastral_no"]) <= {"S0", "S1", "S2"}
    assert a.summary.iloc[0]["allocated"] == pytest.approx(1.75, abs=1e-6)
    # irrigation changes the land type (rain-fed → irrigated), not the category
    res_ = run_scenario(ws, _scn(investments=[{"sector": "irrigation", "amount_mio_som": 0.1}]))
    tr = res_.consequences.transformations
    assert set(tr["target_land_type"]) == {"irrigated"} and set(tr["target_category"]) == {"agricultural"}
    assert res_.consequences.indicators["arable_loss_ha"] == 0.0


# --------------------------------------------------------------------------- consequences
def test_consequences_balance_matches_recomputed_balance(grid_ws, tmp_path):
    scn = _scn(housing={"queue_households": 30}, investments=[{"sector": "tourism", "amount_mio_som": 10}])
    res = run_scenario(grid_ws, scn)
    c = res.consequences
    # transformations: every allocated piece's parcel, reserve → settlement / industry_transport, with ha
    tr = c.transformations
    assert set(tr["current_category"]) == {"reserve"}
    assert set(tr["target_category"]) == {"settlement", "industry_transport"}
    plots_ha = 30 * 0.1
    streets_ha = float(c.allocated.loc[c.allocated["kind"] == "street"].geometry.area.sum()) / HA
    assert tr.loc[tr["use"] == "housing", "area_ha"].sum() == pytest.approx(plots_ha + streets_ha)
    assert tr.loc[tr["use"] == "tourism_facility", "area_ha"].sum() == pytest.approx(1.0)    # 2 objects × 0.5 ha
    # the after-cadastre written to a new workspace and balanced from scratch
    after = apply_allocation(grid_ws.read_layer("parcels"), c.allocated)
    ws2 = Workspace.create(tmp_path / "after", name="after", crs=CRS)
    ws2.write_layer("parcels", after, source="scenario applied")
    recomputed = compute_balance(ws2)
    got = dict(zip(recomputed.by_category["code"], recomputed.by_category["area_ha"]))
    tab = c.balance[c.balance["level"] == "category"].set_index("code")
    for code, row in tab.iterrows():
        assert row["before_ha"] + row["change_ha"] == pytest.approx(got.get(code, 0.0), abs=1e-6)
        assert row["after_ha"] == pytest.approx(got.get(code, 0.0), abs=1e-6)
    assert tab["change_ha"].sum() == pytest.approx(0.0, abs=1e-9)
    assert got["reserve"] == pytest.approx(10.0 - plots_ha - streets_ha - 1.0)
    # infrastructure: street length = street area / 12 m
    infra = c.infrastructure.set_index("item")
    assert infra.loc["streets", "quantity"] == pytest.approx(streets_ha * HA / 12 / 1000, abs=1e-4)
    assert c.hazard_exposure.empty
    assert c.indicators["hazard_exposed_ha"] == 0.0


def test_hazard_exposure_counts_conditional_land(tmp_path):
    """A medium flood zone conditions housing (allowed with protection): plots inside it are reported."""
    ws = Workspace.create(tmp_path / "hz", name="hz", crs=CRS)
    parcels = gdf({"cadastral_no": ["A"], "category": ["reserve"], "use_status": ["unused"],
                   "owner_type": ["municipal"]}, [square(0, 0, 100)])
    hz = gdf({"hazard_type": ["flood"], "level": ["medium"], "method": ["official"]}, [rect(0, 0, 25, 100)])
    ws.write_layers({"parcels": parcels, "hazard_zones": hz}, {"parcels": {"source": "t"}, "hazard_zones": {"source": "t"}})
    res = run_scenario(ws, _scn(housing={"queue_households": 8}))
    ex = res.consequences.hazard_exposure
    assert ex[["hazard_type", "level", "use"]].values.tolist() == [["flood", "medium", "housing"]]
    assert ex["plots"].iloc[0] == 2                          # the western column, both rows
    assert ex["area_ha"].iloc[0] == pytest.approx(0.23)     # 2 plots of 0.1 ha + their 25 × 12 m street cell
    verdicts = set(res.allocation.candidates["verdict"])
    assert verdicts == {"conditional"}


def test_compare_table_and_maps(grid_ws, artifacts_dir):
    a = _scn(id="small", housing={"queue_households": 10})
    b = _scn(id="large", housing={"queue_households": 100}, investments=[{"sector": "tourism", "amount_mio_som": 10}])
    results = run_many(grid_ws, [a, b])
    df = compare_table(results, "en")
    row = df.set_index("Indicator")
    assert row.loc["House plots allocated"].tolist() == [10, 32]      # 32: all the land within 500 m
    assert row.loc["House plots without land"].tolist() == [0, 68]
    png = plot_maps(results, grid_ws.read_layer("parcels"), artifacts_dir / "scenarios_compare_grid.png", "ky",
                    hazards=grid_ws.read_layer("hazard_zones"))
    assert png.exists() and png.stat().st_size > 10_000


def test_cli_run_and_compare_on_grid(grid_ws, tmp_path, capsys):
    f = tmp_path / "q.yaml"
    f.write_text("id: q\nbase_year: 2024\nhorizon_year: 2026\nhousing: {queue_households: 12}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["scenario", "run", str(f), "-w", str(grid_ws.root), "--lang", "ky", "--out", str(out), "--save"]) == 0
    text = capsys.readouterr().out
    assert "P0" in text and "scenario_q" in text
    assert (out / "q_allocated.geojson").exists() and (out / "q_map.png").exists()
    back = gpd.read_file(out / "q_allocated.geojson")
    assert (back["kind"] == "plot").sum() == 12
    assert grid_ws.has_layer("scenario_q")
    assert main(["scenario", "compare", str(f), "baseline", "-w", str(grid_ws.root), "--format", "csv"]) == 0


def test_farmland_penalty_keeps_houses_off_irrigated_land(tmp_path):
    """Two parcels touch the settlement on either side; the irrigated one is penalised (rules as data)."""
    ws = Workspace.create(tmp_path / "farm", name="farm", crs=CRS)
    parcels = gdf({"cadastral_no": ["A", "B"], "category": ["agricultural", "reserve"],
                   "land_type": ["irrigated", None], "use_status": ["unused", "unused"],
                   "owner_type": ["state_fund", "municipal"]}, [square(-100, 0, 100), square(100, 0, 100)])
    st = gdf({"name": ["V"]}, [square(0, 0, 100)])
    ws.write_layers({"parcels": parcels, "settlements": st}, {"parcels": {"source": "t"}, "settlements": {"source": "t"}})
    a = allocate(ws, demand(_scn(housing={"queue_households": 8})))
    assert set(a.pieces["cadastral_no"]) == {"B"}
    cand = a.candidates.set_index("cadastral_no")
    assert cand.loc["A", "farmland_penalty"] == pytest.approx(0.3)
    assert cand.loc["A", "score"] == pytest.approx(cand.loc["B", "score"] - 0.3)
    # without the penalty irrigated land still comes last (farmland protection, Land Code)
    free = allocate(ws, demand(_scn(housing={"queue_households": 8},
                                    norms={"suitability": {"housing": {"farmland_penalty": {"irrigated": 0.0}}}})))
    assert set(free.pieces["cadastral_no"]) == {"B"}
    # neither penalty nor protection: the village grows from its edge on both sides (the 4 plots of
    # each parcel nearest the settlement come first: the 25 m columns at 0 and 25 m from it)
    none = allocate(ws, demand(_scn(housing={"queue_households": 8},
                                    norms={"suitability": {"housing": {"farmland_penalty": {"irrigated": 0.0}}},
                                           "farmland_protection": {"land_types": []}})))
    plots = none.pieces[none.pieces["kind"] == "plot"]
    assert plots.groupby("cadastral_no").size().to_dict() == {"A": 4, "B": 4}
    assert (plots["dist_settlement_m"] >= 0).all() and not none.pieces["protected_farmland"].any()
    st_geom = st.geometry.iloc[0]
    assert sorted(round(g.distance(st_geom)) for g in plots.geometry) == [0] * 4 + [25] * 4
    # more than B holds: A's irrigated plots are taken last, each named with its legal step
    more = allocate(ws, demand(_scn(housing={"queue_households": 12})))
    on_a = more.pieces[(more.pieces["cadastral_no"] == "A") & (more.pieces["kind"] == "plot")]
    assert len(on_a) == 4 and on_a["protected_farmland"].all()
    assert on_a["legal_step"].str.contains("Law No. 145").all()


def test_transformation_files_from_zoning(grid_ws):
    res = run_scenario(grid_ws, _scn(housing={"queue_households": 12}))
    proc = res.consequences.procedure
    assert proc is not None
    assert proc["cadastral_no"].tolist() == ["P0", "P1"]
    assert set(proc["target_category"]) == {"settlement"} and set(proc["current_category"]) == {"reserve"}
    tr = res.consequences.transformations.groupby("cadastral_no")["area_ha"].sum()
    assert proc.set_index("cadastral_no")["area_ha"].to_dict() == pytest.approx(tr.to_dict())
    assert any(c.endswith("_status") for c in proc.columns)
    assert set(proc["verdict"]) <= {"allowed", "conditional"}
