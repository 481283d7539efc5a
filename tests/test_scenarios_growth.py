"""Issue 14 acceptance: allocations a district planner would sign, on the demo AND on a workspace built by
hand from other data (tests/synthetic_growth.py), for every shipped scenario in data/scenarios/.

For every allocated feature: nothing on or within the sanitary zone of a waste site, cemetery or cattle
burial site (zones recomputed here from the widths of layers/restrictions.yaml, not taken from the
code under test); nothing on a road, street, canal, river or water parcel; ≥ 95 % of house plots within
the growth distance of a village; social facilities within their service radius; new irrigated land
only on land not irrigated today."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
import yaml

from gis_planner.scenarios import Scenario, find_scenario, run_scenario
from gis_planner.scenarios.model import examples_dir

from . import synthetic_growth
from .helpers import square

SHIPPED = sorted(p.stem for p in examples_dir().glob("*.yaml"))
RULES = yaml.safe_load(open("layers/restrictions.yaml", encoding="utf-8"))
NORMS = yaml.safe_load(open("layers/scenario_norms.yaml", encoding="utf-8"))
GROWTH_M = NORMS["growth"]["max_distance_m"]["value"]
SOCIAL_M = NORMS["growth"]["service_radius_m"]["social_facility"]["value"]
WASTE_TYPES = {"landfill": "landfill", "dump": "landfill", "illegal_dump": "illegal_dump",
               "cattle_burial": "cattle_burial"}


def _width(obj: str) -> float:
    return float(RULES["sanitary_zones"]["objects"][obj]["width_m"])


def _sanitary_union(ws):
    """Waste sites, cemeteries and cattle burial sites buffered by their widths (0.5 m tolerance for the
    polygonised circle)."""
    zones = []
    waste = ws.read_layer("waste_sites", missing_ok=True)
    if waste is not None:
        for t, g in zip(waste["site_type"], waste.geometry):
            if t in WASTE_TYPES:
                zones.append(g.buffer(_width(WASTE_TYPES[t]) - 0.5, quad_segs=64))
    p = ws.read_layer("parcels")
    for lu, obj in (("landfill", "landfill"), ("cemetery", "cemetery")):
        for g in p.geometry[p["land_use"] == lu]:
            zones.append(g.buffer(_width(obj) - 0.5, quad_segs=64))
    return shapely.union_all(zones)


def assert_defensible(ws, res):
    pcs = res.allocation.pieces
    assert len(pcs), "nothing allocated"
    geoms = np.asarray(pcs.geometry.values)
    # 1. sanitary zones of waste sites, cemeteries, cattle burial sites
    san = _sanitary_union(ws)
    assert not san.is_empty
    assert shapely.area(shapely.intersection(geoms, san)).max() < 1e-6
    # 2. roads, streets, canals, rivers, water parcels and water bodies
    p = ws.read_layer("parcels")
    infra = shapely.union_all(p.geometry[p["land_use"].isin(["road", "water"])].values)
    assert shapely.area(shapely.intersection(geoms, infra)).max() < 1e-6
    roads = shapely.union_all(ws.read_layer("roads").geometry.values)
    assert not shapely.intersects(geoms, roads).any()
    water = ws.read_layer("water_bodies")
    assert not shapely.intersects(geoms, shapely.union_all(water.geometry.values)).any()
    # 3. house plots extend the villages
    st = shapely.union_all(ws.read_layer("settlements").geometry.values)
    plots = geoms[(pcs["kind"] == "plot").to_numpy()]
    if len(plots):
        near = shapely.distance(plots, st) <= GROWTH_M + 1e-6
        assert near.mean() >= 0.95
    # 4. social facilities within their service radius of the houses they serve
    soc = geoms[(pcs["use"] == "social_facility").to_numpy()]
    if len(soc):
        assert (shapely.distance(soc, st) <= SOCIAL_M + 1e-6).all()
    # 5. new irrigated land / plantations on land not irrigated today
    irr = pcs[pcs["use"].isin(["irrigated_agriculture", "perennial_crop"])]
    assert not irr["land_type"].isin(["irrigated", "perennial"]).any()
    # 6. demand that cannot be met is reported, never dropped
    s = res.allocation.summary
    assert ((s["allocated"] + s["unmet"] - s["demand"]).abs() < 1e-6).all()


@pytest.fixture(scope="module")
def synth_ws(tmp_path_factory):
    return synthetic_growth.build(tmp_path_factory.mktemp("synth") / "ws")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_defensible_on_demo(demo_ws, name):
    assert_defensible(demo_ws, run_scenario(demo_ws, name))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_defensible_on_synthetic_workspace(synth_ws, name):
    res = run_scenario(synth_ws, name)
    assert_defensible(synth_ws, res)
    # the base is the synthetic workspace's own, not the demo's: 2 000 + 900 people, 650 households
    assert res.demand.population[res.demand.base_year] == 2900
    assert res.demand.base_from["population"] == "workspace"
    assert res.demand.base_from["household_size"] == "workspace"
    assert set(res.allocation.villages["village"]) == {"Jany-Aiyl", "Kara-Too"}
    if name == "irrigation":   # new irrigated land exists, below the canal, on land not irrigated today
        irr = res.allocation.pieces[res.allocation.pieces["use"] == "irrigated_agriculture"]
        assert irr["area_ha"].sum() > 50 and (irr["elev_m"] < irr["canal_elev_m"]).all()


def test_synthetic_plots_grow_from_each_village_edge(synth_ws):
    res = run_scenario(synth_ws, "baseline")
    pcs = res.allocation.pieces
    plots = pcs[pcs["kind"] == "plot"]
    v = res.allocation.villages.set_index(["village", "use"])
    # housing demand split by households 450 : 200 (largest remainder)
    total = int(res.allocation.summary.set_index("use").loc["housing", "demand"])
    ja = v.loc[("Jany-Aiyl", "housing"), "demand"]
    assert ja == pytest.approx(round(total * 450 / 650), abs=1)
    assert set(plots["village"]) == {"Jany-Aiyl", "Kara-Too"}
    # the cemetery's 300 m zone and the landfill's 500 m zone are empty of plots; the road column too
    assert not any(g.intersects(square(500, 0, 100).buffer(-0.01)) for g in plots.geometry)


def test_synthetic_pasture_and_irrigated_taken_last(synth_ws):
    """A queue larger than the reserve land near the villages: pasture / irrigated land only after it."""
    scn = Scenario.from_dict({"id": "big", "base_year": 2024, "horizon_year": 2026,
                              "housing": {"queue_households": 1500}})
    res = run_scenario(synth_ws, scn)
    pcs = res.allocation.pieces
    plots = pcs[pcs["kind"] == "plot"]
    prot = plots[plots["protected_farmland"].astype(bool)]
    # any protected plot only after the village's reserve land is used up (its capacity all taken)
    for village, grp in plots.groupby("village"):
        if grp["protected_farmland"].astype(bool).any():
            free = res.allocation.candidates
            free = free[(free["use"] == "housing") & (free["village"] == village) & (free["farmland_tier"] == 0)
                        & (free["status"] == "candidate")]
            assert grp[~grp["protected_farmland"].astype(bool)]["cadastral_no"].nunique() <= len(free)
    assert prot["legal_step"].str.contains("Law No. 145").all()
    taken = pcs[pcs["protected_farmland"].astype(bool)].geometry.area.sum() / 1e4
    assert taken > 0 and res.consequences.indicators["protected_farmland_ha"] == pytest.approx(taken, abs=1e-4)
    tr = res.consequences.transformations
    named = tr[tr["current_land_type"].isin(["irrigated", "pasture"])]
    assert (named["legal_step"].str.len() > 0).all()
    assert res.allocation.unmet_options, "1 500 plots cannot fit within 500 m: unmet demand per village"


def test_demo_4000_queue_reports_unmet_per_village_not_mountain_plots(demo_ws):
    scn = find_scenario("baseline", demo_ws)
    data = scn.to_dict()
    data["housing"] = {**data.get("housing", {}), "queue_households": 4000}
    res = run_scenario(demo_ws, Scenario.from_dict(data))
    a = res.allocation
    plots = a.pieces[a.pieces["kind"] == "plot"]
    st = shapely.union_all(demo_ws.read_layer("settlements").geometry.values)
    assert (shapely.distance(np.asarray(plots.geometry.values), st) <= GROWTH_M + 1e-6).all()
    assert a.summary.set_index("use").loc["housing", "unmet"] > 0
    opts = {o["village"]: o for o in a.unmet_options}
    assert set(opts) == set(demo_ws.read_layer("settlements")["name"])
    for o in opts.values():
        assert o["unmet_plots"] > 0 and o["multistorey_ha"] == pytest.approx(o["unmet_plots"] / 100, abs=0.01)
        assert "densification_plots" in o and "other_villages" in o
        assert o["council_land"] and all(c["tradeoff"] in ("irrigated", "pasture", "private", "in_use")
                                         for c in o["council_land"])
    assert sum(o["unmet_plots"] for o in opts.values()) == int(a.summary.set_index("use").loc["housing", "unmet"])


@pytest.mark.usefixtures("no_app_warm_up")
def test_app_scenarios_page_shows_base_villages_and_alternatives(demo_ws, tmp_path):
    from gis_planner.i18n import t

    from .apptest import copy_demo, open_app

    ws = copy_demo(demo_ws, tmp_path / "demo")
    at = open_app(ws, "en", "scenarios")
    at.button(key="scn_run").click().run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    warnings = " ".join(w.value for w in at.warning)
    assert "Base: population — from the workspace" in captions
    assert "Plausibility" in captions
    assert t("scenarios.title.villages", "en") in captions
    # one warning block per village with unmet demand, naming the alternatives
    assert "Options:" in warnings and "densification" in warnings and "council decision" in warnings


def test_scenario_base_differing_from_the_workspace_is_warned(demo_ws):
    """Without base_from the scenario's own 11 500 stands, and differs from the settlements layer's
    14 555 by |11 500 − 14 555| / 14 555 = 21.0 % > 5 %."""
    from gis_planner.scenarios import demand

    data = find_scenario("baseline", demo_ws).to_dict()
    data["population"] = {k: v for k, v in data["population"].items() if k != "base_from"}
    d = demand(Scenario.from_dict(data), demo_ws)
    assert d.base_from["population"] == "scenario" and d.population[2024] == 11500
    (note,) = [x for x in d.notes if x["code"] == "base_differs"]
    assert (note["scenario"], note["workspace"], note["diff_pct"]) == (11500, 14555, 21.0)
    # the household size still comes from the workspace: 14 555 / 3 173 = 4.59
    assert d.base_from["household_size"] == "workspace"
    assert "4.59" in [s for s in d.steps if s.key == "households_trend"][0].formula
