"""Geometry arguments in lon/lat or workspace metres (issue 16, item 1): hand-computable answers.

The municipality is a 2 000 × 1 000 m rectangle (200 ha) in Kyrg-06 zone 4, tiled by two parcels of
100 ha. A lake lies north of it, its shore on the boundary's north edge and reaching 500 m beyond the
boundary at both ends. With the default widths (lake: zone 300 m, strip 50 m) the water-protection
zone inside the municipality is 2 000 × 300 m = 60 ha and the coastal strip 2 000 × 50 m = 10 ha.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from gis_planner import GisPlannerError
from gis_planner.balance import compute_balance
from gis_planner.cli import main
from gis_planner.geoinput import at_point, read_geometry, read_point
from gis_planner.zoning import check

from .helpers import CRS, X0, Y0, gdf, rect

TO_LL = Transformer.from_crs(CRS, 4326, always_xy=True)


def lonlat(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(TO_LL.transform(xy[:, 0], xy[:, 1])))


@pytest.fixture
def ws(tmp_ws):
    tmp_ws.write_layer("boundary", gdf({"name": ["Test"]}, [rect(0, 0, 2000, 1000)]), source="test")
    tmp_ws.write_layer("parcels", gdf({"cadastral_no": ["P1", "P2"], "category": ["settlement", "settlement"]},
                                      [rect(0, 0, 1000, 1000), rect(1000, 0, 2000, 1000)]), source="test")
    tmp_ws.write_layer("water_bodies", gdf({"name": ["Lake"], "water_type": ["lake"]},
                                           [rect(-500, 1000, 2500, 3000)]), source="test")
    return tmp_ws


# ------------------------------------------------------------------------ WKT plots
def test_lonlat_wkt_gives_the_same_verdict_as_the_metric_one(ws):
    plot = rect(100, 920, 200, 970)          # 0.5 ha, 30 m from the shore: 0.2 ha in the coastal strip
    metric = check(ws, "housing", geometry=plot.wkt, lang="en")
    ll = check(ws, "housing", geometry=lonlat(plot).wkt, lang="en")
    assert metric.verdict == ll.verdict == "prohibited"
    assert metric.prohibited_share == pytest.approx(0.4, abs=1e-6)
    assert ll.prohibited_share == pytest.approx(0.4, abs=2e-3)
    assert ll.area_ha == pytest.approx(0.5, abs=1e-3)
    assert {r["rule_id"] for r in metric.reasons} == {r["rule_id"] for r in ll.reasons} \
        == {"coastal_strip", "water_protection_zone"}
    assert metric.input["frame"] == "workspace" and ll.input["frame"] == "lonlat"
    assert "GPS longitude/latitude" in ll.input["note"] and "EPSG:7695" in ll.input["note"]


def test_plot_outside_the_municipality_is_refused(ws):
    with pytest.raises(GisPlannerError) as e:
        check(ws, "housing", geometry=rect(5000, 0, 5100, 100).wkt)
    assert e.value.code == "outside_boundary" and "3,000 m from its boundary" in str(e.value)


def test_plot_partly_outside_says_its_share(ws):
    g = read_geometry(ws, rect(1900, 0, 2100, 100).wkt)       # half of 2 ha outside
    assert g.outside_share == pytest.approx(0.5)
    assert "50.0%" in g.notes[0]


# ------------------------------------------------------------------------ points
def test_point_reports_what_lies_at_it_and_the_parcel_separately(ws):
    res = check(ws, "housing", point=(X0 + 50, Y0 + 800), lang="en")
    # at the point: only the water-protection zone (the strip starts 150 m further north)
    assert [(z["kind"], z["effect"]) for z in res.at_point["zones"]] == [("water_protection_zone", "conditional")]
    assert res.at_point["water"]["distance_m"] == pytest.approx(200.0)
    assert res.at_point["boundary_distance_m"] == pytest.approx(50.0)        # west edge
    # the parcel under it: 100 ha with 5 ha of coastal strip -> prohibited as a whole
    assert res.cadastral_no == "P1" and res.verdict == "prohibited"
    assert res.prohibited_share == pytest.approx(0.05)


def test_lonlat_point_gives_the_same_answer(ws):
    lon, lat = TO_LL.transform(X0 + 50, Y0 + 800)
    res = check(ws, "housing", point=f"{lon:.8f},{lat:.8f}", lang="en")
    assert res.input["frame"] == "lonlat"
    assert res.cadastral_no == "P1" and res.verdict == "prohibited"
    assert res.at_point["water"]["distance_m"] == pytest.approx(200.0, abs=0.01)


def test_point_outside_is_refused_with_the_distance(ws):
    with pytest.raises(GisPlannerError) as e:
        read_point(ws, (X0 + 500, Y0 + 1500))
    assert e.value.code == "outside_boundary" and "500 m from its boundary" in str(e.value)


def test_swapped_lat_lon_is_refused_with_the_right_order(ws):
    lon, lat = TO_LL.transform(X0 + 50, Y0 + 800)
    with pytest.raises(GisPlannerError) as e:
        read_point(ws, f"{lat:.6f},{lon:.6f}")
    assert e.value.code == "swapped_coordinates"
    assert f"did you mean lon,lat = {lon:.6f},{lat:.6f}?" in e.value.fix


def test_swapped_workspace_xy_is_refused_with_the_right_order(ws):
    with pytest.raises(GisPlannerError) as e:
        read_point(ws, f"{Y0 + 800},{X0 + 50}")
    assert e.value.code == "swapped_coordinates"
    assert f"did you mean X,Y = {X0 + 50:.1f},{Y0 + 800:.1f}?" in e.value.fix


def test_degrees_outside_kyrgyzstan_are_refused(ws):
    with pytest.raises(GisPlannerError) as e:
        read_point(ws, "10.0,50.0")
    assert e.value.code == "outside_boundary"


def test_cli_check_point_prints_detection_at_point_and_parcel(ws, capsys):
    lon, lat = TO_LL.transform(X0 + 50, Y0 + 800)
    code = main(["check", "-w", str(ws.root), "--use", "housing", "--point", f"{lon:.8f},{lat:.8f}",
                 "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Coordinates read as GPS longitude/latitude (EPSG:4326)")
    assert "At the point" in out and "Nearest water body: Lake (Lake), 200 m" in out
    assert "Distance to the municipality boundary: 50 m" in out
    assert out.index("At the point") < out.index("The parcel under the point") < out.index("P1 (100.0000")
    capsys.readouterr()
    assert main(["check", "-w", str(ws.root), "--use", "housing", "--point", f"{lat:.6f},{lon:.6f}"]) == 2
    assert "did you mean lon,lat" in capsys.readouterr().err


def test_at_point_in_the_strip(ws):
    info = at_point(ws, shapely.Point(X0 + 500, Y0 + 980), "housing")
    kinds = {z["kind"]: z["effect"] for z in info["zones"]}
    assert kinds == {"water_protection_zone": "conditional", "coastal_strip": "prohibited"}


# ------------------------------------------------------------------------ one clipped area per zone
def test_restriction_areas_are_clipped_like_the_balance(ws, capsys):
    assert main(["restrictions", "-w", str(ws.root), "--format", "json", "--no-write"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["rule_id"]: r for r in data["restrictions"]}
    assert rows["water_protection_zone"]["area_ha"] == pytest.approx(60.0, abs=1e-6)
    assert rows["coastal_strip"]["area_ha"] == pytest.approx(10.0, abs=1e-6)
    # the zone along the whole shore is much larger: it is kept, as the part outside
    assert rows["water_protection_zone"]["outside_ha"] > 30
    b = compute_balance(ws)
    assert b.restricted["water_protection_zone"].sum() == pytest.approx(rows["water_protection_zone"]["area_ha"])
    assert b.restricted["coastal_strip"].sum() == pytest.approx(rows["coastal_strip"]["area_ha"])


# ------------------------------------------------------------------------ the app
@pytest.mark.usefixtures("no_app_warm_up")
def test_app_click_shows_what_lies_at_the_point_then_the_parcel(tmp_path, demo_ws):
    from .apptest import copy_demo, open_app

    ws = copy_demo(demo_ws, tmp_path / "demo")
    p = ws.read_layer("parcels").iloc[0]
    c = p.geometry.representative_point()
    lon, lat = Transformer.from_crs(ws.crs, 4326, always_xy=True).transform(c.x, c.y)
    at = open_app(ws, "en", "zoning")
    at.session_state["zoning_point"] = {"lng": lon, "lat": lat}
    at.run()
    assert not at.exception
    md = [m.value for m in at.markdown]
    head = next(i for i, m in enumerate(md) if m.startswith("**At the point**"))
    assert "Nearest water body" in md[head] and "Distance to the municipality boundary" in md[head]
    assert md[head + 1] == "**The parcel under the point**"
    expected = check(ws, "housing", parcel_id=str(p["cadastral_no"]), lang="en")
    boxes = {"allowed": at.success, "conditional": at.warning, "prohibited": at.error}
    assert any(str(p["cadastral_no"]).replace("-", "\\-") in b.value for b in boxes[expected.verdict])


def test_check_pieces_reads_lonlat_wkt(ws):
    from gis_planner.zoning.check import check_pieces

    plot = rect(100, 920, 200, 970)
    a = check_pieces(ws, "housing", plot.wkt)
    b = check_pieces(ws, "housing", lonlat(plot).wkt)
    assert sorted(a["rule_id"]) == sorted(b["rule_id"]) == ["coastal_strip", "water_protection_zone"]
    assert a["area_ha"].sum() == pytest.approx(b["area_ha"].sum(), abs=2e-3)


def test_report_protected_areas_are_the_clipped_regime_areas(demo_ws, tmp_path):
    """The report listed the whole protected area (core 6 063 ha) where the restrictions table and the
    balance count the part in the municipality (1 158.50 ha)."""
    from gis_planner.i18n import t
    from gis_planner.report import build_context
    from gis_planner.report.document import Table
    from gis_planner.report.sections import section7
    from gis_planner.zoning import build_restrictions
    from gis_planner.zoning.areas import boundary_geometry, regime_areas

    doc = section7(build_context(demo_ws, "en"), tmp_path)
    table = next(b for b in doc.blocks if isinstance(b, Table) and b.caption == t("report.s7.protected_table", "en"))
    report_ha = sorted(row[2] for row in table.rows)
    areas = regime_areas(build_restrictions(demo_ws), boundary_geometry(demo_ws))
    pa = areas[areas["kind"] == "protected_area"]
    assert report_ha == pytest.approx(sorted(pa["area_ha"]), abs=1e-6)
    assert all(pa["outside_ha"] > 0)       # both regimes reach beyond the municipality in the demo


def test_transformation_and_conflicts_workbooks_carry_number_formats(ws, tmp_path, capsys):
    import openpyxl

    from gis_planner.zoning import transformation_list, write_transformation

    tl = transformation_list(ws, ["P1"], "reserve", reason="test", lang="en")
    path = write_transformation(tl, tmp_path / "t.xlsx", lang="en")
    sheet = openpyxl.load_workbook(path).worksheets[0]
    head = [c.value for c in sheet[1]]
    col = next(i for i, h in enumerate(head, start=1) if "ha" in str(h).lower())
    cell = sheet.cell(row=2, column=col)
    assert cell.value == pytest.approx(100.0) and cell.number_format == "#,##0.00"
    # houses on P1: its 5 ha of coastal strip prohibit housing, a conflict of 5 ha
    p = ws.read_layer("parcels").assign(land_use=["housing", None])
    ws.write_layer("parcels", p, source="test")
    out = tmp_path / "c.xlsx"
    assert main(["conflicts", "-w", str(ws.root), "--out", str(out), "--format", "json"]) == 0
    sheet = openpyxl.load_workbook(out).worksheets[0]
    head = [c.value for c in sheet[1]]
    rows = {sheet.cell(row=r, column=head.index("rule_id") + 1).value: r for r in range(2, sheet.max_row + 1)}
    cell = sheet.cell(row=rows["coastal_strip"], column=head.index("conflict_area_ha") + 1)
    assert cell.value == pytest.approx(10.0 / 2) and cell.number_format == "#,##0.00"
