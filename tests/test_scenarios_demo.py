"""Growth scenarios on the demo municipality: the CLI runs, and the consequence table agrees with the
land balance recomputed (by gis_planner.balance) on the cadastre after the allocation."""
from __future__ import annotations

import json

import pytest

from gis_planner.balance import compute_balance
from gis_planner.cli import main
from gis_planner.scenarios import apply_allocation, run_scenario


@pytest.fixture(scope="module")
def irrigation_run(demo_ws):
    return run_scenario(demo_ws, "irrigation")


def test_demo_cli_run_json(demo_ws, capsys):
    assert main(["scenario", "run", "baseline", "-w", str(demo_ws.root), "--format", "json", "--lang", "en"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # the base from the workspace: 14 555 people in the settlements layer (history 11 500 scaled × 1.2657),
    # household size 14 555 / 3 173 = 4.59; 5.48 %/yr → 19 005 in 2029: ⌈4 450 / 4.59⌉ = 970 + 60 queue
    assert doc["indicators"]["plots_demand"] == 1030
    assert doc["indicators"]["plots_allocated"] + doc["indicators"]["plots_unmet"] == 1030
    assert doc["demand"]["base_from"]["population"] == "workspace"
    assert doc["demand"]["base_from"]["household_size"] == "workspace"
    assert doc["demand"]["population"]["2024"] == 14555 if "2024" in doc["demand"]["population"] else \
        doc["demand"]["population"][2024] == 14555
    assert [n["code"] for n in doc["demand"]["notes"]] == ["trend_beyond_range"]
    assert doc["provenance"]["norms"]["file"] == "layers/scenario_norms.yaml"
    assert "parcels" in doc["provenance"]["layers"]
    steps = {s["key"] for s in doc["steps"]}
    assert {"pop_rate", "pop_mean_rate", "pop_forecast", "households_total", "school_places"} <= steps


def test_demo_consequence_balance_matches_recomputed_balance(demo_ws, irrigation_run):
    c = irrigation_run.consequences
    parcels = demo_ws.read_layer("parcels")
    before = compute_balance(demo_ws)
    after = compute_balance(parcels=apply_allocation(parcels, c.allocated), topology=False)
    b0 = dict(zip(before.by_category["code"], before.by_category["area_ha"]))
    b1 = dict(zip(after.by_category["code"], after.by_category["area_ha"]))
    tab = c.balance[c.balance["level"] == "category"].set_index("code")
    for code, row in tab.iterrows():
        assert row["before_ha"] == pytest.approx(b0.get(code, 0.0), abs=1e-6)
        assert row["before_ha"] + row["change_ha"] == pytest.approx(b1.get(code, 0.0), abs=1e-6)
    lt0 = dict(zip(before.by_land_type["code"], before.by_land_type["area_ha"]))
    lt1 = dict(zip(after.by_land_type["code"], after.by_land_type["area_ha"]))
    lt = c.balance[c.balance["level"] == "land_type"].set_index("code")
    for code, row in lt.iterrows():
        assert row["before_ha"] == pytest.approx(lt0.get(code, 0.0), abs=1e-6)
        assert row["before_ha"] + row["change_ha"] == pytest.approx(lt1.get(code, 0.0), abs=1e-6)
    # the transformation list adds up to the allocated land that changes category or land type
    moved = c.allocated[(c.allocated["category"] != c.allocated["target_category"])
                        | (c.allocated["land_type"].fillna("") != c.allocated["target_land_type"].fillna(""))]
    assert c.transformations["area_ha"].sum() == pytest.approx(moved.geometry.area.sum() / 1e4, rel=1e-9)


def test_demo_allocation_respects_prohibitions(demo_ws, irrigation_run):
    from gis_planner.zoning import check_many

    pcs = irrigation_run.allocation.pieces
    for use in ("housing", "social_facility", "irrigated_agriculture"):
        sel = pcs[pcs["use"] == use]
        if len(sel):
            res = check_many(demo_ws, use, sel)
            assert (res["prohibited_share"] < 1e-6).all(), use
    # demand that cannot be met is reported, never silently dropped
    s = irrigation_run.allocation.summary.set_index("use")
    assert (s["allocated"] + s["unmet"] - s["demand"]).abs().max() < 1e-6
