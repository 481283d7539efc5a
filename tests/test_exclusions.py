"""Land that is never candidate land (issue 14 item 1): sanitary protection zones, infrastructure land
and unsuitable terrain as restriction kinds, seen by the parcel check, the restriction map and the CLI.

Hand-computable geometry: the synthetic workspace of tests/synthetic_growth.py (100 m parcels, a landfill
parcel at x 600–700, y 900–1 000, a road column at x 500–600, a pond parcel of reserve category)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from gis_planner import Workspace
from gis_planner.cli import main
from gis_planner.zoning import build_restrictions, check
from gis_planner.zoning.exclusions import terrain_limits
from gis_planner.zoning.rules import validate_restriction_rules

from . import synthetic_growth
from .helpers import CRS, X0, Y0, gdf, rect


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return synthetic_growth.build(tmp_path_factory.mktemp("excl") / "ws")


def test_rule_file_valid_and_every_width_has_a_source():
    assert validate_restriction_rules() == []
    import yaml

    rules = yaml.safe_load(open("layers/restrictions.yaml", encoding="utf-8"))
    for obj, e in rules["sanitary_zones"]["objects"].items():
        assert e["width_m"] > 0 and e["source"]["en"] and e["confirmed"] is False, obj
    assert rules["sanitary_zones"]["objects"]["landfill"]["width_m"] == 500
    assert "No. 201" in rules["sanitary_zones"]["objects"]["landfill"]["source"]["en"]
    assert rules["sanitary_zones"]["objects"]["cattle_burial"]["width_m"] == 1000


def test_sanitary_zone_of_the_landfill_is_its_buffer(ws):
    r = build_restrictions(ws)
    san = r[(r["kind"] == "sanitary_zone") & (r["subtype"] == "landfill")]
    assert set(san["source_layer"]) == {"waste_sites", "parcels"} and (san["width_m"] == 500).all()
    # a 100 m square buffered by 500 m: 100² + 4·100·500 + π·500²
    expected = 100 ** 2 + 4 * 100 * 500 + math.pi * 500 ** 2
    assert san.geometry.area.iloc[0] == pytest.approx(expected, rel=2e-4)
    burial = r[(r["kind"] == "sanitary_zone") & (r["subtype"] == "cattle_burial")]
    assert len(burial) == 1 and burial["width_m"].iloc[0] == 1000
    cem = r[(r["kind"] == "sanitary_zone") & (r["subtype"] == "cemetery")]
    assert len(cem) == 1 and cem["width_m"].iloc[0] == 300


def test_infrastructure_by_land_use_and_lines(ws):
    r = build_restrictions(ws)
    inf = r[r["kind"] == "infrastructure"]
    by_parcel = inf[inf["source_layer"] == "parcels"]
    assert set(by_parcel["subtype"]) == {"road", "water"}
    assert (by_parcel["subtype"] == "road").sum() == 12 and (by_parcel["subtype"] == "water").sum() == 1
    # the street line along y = 395 (4 000 m long) buffered by 6 m each side, round caps
    street = inf[(inf["source_layer"] == "roads") & (inf["subtype"] == "street")]
    assert street.geometry.area.iloc[0] == pytest.approx(2 * 6 * 4000 + math.pi * 36, rel=1e-3)
    canal = inf[inf["source_layer"] == "water_bodies"]
    assert canal["width_m"].iloc[0] == 3


def test_check_on_the_landfill_and_near_it_is_prohibited_with_source(ws):
    on = check(ws, "housing", parcel_id="9-01-01-0009-0012", lang="en")        # the landfill parcel
    assert on.verdict == "prohibited"
    kinds = {x["kind"] for x in on.reasons}
    assert "sanitary_zone" in kinds
    r = next(x for x in on.reasons if x["kind"] == "sanitary_zone")
    assert "No. 201" in r["legal_source"] and r["share"] == pytest.approx(1.0)
    # 400 m east of the landfill (x 1 100–1 200, y 900–1 000): inside its 500 m zone
    near = check(ws, "housing", point=(X0 + 1150, Y0 + 950), lang="en")
    assert near.verdict == "prohibited" and "sanitary_zone" in {x["kind"] for x in near.reasons}
    # 800 m east (x 1 500–1 600): outside
    far = check(ws, "housing", point=(X0 + 1550, Y0 + 950), lang="en")
    assert "sanitary_zone" not in {x["kind"] for x in far.reasons}


def test_check_on_road_and_pond_parcels_is_prohibited(ws):
    road = check(ws, "housing", point=(X0 + 550, Y0 + 150), lang="en")
    assert road.verdict == "prohibited" and "infrastructure" in {x["kind"] for x in road.reasons}
    pond = check(ws, "social_facility", point=(X0 + 1150, Y0 + 350), lang="en")      # reserve category
    assert pond.verdict == "prohibited" and "infrastructure" in {x["kind"] for x in pond.reasons}


def test_cli_check_and_restrictions_show_the_new_kinds(ws, capsys):
    assert main(["check", "-w", str(ws.root), "--use", "housing", "--parcel", "9-01-01-0009-0012",
                 "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Sanitary protection zone prohibits" in out and "No. 201" in out
    assert main(["restrictions", "-w", str(ws.root), "--use", "housing", "--no-write", "--format", "json",
                 "--lang", "en"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"sanitary_zone", "infrastructure"} <= set(json.dumps(doc).replace('"', " ").split())


def test_terrain_above_settlement_elevation_and_steep_slope(tmp_path):
    """A village at 1 500 m on a flat plain; north of y = 1 000 m the ground rises 0.3 m/m (16.7°).
    Limits: 1 500 + 150 = 1 650 m (reached at y = 1 500) and 15°: housing there is prohibited."""
    w = Workspace.create(tmp_path / "t", name="t", crs=CRS)
    w.write_layers({"parcels": gdf({"cadastral_no": ["A"], "category": ["reserve"]}, [rect(0, 0, 400, 2000)]),
                    "settlements": gdf({"name": ["V"], "population": [100]}, [rect(0, 0, 400, 200)])},
                   {"parcels": {"source": "t"}, "settlements": {"source": "t"}})
    res = 10.0
    ys = Y0 + 2000 - res / 2 - res * np.arange(200)
    z = (1500 + 0.3 * np.clip(ys - (Y0 + 1000), 0, None))[:, None] * np.ones((1, 40))
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=40, height=200, count=1, dtype="float32",
                       crs=f"EPSG:{CRS}", transform=from_origin(X0, Y0 + 2000, res, res)) as dst:
        dst.write(z.astype("float32"), 1)
    w.set_dem(dem, source="analytic")
    lim = terrain_limits(w, w.read_layer("settlements"), w.dem_path)
    assert lim["highest_settlement_m"] == pytest.approx(1500.0) and lim["max_elevation_m"] == pytest.approx(1650.0)
    r = build_restrictions(w)
    ter = r[r["kind"] == "terrain"].set_index("subtype")
    # elevation: cells with centre above 1 650 m — y from 1 500 to 2 000 (less the edge cell row)
    assert ter.loc["elevation"].geometry.bounds[1] == pytest.approx(Y0 + 1500, abs=10.01)
    assert ter.loc["slope"].geometry.bounds[1] == pytest.approx(Y0 + 1000, abs=20.01)
    high = check(w, "housing", geometry=rect(100, 1700, 200, 1800), lang="en")
    assert high.verdict == "prohibited"
    assert {x["rule_id"] for x in high.reasons} >= {"terrain_elevation", "terrain_slope"}
    low = check(w, "housing", geometry=rect(100, 300, 200, 400), lang="en")
    assert "terrain" not in {x["kind"] for x in low.reasons}
