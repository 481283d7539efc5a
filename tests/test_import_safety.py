"""Import that never loses a layer or a value (issue 16, item 2): hand-computable answers.

Every fixture is written by the test: squares of known size in Kyrg-06 zone 4 (tests/helpers.py), a
Shapefile cut in half as a half-copied file is, a hazard map with Russian values, a river line of
known length next to a lake polygon of known area.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyogrio
import pytest
from shapely.geometry import LineString, Point, box

from gis_planner import GisPlannerError
from gis_planner.cli import main
from gis_planner.io import import_layer
from gis_planner.io.readers import shapefile_read_errors

from .helpers import gdf, square


def ws_bytes(ws):
    return Path(ws.gpkg).read_bytes()


def parcels_file(tmp_path, n=10, name="p.geojson", prefix="1-1-1-1-"):
    """``n`` parcels of 1 ha (100 m squares side by side), reserve land."""
    f = tmp_path / name
    gdf({"CAD_NUM": [f"{prefix}{i}" for i in range(n)], "CATEGORY": ["reserve land"] * n},
        [square(i * 100, 0, 100) for i in range(n)]).to_file(f)
    return f


def truncated_shapefile(tmp_path, n=10, keep=0.5):
    """A Shapefile of ``n`` 1-ha parcels whose .shp is cut to ``keep`` of its bytes (a half-copied file)."""
    d = tmp_path / "trunc"
    d.mkdir()
    shp = d / "parcels.shp"
    gdf({"CAD_NUM": [f"2-2-2-2-{i}" for i in range(n)], "CATEGORY": ["reserve land"] * n},
        [square(i * 100, 0, 100) for i in range(n)]).to_file(shp)
    data = shp.read_bytes()
    shp.write_bytes(data[: int(len(data) * keep)])
    return shp


# ------------------------------------------------------------------------ damaged files
def test_read_errors_of_a_truncated_shapefile_are_measured_from_its_index(tmp_path):
    shp = truncated_shapefile(tmp_path)
    # 100-byte header + 10 records of 136 bytes (8 header + 128 content for a 5-point ring) = 1460
    # bytes, cut to 730: records 0..3 end at 100+4*136 = 644 <= 730, record 4 ends at 780 > 730
    assert shapefile_read_errors(shp) == {i: "truncated" for i in range(4, 10)}


def test_truncated_shapefile_is_refused_and_the_layer_kept(tmp_ws, tmp_path, capsys):
    assert main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(parcels_file(tmp_path, 3))]) == 0
    before = ws_bytes(tmp_ws)
    shp = truncated_shapefile(tmp_path)
    capsys.readouterr()
    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(shp), "--replace"])
    err = capsys.readouterr().err
    assert code == 2
    assert "6 of 10 records cannot be read (truncated)" in err and "--accept-drops" in err
    assert ws_bytes(tmp_ws) == before                                  # nothing written
    assert len(tmp_ws.read_layer("parcels")) == 3


def test_truncated_shapefile_with_accept_drops_lists_every_drop(tmp_ws, tmp_path):
    shp = truncated_shapefile(tmp_path)
    rep = import_layer(tmp_ws, "parcels", shp, accept_drops=True, source_date="2025-01-01")
    assert rep.features_read == 10 and rep.features_imported == 4
    assert rep.area_ha_total == pytest.approx(4.0)
    assert sorted(d["fid"] for d in rep.dropped) == [4, 5, 6, 7, 8, 9]
    assert {d["reason"] for d in rep.dropped} == {"read_truncated"}
    codes = [w["code"] for w in rep.warnings]
    assert "read_errors_accepted" in codes
    w = next(w for w in rep.warnings if w["code"] == "read_errors_accepted")
    assert w["count"] == 6 and "4, 5, 6, 7, 8, 9" in w["text"]
    assert len(tmp_ws.read_layer("parcels")) == 4


def test_record_missing_from_the_dbf_count_is_a_read_error(tmp_path):
    shp = truncated_shapefile(tmp_path, keep=1.0)
    dbf = shp.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[4:8] = (12).to_bytes(4, "little")       # the DBF header promises 12 records, the file has 10
    dbf.write_bytes(bytes(data))
    errs = shapefile_read_errors(shp, pyogrio.read_dataframe(shp, fid_as_index=True))
    assert errs.get(10) == "not_read" and errs.get(11) == "not_read"


# ------------------------------------------------------------------------ replace / append
def test_replacing_import_without_replace_is_refused_and_the_layer_kept(tmp_ws, tmp_path, capsys):
    f1 = parcels_file(tmp_path, 3, "a.geojson")
    f2 = parcels_file(tmp_path, 5, "b.geojson", prefix="9-9-9-9-")
    assert main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f1)]) == 0
    before = ws_bytes(tmp_ws)
    capsys.readouterr()
    assert main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f2)]) == 2
    err = capsys.readouterr().err
    assert "already holds 3 features" in err and "--replace" in err and "--append" in err
    assert ws_bytes(tmp_ws) == before
    # a dry run only warns
    rep = import_layer(tmp_ws, "parcels", f2, dry_run=True)
    assert "layer_exists" in [w["code"] for w in rep.warnings]
    # --replace replaces
    assert main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f2), "--replace"]) == 0
    assert sorted(tmp_ws.read_layer("parcels")["cadastral_no"]) == [f"9-9-9-9-{i}" for i in range(5)]


def test_append_keeps_the_layer_and_reports_duplicates(tmp_ws, tmp_path):
    f1 = parcels_file(tmp_path, 3, "a.geojson")                  # 1-1-1-1-0..2 at x = 0, 100, 200
    import_layer(tmp_ws, "parcels", f1, source_date="2025-01-01")
    f2 = tmp_path / "b.geojson"
    # one number already present (…-2, other geometry), one geometry already present (x = 0, new number),
    # one new parcel
    gdf({"CAD_NUM": ["1-1-1-1-2", "5-5-5-5-1", "5-5-5-5-2"], "CATEGORY": ["reserve land"] * 3},
        [square(1000, 0, 100), square(0, 0, 100), square(2000, 0, 100)]).to_file(f2)
    rep = import_layer(tmp_ws, "parcels", f2, mode="append", source_date="2025-02-01")
    assert rep.append_duplicates == {"keys": {"1-1-1-1-2": [0]}, "geometries": [1]}
    codes = [w["code"] for w in rep.warnings]
    assert "append_duplicate_keys" in codes and "append_duplicate_geometries" in codes
    layer = tmp_ws.read_layer("parcels")
    assert len(layer) == 6
    assert layer.geometry.area.sum() / 10_000 == pytest.approx(6.0)
    assert list(layer["cadastral_no"][:3]) == ["1-1-1-1-0", "1-1-1-1-1", "1-1-1-1-2"]   # old rows first, kept
    assert "importsafe" not in "\n".join(rep.lines("en"))
    assert "The layer held 3 features: 3 new features appended" in rep.lines("en")


def test_cli_replace_and_append_exclusive(tmp_ws, tmp_path):
    f = parcels_file(tmp_path, 1)
    assert main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f), "--replace", "--append"]) == 2


# ------------------------------------------------------------------------ one value normalisation
def hazard_file(tmp_path):
    f = tmp_path / "mchs.geojson"
    gdf({"Тип": ["сель", "Сель", "паводок"], "Уровень": ["высокий", "Высокая", "низкий"]},
        [square(0, 0, 100), square(100, 0, 100), square(200, 0, 200)]).to_file(f)
    return f


def test_hazard_file_with_russian_values_is_stored_as_codes_by_import(tmp_ws, tmp_path):
    rep = import_layer(tmp_ws, "hazard_zones", hazard_file(tmp_path), source_date="2024-05-01")
    hz = tmp_ws.read_layer("hazard_zones")
    assert list(hz["hazard_type"]) == ["mudflow", "mudflow", "flood"]
    assert list(hz["level"]) == ["high", "high", "low"]
    assert rep.unknown_values == {}


def test_hazard_file_with_russian_values_is_stored_as_codes_by_import_official(tmp_ws, tmp_path, capsys):
    code = main(["hazards", "import-official", str(hazard_file(tmp_path)), "-w", str(tmp_ws.root),
                 "--source", "MChS 2024", "--date", "2024-05-01"])
    assert code == 0
    hz = tmp_ws.read_layer("hazard_zones")
    assert list(hz["hazard_type"]) == ["mudflow", "mudflow", "flood"]
    assert list(hz["level"]) == ["high", "high", "low"]
    assert set(hz["method"]) == {"official"}


def test_unknown_hazard_value_is_refused_by_both_commands(tmp_ws, tmp_path, capsys):
    f = tmp_path / "bad.geojson"
    gdf({"Тип": ["цунами"], "Уровень": ["высокий"]}, [square(0, 0, 100)]).to_file(f)
    with pytest.raises(GisPlannerError) as e1:
        import_layer(tmp_ws, "hazard_zones", f)
    assert "цунами" in str(e1.value)
    from gis_planner.hazards import import_official_zones

    with pytest.raises(GisPlannerError) as e2:
        import_official_zones(tmp_ws, f, source="x")
    assert "цунами" in str(e2.value)
    assert not tmp_ws.has_layer("hazard_zones")


def test_unknown_water_type_is_refused_and_never_stored_as_a_label(tmp_ws, tmp_path):
    f = tmp_path / "water.geojson"
    gdf({"name": ["Ысык-Көл", "Чоң-Сай"], "type": ["озеро", "Waterbody"]},
        [square(0, 0, 1000), square(2000, 0, 100)]).to_file(f)
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "water_bodies", f)
    assert e.value.code == "unknown_category" and "Waterbody" in str(e.value)
    rep = import_layer(tmp_ws, "water_bodies", f, allow_unknown=True)
    w = tmp_ws.read_layer("water_bodies")
    assert list(w["water_type"].astype(object).where(w["water_type"].notna(), None)) == ["lake", None]
    assert list(w["water_type_src"].astype(object).where(w["water_type_src"].notna(), None)) == [None, "Waterbody"]
    assert rep.unknown_values["water_type"] == {"Waterbody": [1]}


def test_short_register_field_name_is_recognised(tmp_ws, tmp_path):
    f = tmp_path / "p.geojson"
    gdf({"CAD_NUM": ["1-1"], "CATEGORY": ["reserve land"], "ИСПОЛЬЗ": ["используется"], "УГОДЬЕ": ["пашня"]},
        [square(0, 0, 100)]).to_file(f)
    rep = import_layer(tmp_ws, "parcels", f, dry_run=True)
    assert rep.field_mapping["use_status"] == "ИСПОЛЬЗ" and rep.field_match["use_status"] == "prefix"
    assert "expected_field_missing" not in [w["code"] for w in rep.warnings]


def test_missing_expected_field_warns_naming_the_candidates(tmp_ws, tmp_path):
    f = tmp_path / "p.geojson"
    gdf({"CAD_NUM": ["1-1"], "CATEGORY": ["reserve land"], "ИСП_СТ": ["да"], "УГОДЬЕ": ["пашня"], "NOTE": ["x"]},
        [square(0, 0, 100)]).to_file(f)
    rep = import_layer(tmp_ws, "parcels", f, dry_run=True)
    w = [w for w in rep.warnings if w["code"] == "expected_field_missing"]
    assert len(w) == 1 and w[0]["params"]["field"] == "use_status"
    assert w[0]["params"]["candidates"] == ["ИСП_СТ"]
    assert "ИСП_СТ" in w[0]["text"] and "--field-map use_status=" in w[0]["text"]


# ------------------------------------------------------------------------ report measures
def test_report_gives_area_of_polygons_and_length_of_lines(tmp_ws, tmp_path):
    f = tmp_path / "water.gpkg"
    lake = square(0, 0, 2000)                                    # 400 ha
    x0, y0 = lake.bounds[0], lake.bounds[1]
    river = LineString([(x0 + 3000, y0), (x0 + 6000, y0 + 4000)])  # 5 km
    gdf({"name": ["Lake", "River"], "water_type": ["озеро", "река"]}, [lake, river]).to_file(f)
    rep = import_layer(tmp_ws, "water_bodies", f, source_date="2025-01-01")
    assert rep.area_ha_total == pytest.approx(400.0)
    assert rep.length_km_total == pytest.approx(5.0)
    assert rep.geometry_counts == {"polygon": 1, "line": 1, "point": 0}
    text = "\n".join(rep.lines("en"))
    assert "area 400.0000 ha" in text and "1 lines (5.000 km)" in text
    d = rep.to_dict()
    assert d["length_km_total"] == pytest.approx(5.0)


def test_points_are_counted_not_measured(tmp_ws, tmp_path):
    f = tmp_path / "wells.geojson"
    gdf({"name": ["a", "b"], "site_type": ["landfill", "landfill"]},
        [Point(4_300_000, 4_720_000), Point(4_300_100, 4_720_000)]).to_file(f)
    rep = import_layer(tmp_ws, "waste_sites", f, dry_run=True)
    assert rep.geometry_counts["point"] == 2 and rep.area_ha_total == 0 and rep.length_km_total == 0
    assert "2 points" in "\n".join(rep.lines("en"))


def test_progress_callback_and_cli_progress_line(tmp_ws, tmp_path, capsys):
    seen = []
    import_layer(tmp_ws, "parcels", parcels_file(tmp_path, 2), progress=lambda s, d, n: seen.append((s, d, n)))
    assert [s for s, _, _ in seen] == ["read", "crs", "attributes", "geometry", "checks", "write", "done"]
    assert seen[-1][1:] == (7, 7)
    f = parcels_file(tmp_path, 2, "c.geojson", prefix="7-")
    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f), "--replace", "--progress",
                 "--format", "json", "--lang", "en"])
    cap = capsys.readouterr()
    assert code == 0 and "Import: writing (6/7)" in cap.err
    assert json.loads(cap.out)["mode"] == "replace"


def test_zipped_truncated_shapefile_is_refused(tmp_ws, tmp_path):
    shp = truncated_shapefile(tmp_path)
    z = shutil.make_archive(str(tmp_path / "cad"), "zip", shp.parent)
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", z)
    assert e.value.code == "read_errors"
    assert not tmp_ws.has_layer("parcels")


def test_regimes_and_zone_codes_are_stored_as_codes(tmp_ws, tmp_path):
    f = tmp_path / "pa.geojson"
    gdf({"Название": ["НП", "НП", "НП"], "Режим": ["Буферная зона", "ядро", "особый"]},
        [square(0, 0, 100), square(100, 0, 100), square(200, 0, 100)]).to_file(f)
    rep = import_layer(tmp_ws, "protected_areas", f)
    pa = tmp_ws.read_layer("protected_areas")
    assert pa["regime"].tolist()[:2] == ["buffer", "core"] and pa["regime"].isna().tolist()[2]
    assert pa["regime_src"].tolist()[2] == "особый"
    assert rep.unknown_values["regime"] == {"особый": [2]}
    z = tmp_path / "lz.geojson"
    gdf({"зона": ["Жилая зона", "residential"]}, [square(0, 0, 100), square(100, 0, 100)]).to_file(z)
    import_layer(tmp_ws, "legal_zones", z)
    assert tmp_ws.read_layer("legal_zones")["zone_code"].tolist() == ["residential", "residential"]


def test_rivers_appended_to_the_lake_keep_it(tmp_ws, tmp_path):
    lake_f, rivers_f = tmp_path / "lake.geojson", tmp_path / "rivers.geojson"
    lake = square(0, 0, 2000)                                              # 400 ha
    x0, y0 = lake.bounds[:2]
    gdf({"name": ["Lake"], "type": ["озеро"]}, [lake]).to_file(lake_f)
    gdf({"name": ["R1", "R2"], "type": ["река", "река"]},
        [LineString([(x0 - 3000, y0), (x0, y0 + 4000)]), LineString([(x0 + 2000, y0), (x0 + 2000, y0 - 1000)])]
        ).to_file(rivers_f)
    import_layer(tmp_ws, "water_bodies", lake_f, source_date="2025-01-01")
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "water_bodies", rivers_f)
    assert e.value.code == "layer_exists"
    rep = import_layer(tmp_ws, "water_bodies", rivers_f, mode="append", source_date="2025-01-01")
    assert rep.length_km_total == pytest.approx(6.0) and rep.area_ha_total == 0
    w = tmp_ws.read_layer("water_bodies")
    assert w["name"].tolist() == ["Lake", "R1", "R2"] and w["water_type"].tolist() == ["lake", "river", "river"]
    assert w.geometry.iloc[0].area / 10_000 == pytest.approx(400.0)


def test_corrupt_record_is_found_and_refused(tmp_ws, tmp_path):
    shp = truncated_shapefile(tmp_path, keep=1.0)
    data = bytearray(shp.read_bytes())
    off = 100 + 136 * 3 + 8                       # shape type of record 3 (after its 8-byte header)
    data[off:off + 4] = (2_147_483_647).to_bytes(4, "little")
    shp.write_bytes(bytes(data))
    assert shapefile_read_errors(shp) == {3: "corrupt_record"}
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", shp)
    assert e.value.code == "read_errors" and "corrupt_record" in str(e.value)
    rep = import_layer(tmp_ws, "parcels", shp, accept_drops=True)
    assert rep.features_imported == 9 and [d["fid"] for d in rep.dropped] == [3]


def test_missing_expected_field_without_look_alike_lists_the_unused_fields(tmp_ws, tmp_path):
    f = tmp_path / "p.geojson"
    gdf({"CAD_NUM": ["1-1"], "CATEGORY": ["reserve land"], "УГОДЬЕ": ["пашня"], "NOTE": ["x"], "K7": ["y"]},
        [square(0, 0, 100)]).to_file(f)
    rep = import_layer(tmp_ws, "parcels", f, dry_run=True)
    w = next(w for w in rep.warnings if w["code"] == "expected_field_absent")
    assert w["params"] == {"field": "use_status", "fields": ["NOTE", "K7"]}
    assert "unused fields of the file: NOTE, K7" in w["text"]


@pytest.mark.usefixtures("no_app_warm_up")
def test_app_refuses_a_truncated_shapefile_in_the_users_language(tmp_path, demo_ws):
    from gis_planner.i18n import t

    from .apptest import copy_demo, open_app, zip_bytes

    ws = copy_demo(demo_ws, tmp_path / "demo")
    c = ws.read_layer("boundary").geometry.iloc[0].representative_point()
    d = tmp_path / "shp"
    d.mkdir()
    shp = d / "parks.shp"
    gdf({"name": [f"P{i}" for i in range(10)], "regime": ["core"] * 10},
        [box(c.x + i * 100, c.y, c.x + i * 100 + 100, c.y + 100) for i in range(10)]).to_file(shp)
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) // 2])
    before = ws.version
    at = open_app(ws, "ru", "data")
    at.file_uploader(key="data_upload").set_value(("parks.zip", zip_bytes({p.name: p.read_bytes()
                                                                           for p in sorted(d.iterdir())}),
                                                   "application/zip")).run()
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()
    at.button(key="data_import").click().run()
    assert not at.exception
    text = "\n".join(e.value for e in at.error).replace("\\", "")
    assert t("app.err.read_errors", "ru") in text and t("app.fix.read_errors", "ru") in text
    assert "--accept-drops" not in text and "4, 5, 6, 7, 8, 9" in text
    assert type(ws)(ws.root).version == before


def test_missing_expected_field_when_the_file_has_no_other_field(tmp_ws, tmp_path):
    f = tmp_path / "w.geojson"
    gdf({"name": ["Lake"], "type": ["lake"]}, [square(0, 0, 100)]).to_file(f)
    rep = import_layer(tmp_ws, "water_bodies", f, dry_run=True)
    w = [w for w in rep.warnings if w["code"].startswith("expected_field")]
    assert [(x["code"], x["params"]) for x in w] == [("expected_field_none", {"field": "size_class"})]
