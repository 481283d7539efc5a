"""Zoning: restriction frame, parcel check, check_many, restriction map, rules as data.

All geometry is hand-made in EPSG:7695 (tests/helpers.py) so every expected figure is computable by hand.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from shapely.geometry import LineString, Point

from gis_planner.errors import GisPlannerError
from gis_planner.zoning import (build_restrictions, check, check_many, restriction_map, save_zoning_rules,
                                validate_restriction_rules, validate_zoning_rules, zoning_rules)
from gis_planner.zoning.restrictions import buffer_style
from gis_planner.zoning.rules import restriction_rules
from tests.helpers import X0, Y0, gdf, rect, square

PROV = {"source": "hand-made test geometry", "source_date": "2026-11-24"}

# small river along y = 0 from x = 0 to 1000: zone 100 m, coastal strip 20 m (layers/restrictions.yaml)
W_ZONE, W_STRIP, L = 100.0, 20.0, 1000.0


def river(x0=0.0, x1=L, y=0.0):
    return LineString([(X0 + x0, Y0 + y), (X0 + x1, Y0 + y)])


def write(ws, **layers):
    ws.write_layers(layers, {name: PROV for name in layers})


@pytest.fixture
def river_ws(tmp_ws):
    """A 1 km small river; parcel A half in the coastal strip; B outside every zone."""
    write(tmp_ws,
          water_bodies=gdf({"name": ["Ak-Suu"], "water_type": ["river"], "size_class": ["small"]}, [river()]),
          parcels=gdf({"cadastral_no": ["A", "B"], "category": ["settlement", "settlement"],
                       "land_use": ["housing", "housing"]},
                      [rect(400, 0, 500, 40), rect(400, 300, 500, 400)]),
          boundary=gdf({"name": ["test"]}, [rect(-500, -500, 1500, 1000)]))
    return tmp_ws


def override(ws, name, data):
    d = ws.root / "layers"
    d.mkdir(exist_ok=True)
    (d / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


# ---------------------------------------------------------------------- restriction frame
def test_restriction_frame_contract(river_ws):
    r = build_restrictions(river_ws)
    for col in ("kind", "subtype", "level", "rule_id", "legal_source", "source_layer", "source_fid"):
        assert col in r.columns
    assert r.crs.to_epsg() == 7695
    # the river channel itself is infrastructure land (exclusions, issue 14): 5 m each side of the line
    channel = r[r["kind"] == "infrastructure"]
    assert len(channel) == 1 and channel["width_m"].iloc[0] == 5
    r = r[r["kind"] != "infrastructure"]
    assert sorted(r["kind"]) == ["coastal_strip", "water_protection_zone"]
    assert set(r["source_layer"]) == {"water_bodies"} and set(r["source_fid"]) == {1}
    assert all("271" in s for s in r["legal_source"])
    assert r.set_index("kind").loc["coastal_strip", "width_m"] == W_STRIP
    assert not r["confirmed"].any()  # indicative widths until the municipality confirms them


@pytest.mark.parametrize("w", [20.0, 100.0])
def test_round_buffer_of_straight_river_is_2wL_plus_pi_w2(river_ws, w):
    r = build_restrictions(river_ws).set_index("width_m")
    expected = 2 * w * L + math.pi * w ** 2
    # the disc is a 256-gon (quad_segs 64): its area is pi*w^2 * (1 - 1.0e-4)
    assert r.loc[w].geometry.area == pytest.approx(expected, abs=math.pi * w ** 2 * 2e-4)
    assert buffer_style(restriction_rules())["cap_style"] == "round"


def test_flat_caps_by_override_give_2wL(river_ws):
    override(river_ws, "restrictions", {"geometry": {"cap_style": "flat"}})
    r = build_restrictions(river_ws).set_index("width_m")
    assert r.loc[W_ZONE].geometry.area == pytest.approx(2 * W_ZONE * L, rel=1e-9)
    assert r.loc[W_STRIP].geometry.area == pytest.approx(2 * W_STRIP * L, rel=1e-9)


def test_lake_polygon_buffered_outward_from_shore(tmp_ws):
    write(tmp_ws, water_bodies=gdf({"water_type": ["lake"], "size_class": [None]}, [square(0, 0, 1000)]))
    r = build_restrictions(tmp_ws).set_index("kind")
    w = 300.0  # lake default zone
    ring = r.loc["water_protection_zone"].geometry
    assert ring.area == pytest.approx(4 * 1000 * w + math.pi * w ** 2, abs=math.pi * w ** 2 * 2e-4)
    assert ring.intersection(square(0, 0, 1000)).area == pytest.approx(0, abs=1e-6)  # water surface excluded


def test_protected_forest_hazard_and_legal_zones_in_frame(tmp_ws):
    write(tmp_ws,
          protected_areas=gdf({"name": ["NP", "NP"], "regime": ["core", "buffer"]},
                              [square(0, 0, 100), square(100, 0, 100)]),
          parcels=gdf({"cadastral_no": ["F1", "S1"], "category": ["Лесной фонд", "settlement"]},
                      [square(0, 200, 100), square(200, 200, 100)]),
          hazard_zones=gdf({"hazard_type": ["mudflow"], "level": ["high"], "method": ["official"]},
                           [square(300, 0, 100)]),
          legal_zones=gdf({"zone_code": ["production"], "name": ["Z"]}, [square(400, 0, 100)]))
    r = build_restrictions(tmp_ws)
    got = sorted(zip(r["kind"], r["subtype"], r["rule_id"]), key=str)
    assert got == sorted([("protected_area", "core", "protected_core"), ("protected_area", "buffer", "protected_buffer"),
                          ("forest_fund", "forest_fund", "forest_fund"), ("hazard", "mudflow", "hazard_high"),
                          ("legal_zone", "production", "production")], key=str)
    assert r.loc[r.kind == "hazard", "level"].item() == "high"
    assert r.loc[r.kind == "forest_fund", "source_fid"].item() == 1  # F1's fid, alias matched


def test_official_hazard_zone_governs_computed_overlap(tmp_ws):
    write(tmp_ws, hazard_zones=gdf({"hazard_type": ["flood", "flood"], "level": ["medium", "high"],
                                    "method": ["official", "hand"]}, [square(0, 0, 100), square(50, 0, 100)]))
    r = build_restrictions(tmp_ws).set_index("level")
    assert r.loc["medium"].geometry.area == pytest.approx(10_000)
    assert r.loc["high"].geometry.area == pytest.approx(5_000)  # only the part outside the official zone


# ---------------------------------------------------------------------- check
def test_parcel_half_in_coastal_strip_is_prohibited_for_housing(river_ws):
    res = check(river_ws, "housing", parcel_id="A", lang="en")
    assert res.verdict == "prohibited"
    assert res.cadastral_no == "A" and res.area_ha == pytest.approx(0.4)
    strip = [r for r in res.reasons if r["kind"] == "coastal_strip"]
    assert len(strip) == 1 and strip[0]["effect"] == "prohibited"
    assert strip[0]["share"] == pytest.approx(0.5)
    assert strip[0]["area_ha"] == pytest.approx(0.2)
    assert "No. 271" in strip[0]["legal_source"]
    assert "50%" in strip[0]["message"] and "20 m" in strip[0]["message"]
    zone = [r for r in res.reasons if r["kind"] == "water_protection_zone"][0]
    assert zone["effect"] == "conditional" and zone["share"] == pytest.approx(1.0)
    assert res.prohibited_share == pytest.approx(0.5) and res.conditional_share == pytest.approx(0.5)
    ky = check(river_ws, "housing", parcel_id="A")  # default language Kyrgyz
    assert ky.verdict_label == "Тыюу салынган"


def test_width_source_from_municipal_override_is_reported(river_ws):
    src = "Project of water-protection zones of the Ak-Suu river, approved 2019"
    override(river_ws, "restrictions", {"water_bodies": {"river": {"small": {"source": src, "confirmed": True}}}})
    res = check(river_ws, "housing", parcel_id="A", lang="en")
    strip = [r for r in res.reasons if r["kind"] == "coastal_strip"][0]
    assert strip["legal_source"] == src and strip["confirmed"] is True
    assert "confirm" not in strip["message"]


def test_other_uses_on_the_same_plot(river_ws):
    assert check(river_ws, "livestock_farm", parcel_id="A").verdict == "prohibited"  # Decree 271, whole zone
    farm = check(river_ws, "livestock_farm", parcel_id="A")
    assert max(r["share"] for r in farm.reasons) == pytest.approx(1.0)
    grazing = {r["kind"]: r["effect"] for r in check(river_ws, "grazing", parcel_id="A").reasons}
    assert grazing["coastal_strip"] == "conditional"      # the river channel itself is no pasture
    b = check(river_ws, "housing", parcel_id="B", lang="en")
    assert b.verdict == "allowed" and b.reasons == [] and b.free_share == pytest.approx(1.0)


def test_point_geometry_and_errors(river_ws):
    by_point = check(river_ws, "housing", point=(X0 + 450, Y0 + 5))
    assert by_point.cadastral_no == "A" and by_point.verdict == "prohibited"
    assert check(river_ws, "housing", point=Point(X0 + 450, Y0 + 350)).cadastral_no == "B"
    drawn = check(river_ws, "housing", geometry=rect(0, -20, 100, 20).wkt)  # fully inside the strip
    assert drawn.verdict == "prohibited" and drawn.prohibited_share == pytest.approx(1.0)
    with pytest.raises(GisPlannerError, match="unknown intended use"):
        check(river_ws, "flying", parcel_id="A")
    with pytest.raises(GisPlannerError, match="no parcel"):
        check(river_ws, "housing", parcel_id="ZZZ")
    with pytest.raises(GisPlannerError, match="outside the municipality"):
        check(river_ws, "housing", point=(X0 + 5000, Y0))
    with pytest.raises(GisPlannerError, match="exactly one"):
        check(river_ws, "housing", parcel_id="A", point=(0, 0))


def test_overlapping_polygons_are_not_double_counted(tmp_ws):
    write(tmp_ws, hazard_zones=gdf({"hazard_type": ["landslide"] * 2, "level": ["high"] * 2, "method": ["official"] * 2},
                                   [square(0, 0, 60), square(40, 0, 60)]))
    res = check(tmp_ws, "housing", geometry=square(0, 0, 100))
    assert len(res.reasons) == 1
    assert res.reasons[0]["share"] == pytest.approx(0.6)  # union 100 x 60 of 100 x 100
    assert res.prohibited_share == pytest.approx(0.6)


def test_legal_zone_rules_and_plot_size(tmp_ws):
    write(tmp_ws, legal_zones=gdf({"zone_code": ["production", "residential"]}, [square(0, 0, 100), square(200, 0, 100)]))
    prod = check(tmp_ws, "housing", geometry=square(10, 10, 20), lang="en")
    assert prod.verdict == "prohibited" and prod.reasons[0]["rule_id"] == "production"
    ok = check(tmp_ws, "housing", geometry=square(210, 10, 25), lang="en")  # 0.0625 ha within 0.04-0.12
    assert ok.verdict == "allowed" and ok.reasons[0]["effect"] == "permitted"
    assert "floors ≤ 3" in ok.reasons[0]["message"]
    big = check(tmp_ws, "housing", geometry=square(200, 0, 50), lang="en")  # 0.25 ha > 0.12 ha
    assert big.verdict == "conditional"
    assert any(r["rule_id"] == "residential.plot_size_ha" for r in big.reasons)


# ---------------------------------------------------------------------- rules as data
def test_editing_yaml_changes_the_answer_without_code(river_ws):
    assert check(river_ws, "housing", parcel_id="A").verdict == "prohibited"
    # the municipality widens its coastal strip to 40 m: the whole plot is now in it
    override(river_ws, "restrictions", {"water_bodies": {"river": {"small": {"strip_m": 40}}}})
    assert check(river_ws, "housing", parcel_id="A").prohibited_share == pytest.approx(1.0)
    # ... then allows housing in the strip with conditions: only conditions remain
    override(river_ws, "restrictions", {"rules": {"coastal_strip": {"prohibits": ["industry"],
                                                                    "conditions": ["housing"]}},
                                        "infrastructure": {"water_bodies": {"half_width_m": {"river": 0}}}})
    res = check(river_ws, "housing", parcel_id="A")
    assert res.verdict == "conditional" and res.prohibited_share == 0


def test_zoning_rules_override_and_save(tmp_ws):
    write(tmp_ws, legal_zones=gdf({"zone_code": ["agricultural"]}, [square(0, 0, 100)]))
    assert check(tmp_ws, "housing", geometry=square(0, 0, 20)).verdict == "conditional"
    rules = zoning_rules(tmp_ws)
    rules["zones"]["agricultural"]["conditional"].remove("housing")
    rules["zones"]["agricultural"]["prohibited"].append("housing")
    del rules["zones"]["reserve"]
    path = save_zoning_rules(tmp_ws, rules)
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert saved["zones"]["reserve"] is None and "residential" not in saved["zones"]  # only the differences
    assert check(tmp_ws, "housing", geometry=square(0, 0, 20)).verdict == "prohibited"
    assert "reserve" not in zoning_rules(tmp_ws)["zones"]
    rules["zones"]["agricultural"]["permitted"].append("teleport")
    with pytest.raises(GisPlannerError, match="unknown activity 'teleport'"):
        save_zoning_rules(tmp_ws, rules)
    assert "teleport" not in path.read_text(encoding="utf-8")  # nothing written


def test_rule_files_validate_and_report_problems():
    assert validate_restriction_rules() == []
    assert validate_zoning_rules() == []
    z = zoning_rules()
    assert set(z["zones"]) == {"residential", "mixed_centre", "production", "agricultural", "recreation",
                               "green", "reserve"}
    r = restriction_rules()
    assert set(r["rules"]["water_protection_zone"]["prohibits"]) >= {
        "livestock_farm", "farm_waste", "industry", "sewage", "felling", "effluent_discharge"}  # Decree 271
    assert {"housing", "irrigated_agriculture"} <= set(r["rules"]["coastal_strip"]["prohibits"])
    r["rules"]["coastal_strip"]["conditions"] = ["housing", "yurt_camp"]
    r["water_bodies"]["river"]["small"]["strip_m"] = 500
    problems = validate_restriction_rules(r)
    assert any("unknown activity 'yurt_camp'" in p for p in problems)
    assert any("both prohibited and conditional" in p for p in problems)
    assert any("wider than the zone" in p for p in problems)


# ---------------------------------------------------------------------- check_many and the map
@pytest.fixture
def mixed_ws(tmp_ws):
    """River + protected core/buffer + hazards + legal zones + a 10 x 6 grid of 50 m parcels."""
    cells = [square(-150 + 60 * i, -150 + 60 * j, 50) for i in range(10) for j in range(6)]
    write(tmp_ws,
          water_bodies=gdf({"water_type": ["river", "canal"], "size_class": ["small", None]},
                           [river(), LineString([(X0 + 200, Y0 - 200), (X0 + 200, Y0 + 300)])]),
          protected_areas=gdf({"regime": ["core", "buffer"]}, [rect(300, 50, 380, 200), rect(380, 50, 460, 200)]),
          hazard_zones=gdf({"hazard_type": ["mudflow", "flood"], "level": ["high", "medium"],
                            "method": ["official", "official"]}, [rect(-160, 100, -20, 180), rect(0, -160, 140, -60)]),
          legal_zones=gdf({"zone_code": ["residential", "production"]}, [rect(-200, -200, 150, 250), rect(150, -200, 500, 250)]),
          parcels=gdf({"cadastral_no": [f"P{k}" for k in range(len(cells))], "category": ["settlement"] * len(cells)},
                      cells),
          boundary=gdf({"name": ["b"]}, [rect(-200, -200, 500, 250)]))
    return tmp_ws


@pytest.mark.parametrize("use", ["housing", "industry", "irrigated_agriculture"])
def test_check_many_agrees_with_check(mixed_ws, use):
    parcels = mixed_ws.read_layer("parcels")
    many = check_many(mixed_ws, use, parcels, plot_size=True)  # check() applies plot-size limits too
    assert list(many.columns[:3]) == ["verdict", "prohibited_share", "conditional_share"]
    assert "prohibited" in set(many["verdict"])
    for k in range(use != "housing", len(parcels), 2):  # every other parcel, alternating with the use
        one = check(mixed_ws, use, geometry=parcels.geometry.iloc[k])
        assert many["verdict"].iloc[k] == one.verdict, k
        assert many["prohibited_share"].iloc[k] == pytest.approx(one.prohibited_share, abs=1e-9)
        assert many["conditional_share"].iloc[k] == pytest.approx(one.conditional_share, abs=1e-9)
        got = sorted((r["rule_id"], round(r["share"], 9)) for r in many["reasons"].iloc[k])
        assert got == sorted((r["rule_id"], round(r["share"], 9)) for r in one.reasons)


def test_check_many_shares_against_brute_force(mixed_ws):
    """Shares equal a plain shapely overlay with the unioned prohibited / restricted areas."""
    from shapely import union_all

    from gis_planner.zoning import with_effects

    parcels = mixed_ws.read_layer("parcels")
    many = check_many(mixed_ws, "housing", parcels)
    r = with_effects(build_restrictions(mixed_ws), "housing", mixed_ws)
    P = union_all(r.geometry[r.effect == "prohibited"].values)
    R = union_all(r.geometry[r.effect.isin(["prohibited", "conditional"])].values)
    for k, g in enumerate(parcels.geometry):
        assert many["prohibited_share"].iloc[k] == pytest.approx(g.intersection(P).area / g.area, abs=1e-9)
        cond = (g.intersection(R).area - g.intersection(P).area) / g.area
        assert many["conditional_share"].iloc[k] == pytest.approx(cond, abs=1e-9)


def test_restriction_map_areas_sum_to_boundary(mixed_ws):
    m = restriction_map(mixed_ws, "housing", lang="en")
    assert list(m["class"]) == ["prohibited", "conditional", "free"]
    assert m["area_ha"].sum() == pytest.approx(700 * 450 / 10_000, rel=1e-9)
    assert mixed_ws.has_layer("restriction_map_housing")
    stored = mixed_ws.read_layer("restriction_map_housing")
    assert stored["area_ha"].sum() == pytest.approx(31.5)
    import geopandas as gpd

    gj = gpd.read_file(m.attrs["geojson"])
    assert gj.crs.to_epsg() == 4326 and len(gj) == 3
    # classes do not overlap
    g = m.geometry.values
    assert g[0].intersection(g[1]).area == pytest.approx(0, abs=1e-6)
    assert g[1].intersection(g[2]).area == pytest.approx(0, abs=1e-6)


def test_restriction_map_prohibited_area_is_hand_computable(river_ws):
    m = restriction_map(river_ws, "housing", write=False).set_index("class")
    strip = 2 * W_STRIP * L + math.pi * W_STRIP ** 2
    zone = 2 * W_ZONE * L + math.pi * W_ZONE ** 2
    assert m.loc["prohibited", "area_ha"] * 1e4 == pytest.approx(strip, rel=1e-4)
    assert m.loc["conditional", "area_ha"] * 1e4 == pytest.approx(zone - strip, rel=1e-4)
    assert m["area_ha"].sum() == pytest.approx(2000 * 1500 / 1e4)


def test_check_many_reprojects_and_keeps_index(river_ws):
    parcels = river_ws.read_layer("parcels").set_index("cadastral_no").to_crs(4326)
    res = check_many(river_ws, "housing", parcels)
    assert list(res.index) == ["A", "B"]
    assert res.loc["A", "prohibited_share"] == pytest.approx(0.5, abs=1e-6)
    assert res.loc["B", "verdict"] == "allowed"
    assert np.isclose(res["area_ha"].sum(), 1.4, rtol=1e-6)  # areas measured in the workspace CRS


def test_rule_tables_for_the_report():
    from gis_planner.zoning import regime_table, width_table, zoning_table

    reg = regime_table(lang="en").set_index("rule_id")
    assert reg.loc["coastal_strip", "kind"] == "Coastal strip"
    assert "Housing" in reg.loc["coastal_strip", "prohibited"]
    assert "Livestock farm" in reg.loc["water_protection_zone", "prohibited"]
    assert reg.loc["protected_core", "conditional"] == ""  # full ban: everything is prohibited
    from gis_planner.catalog import catalogue

    acts = catalogue("activities")
    assert all(acts.label(a, "en") in reg.loc["protected_core", "prohibited"] for a in acts.codes)
    assert regime_table(lang="ru").set_index("rule_id").loc["coastal_strip", "note"].startswith("Прибрежная полоса")
    w = width_table(lang="en").set_index(["water_type", "size_class"])
    assert w.loc[("river", "small"), "strip_m"] == 20 and not w.loc[("river", "small"), "confirmed"]
    z = zoning_table(lang="ru").set_index("zone_code")
    assert len(z) == 7 and z.loc["residential", "name"] == "Жилая зона"
    assert z.loc["residential", "max_floors"] == 3


def test_unknown_zone_codes_and_rule_files(tmp_ws, tmp_path):
    from gis_planner.zoning import validate_rules, validate_rules_file

    write(tmp_ws, legal_zones=gdf({"zone_code": ["residential", "airport"]}, [square(0, 0, 10), square(20, 0, 10)]))
    with pytest.raises(GisPlannerError, match="zone_code 'airport'"):
        validate_rules(tmp_ws)
    rules = zoning_rules(tmp_ws)
    rules["zones"]["airport"] = {"names": {"ky": "Аэропорт", "ru": "Аэропорт", "en": "Airport"},
                                 "permitted": ["road"], "prohibited": ["housing"]}
    save_zoning_rules(tmp_ws, rules)
    validate_rules(tmp_ws)  # now every zone code is defined
    del rules["zones"]["residential"]
    with pytest.raises(GisPlannerError, match="zone_code 'residential'"):
        save_zoning_rules(tmp_ws, rules)  # still used by a legal zone
    bad = tmp_path / "zoning_rules.yaml"
    bad.write_text("zones: {green: {permitted: [swimming]}}\n", encoding="utf-8")
    assert any("unknown activity 'swimming'" in p for p in validate_rules_file(bad))
    ok = tmp_path / "restrictions.yaml"
    ok.write_text("water_bodies: {river: {small: {strip_m: 30}}}\n", encoding="utf-8")
    assert validate_rules_file(ok) == []


def test_water_types_in_local_spellings(tmp_ws):
    write(tmp_ws, water_bodies=gdf({"water_type": ["Река", "арык", "swamp"], "size_class": ["малая", None, None]},
                                   [river(), river(y=500), river(y=900)]))
    r = build_restrictions(tmp_ws)
    r = r[r["kind"] != "infrastructure"]                  # the channels themselves (exclusions)
    got = sorted(zip(r["subtype"], r["kind"], r["width_m"]))
    assert got == [("canal", "coastal_strip", 5.0), ("canal", "water_protection_zone", 20.0),
                   ("river", "coastal_strip", 20.0), ("river", "water_protection_zone", 100.0)]
    assert "swamp" in r.attrs["warnings"][0]


def test_check_pieces_for_the_map(river_ws):
    from gis_planner.zoning import check_pieces

    pcs = check_pieces(river_ws, "housing", rect(400, 0, 500, 40)).set_index("rule_id")
    assert pcs.loc["coastal_strip", "effect"] == "prohibited"
    assert pcs.loc["coastal_strip", "area_ha"] == pytest.approx(0.2)
    assert pcs.loc["coastal_strip"].geometry.symmetric_difference(rect(400, 0, 500, 20)).area < 1e-6
    assert pcs.loc["water_protection_zone", "area_ha"] == pytest.approx(0.4)
