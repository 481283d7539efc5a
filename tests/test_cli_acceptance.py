"""Acceptance tests of the ``gis-planner`` command line as its users meet it.

Every bad input gives ONE line ``error: … Fix: …`` on stderr with exit code 2 (never a traceback), and
the terminal tables speak the chosen language. Commands that write run on a copy of the demo.
"""
from __future__ import annotations

import shutil

import pytest

from gis_planner import settings
from gis_planner.cli import main


def copy_demo(dst):
    """A writable copy of the demo workspace without its sample community maps (tests add their own)."""
    src = settings.demo_workspace()
    if not (src / "workspace.gpkg").exists():
        pytest.fail("demo workspace missing: run `make demo`")
    shutil.copytree(src, dst)
    (dst / "community.gpkg").unlink(missing_ok=True)
    return dst


@pytest.fixture(scope="module")
def ws_copy(tmp_path_factory):
    """A writable copy of the demo workspace (shared by the tests of this module)."""
    return copy_demo(tmp_path_factory.mktemp("qa") / "ws")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and ". Fix: " in lines[0], err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- usage errors are one line, exit 2
@pytest.mark.parametrize("args, needle", [
    (["info", "--lang", "xx"], "'xx' is not one of 'ky', 'ru', 'en'"),
    (["nosuchcmd"], "No such command 'nosuchcmd'"),
    (["balance", "--reported", "/nonexistent/reported.yaml"], "does not exist"),
    (["check", "--use", "housing", "--point", "abc"], "give the point as X,Y"),
])
def test_usage_errors_are_one_line_exit_2(capsys, args, needle):
    code, out, err = run(capsys, *args)
    assert code == 2
    line = one_error_line(err)
    assert needle in line
    assert "Usage:" not in err and not line.endswith("..")


def test_multiline_yaml_error_is_one_line(capsys, tmp_path):
    bad = tmp_path / "reported.yaml"
    bad.write_text("foo: [\n", encoding="utf-8")
    code, _, err = run(capsys, "balance", "--reported", bad)
    assert code == 2
    line = one_error_line(err)
    assert "not valid YAML" in line and "^" not in line


def test_unwritable_output_is_a_user_error(capsys, ws_copy, tmp_path):
    target = tmp_path / "missing_folder" / "conflicts.xlsx"
    code, _, err = run(capsys, "conflicts", "-w", ws_copy, "--out", target)
    assert code == 2  # was 3 ("internal error") before
    line = one_error_line(err)
    assert "internal error" not in line


def test_missing_workspace(capsys):
    code, _, err = run(capsys, "info", "-w", "/nonexistent/ws")
    assert code == 2
    assert "gis-planner init" in one_error_line(err)


# ---------------------------------------------------------------- labels in the chosen language
def test_empty_workspace_info_in_russian(capsys, tmp_path):
    assert run(capsys, "init", tmp_path / "new", "--name", "Жаңы айыл аймагы")[0] == 0
    code, out, _ = run(capsys, "info", "-w", tmp_path / "new", "--lang", "ru")
    assert code == 0
    assert "Система координат: нет" in out  # not "None"
    assert "(пусто)" in out and "(empty)" not in out


def test_check_area_unit_in_language(capsys):
    code, out, _ = run(capsys, "check", "--use", "housing", "--parcel", "4-02-10-0224-0012", "--lang", "ru")
    assert code == 0
    # the demo parcel is 4.48 ha; the unit is Russian «га», not "ha"
    assert out.startswith("4-02-10-0224-0012 (4.4800 га): ")


def test_balance_warning_unit_in_language(capsys):
    code, out, _ = run(capsys, "balance", "--table", "outside", "--lang", "ky")
    assert code == 0
    # two categories of the demo's reported balance differ by more than the tolerance (0.5 ha / 1 %)
    assert "Эскертүү: 2 категория кадастрдан 0.5 га / 1.0 % ашык айырмаланат" in out
    assert " ha " not in out


# ---------------------------------------------------------------- commands the fix texts point to exist
def test_dem_set_named_by_the_hazards_fix_exists(capsys, tmp_path):
    new = tmp_path / "new"
    assert run(capsys, "init", new, "--name", "Test")[0] == 0
    code, _, err = run(capsys, "hazards", "compute", "-w", new)
    # (the progress heading comes first on stderr, then the one error line)
    assert code == 2 and "gis-planner dem set FILE --source SOURCE" in one_error_line(err.splitlines()[-1])
    code, out, _ = run(capsys, "dem", "set", settings.demo_workspace() / "dem.tif", "-w", new,
                       "--source", "GEBCO 2023", "--date", "2023-01-01", "--lang", "ru")
    assert code == 0 and "Рельеф (ЦМР) сохранён" in out and (new / "dem.tif").exists()
    code, out, _ = run(capsys, "info", "-w", new, "--lang", "en")
    assert "Terrain (DEM): 608×1080, EPSG:7695, 40.0 m, GEBCO 2023" in out  # the demo DEM's grid
    code, _, err = run(capsys, "dem", "set", tmp_path / "missing.tif", "-w", new, "--source", "x")
    assert code == 2 and "file not found" in one_error_line(err)


def test_community_errors_name_cli_fixes(capsys, ws_copy, tmp_path):
    src = tmp_path / "map.geojson"
    src.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
                   '{"category":"spring","title":"Булак"},"geometry":{"type":"Point",'
                   '"coordinates":[77.1156,42.6407]}}]}', encoding="utf-8")
    code, _, err = run(capsys, "community", "import", "-w", ws_copy, src, "--session", 99)
    assert code == 2 and "gis-planner community new-session" in one_error_line(err)
    assert run(capsys, "community", "new-session", "-w", ws_copy, "--village", "Ак-Өрүк", "--date",
               "2026-05-12", "--group", "women", "--female", 24)[0] == 0
    code, _, err = run(capsys, "community", "import", "-w", ws_copy, src, "--session", 1)
    assert code == 2 and "--author" in one_error_line(err)
    code, out, _ = run(capsys, "community", "import", "-w", ws_copy, src, "--session", 1, "--author", "A.K.",
                       "--lang", "ru")
    assert code == 0 and "1" in out
    code, out, _ = run(capsys, "community", "history", "-w", ws_copy, 1, "--lang", "ru")
    assert code == 0 and "import" in out and "A.K." in out
    code, out, _ = run(capsys, "community", "compare", "-w", ws_copy, "Nowhere", "women", "men", "--lang", "ru")
    assert code == 0 and "(пусто)" in out


def test_cp1251_shapefile_with_russian_short_field_names(capsys, ws_copy, tmp_path):
    import zipfile

    import geopandas as gpd
    from shapely.geometry import box

    g = gpd.GeoDataFrame({"КАД_НОМ": ["4-02-99-0001-0001"], "КАТЕГОРИЯ": ["Земли населённых пунктов"]},
                         geometry=[box(77.0, 42.6, 77.001, 42.601)], crs=4326)
    shp = tmp_path / "shp"
    shp.mkdir()
    g.to_file(shp / "uchastki.shp", encoding="cp1251")
    (shp / "uchastki.cpg").unlink(missing_ok=True)
    zpath = tmp_path / "uchastki.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in shp.iterdir():
            z.write(f, f.name)
    code, out, err = run(capsys, "import", "-w", ws_copy, "--layer", "parcels", zpath, "--source", "ГРС",
                         "--date", "2025-03-01", "--dry-run", "--lang", "ru")
    assert code == 0, err
    assert "cadastral_no ← КАД_НОМ" in out and "cp1251" in out


def test_restriction_map_after_hazards_compute(capsys, ws_copy):
    """Computed hazard zones made the snapped overlay a mixed-dimension collection (GEOSException)."""
    import geopandas as gpd

    assert run(capsys, "hazards", "compute", "-w", ws_copy, "--format", "json")[0] == 0
    code, out, err = run(capsys, "restrictions", "-w", ws_copy, "--use", "housing", "--no-write",
                         "--format", "json", "--lang", "en")
    assert code == 0, err
    import json

    rows = json.loads(out)["map"]
    boundary_ha = gpd.read_file(ws_copy / "workspace.gpkg", layer="boundary").geometry.area.sum() / 1e4
    # prohibited + conditional + free partition the municipality
    assert sum(r["area_ha"] for r in rows) == pytest.approx(boundary_ha, abs=0.01)
    code, out, _ = run(capsys, "restrictions", "-w", ws_copy, "--use", "housing", "--no-write", "--lang", "ru")
    assert "Режим" in out and "Класс" in out and "Площадь, га" in out and "area_ha" not in out


def test_balance_unknown_zone_layer_is_an_error(capsys):
    code, _, err = run(capsys, "balance", "--zones", "setlements", "--table", "by_zone")
    assert code == 2  # was a silent fallback to the parcels' settlement field
    line = one_error_line(err)
    assert "'setlements'" in line and "settlements" in line.split("Fix:")[1]


def test_hazard_tables_levels_ordered_and_types_labelled(capsys, ws_copy):
    import json

    code, out, _ = run(capsys, "hazards", "zones", "-w", ws_copy, "--format", "json")
    assert code == 0
    rows = json.loads(out)["rows"]
    order = {"high": 0, "medium": 1, "low": 2}
    for hz in {r["hazard_type"] for r in rows}:
        levels = [order[r["level"]] for r in rows if r["hazard_type"] == hz]
        assert levels == sorted(levels), hz
    code, out, _ = run(capsys, "hazards", "relocation", "-w", ws_copy, "--lang", "ru")
    assert code == 0
    body = out.splitlines()[3:]
    # the demo's official flood zone covers house plots: the type column is in Russian, no raw codes
    assert any("Паводок" in ln for ln in body) and not any(" flood " in ln for ln in body)


def test_community_tables_in_russian(capsys, tmp_path):
    ws = copy_demo(tmp_path / "ws")
    src = tmp_path / "map.geojson"
    src.write_text('{"type":"FeatureCollection","features":['
                   '{"type":"Feature","properties":{"category":"school","title":"Мектеп","is_wish":true,"votes":5},'
                   '"geometry":{"type":"Point","coordinates":[77.1156,42.6407]}},'
                   '{"type":"Feature","properties":{"category":"spring","title":"Булак"},'
                   '"geometry":{"type":"Point","coordinates":[77.1166,42.6407]}}]}', encoding="utf-8")
    assert run(capsys, "community", "new-session", "-w", ws, "--village", "Ак-Өрүк", "--date", "2026-05-12",
               "--group", "women", "--female", 24)[0] == 0
    assert run(capsys, "community", "import", "-w", ws, src, "--session", 1, "--author", "A.K.")[0] == 0
    code, out, _ = run(capsys, "community", "features", "-w", ws, "--lang", "ru")
    assert code == 0
    header = out.splitlines()[1]
    assert header.startswith("№  Сессия  Село") and "participant_group" not in header
    assert "Женщины" in out and "Школа" in out and "Родник" in out and " women " not in out
    code, out, _ = run(capsys, "community", "counts", "-w", ws, "--lang", "ru")
    lines = out.splitlines()
    assert lines[0].split() == ["Название", "Женщины", "Итого"]
    assert lines[-1].split() == ["Итого", "2", "2"]  # one school + one spring, both by the women's group
    code, out, _ = run(capsys, "community", "features", "-w", ws, "--format", "csv")
    assert out.splitlines()[1].split(",")[3:5] == ["women", "school"]  # CSV keeps the codes


def test_report_section7_codes_in_language(tmp_path):
    """Regime, hazard type and waste-site status were printed as raw codes (core, flood, operating)."""
    from gis_planner import Workspace
    from gis_planner.i18n import t
    from gis_planner.report import build_context
    from gis_planner.report.document import Table
    from gis_planner.report.sections import section7

    ws = Workspace(settings.demo_workspace())
    ctx = build_context(ws, "ru")
    doc = section7(ctx, tmp_path)
    tables = {b.caption: b for b in doc.blocks if isinstance(b, Table)}
    cells = lambda key: [c for row in tables[t(key, "ru")].rows for c in row]  # noqa: E731
    assert t("zoning.regime.core", "ru") in cells("report.s7.protected_table") and "core" not in cells(
        "report.s7.protected_table")
    reloc = cells("report.s7.relocation_table")
    assert "Наводнение" in reloc and "flood" not in reloc
    assert "эксплуатируется" in cells("report.s7.waste_table") and "operating" not in cells("report.s7.waste_table")


def test_scenario_demand_uses_default_workspace_overrides(capsys, tmp_path, monkeypatch):
    """`scenario demand` ignored $GIS_PLANNER_WORKSPACE (and so its layers/ overrides) without -w."""
    ws = copy_demo(tmp_path / "ws")
    (ws / "layers").mkdir()
    (ws / "layers" / "scenario_norms.yaml").write_text(
        "sectors:\n  irrigation:\n    ha_per_mio_som: {value: 10, source: \"council decision 2026\"}\n",
        encoding="utf-8")
    monkeypatch.setenv("GIS_PLANNER_WORKSPACE", str(ws))
    code, out, err = run(capsys, "scenario", "demand", "irrigation", "--lang", "en")
    assert code == 0, err
    assert "20 × 10 = 200" in out  # 20 million som × 10 ha per million (the default norm gives 350)
    monkeypatch.delenv("GIS_PLANNER_WORKSPACE")
    code, out, _ = run(capsys, "scenario", "demand", "irrigation", "--lang", "en")
    assert "20 × 17.5 = 350" in out


def test_init_and_report_messages_in_language(capsys, tmp_path):
    code, out, _ = run(capsys, "init", tmp_path / "w", "--name", "Тест", "--lang", "ru")
    assert code == 0 and out.startswith("Рабочая область создана: ")
    code, _, err = run(capsys, "report", "--format", "docx,odt", "--lang", "ru", "--out", tmp_path / "r")
    assert code == 2
    # refused before the analyses run (no progress step was reported)
    assert "unknown report format(s) ['odt']" in err.splitlines()[-1] and "[0/" not in err


def test_community_import_excel_csv_cp1251_semicolon(capsys, tmp_path):
    """A CSV saved by Excel in a Russian locale (cp1251, ';') was refused ("Expected 1 fields")."""
    ws = copy_demo(tmp_path / "ws")
    src = tmp_path / "map.csv"
    src.write_bytes("category;title;WKT\nwell;Кудук;POINT (77.1156 42.6407)\nspring;Булак;POINT (77.1166 42.6407)\n"
                    .encode("cp1251"))
    assert run(capsys, "community", "new-session", "-w", ws, "--village", "Ак-Өрүк", "--date", "2026-05-12",
               "--group", "youth")[0] == 0
    code, out, err = run(capsys, "community", "import", "-w", ws, src, "--session", 1, "--author", "A.K.")
    assert code == 0, err
    code, out, _ = run(capsys, "community", "features", "-w", ws, "--format", "csv")
    rows = out.splitlines()[1:]
    assert [r.split(",")[6] for r in rows] == ["Кудук", "Булак"]  # titles decoded from cp1251


def test_damaged_workspace_file(capsys, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "workspace.gpkg").write_bytes(b"PK\x03\x04 not a database")  # e.g. a zip renamed by mistake
    code, _, err = run(capsys, "balance", "-w", ws)
    assert code == 2  # was 3: "internal error (DatabaseError: file is not a database)"
    assert "damaged or not a GeoPackage" in one_error_line(err)


def test_info_geographic_dem_resolution(capsys, tmp_path):
    import numpy as np
    import rasterio
    from affine import Affine

    tif = tmp_path / "dem4326.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(1 / 3600, 0, 77.0, 0, -1 / 3600, 42.7)) as ds:  # 1 arc-second cells
        ds.write(np.arange(12, dtype="float32").reshape(1, 3, 4))
    assert run(capsys, "init", tmp_path / "w", "--name", "T")[0] == 0
    assert run(capsys, "dem", "set", tif, "-w", tmp_path / "w", "--source", "test")[0] == 0
    code, out, _ = run(capsys, "info", "-w", tmp_path / "w", "--lang", "en")
    assert "Terrain (DEM): 4×3, EPSG:4326, 1.00″, test" in out  # was "0.0 m"


def test_check_point_accepts_gps_lon_lat(capsys):
    import geopandas as gpd

    parcels = gpd.read_file(settings.demo_workspace() / "workspace.gpkg", layer="parcels")
    row = parcels[parcels["cadastral_no"] == "4-02-10-0224-0012"]
    p = row.geometry.representative_point().to_crs(4326).iloc[0]
    code, out, err = run(capsys, "check", "--use", "housing", "--point", f"{p.x:.7f},{p.y:.7f}", "--lang", "ru")
    assert code == 0, err
    # how the point was read, what lies at it, then the same parcel as --parcel gives
    assert out.startswith("Координаты прочитаны как долгота/широта GPS (EPSG:4326) → EPSG:7695")
    assert "В самой точке" in out and "\n4-02-10-0224-0012 (4.4800 га)" in out


def test_report_unknown_scenario_fails_before_the_analyses(capsys, tmp_path):
    code, _, err = run(capsys, "report", "--scenario", "basline", "--out", tmp_path / "r", "--lang", "ru")
    assert code == 2
    # one line: no progress bar was started (the analyses did not run first)
    assert "scenario 'basline' not found" in one_error_line(err) and "baseline" in err
    assert not (tmp_path / "r").exists()


def test_community_check_names_legal_zones_and_water(capsys, tmp_path):
    """The review printed zone codes («правовая зона mixed_centre», «водоохранная зона lake»)."""
    import json

    import geopandas as gpd
    import yaml

    ws = copy_demo(tmp_path / "ws")
    lz = gpd.read_file(ws / "workspace.gpkg", layer="legal_zones")
    zone = lz.iloc[0]
    p = gpd.GeoSeries([zone.geometry.representative_point()], crs=lz.crs).to_crs(4326).iloc[0]
    src = tmp_path / "p.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "category": "problem", "title": "Көйгөй"}, "geometry": {"type": "Point", "coordinates": [p.x, p.y]}}]}),
        encoding="utf-8")
    assert run(capsys, "community", "new-session", "-w", ws, "--village", "Ак-Өрүк", "--date", "2026-05-12",
               "--group", "women")[0] == 0
    assert run(capsys, "community", "import", "-w", ws, src, "--session", 1, "--author", "A.K.")[0] == 0
    code, out, _ = run(capsys, "community", "check", "-w", ws, "--format", "json", "--lang", "ru")
    assert code == 0
    msg = json.loads(out)[0]["message"]
    rules = yaml.safe_load((settings.layers_dir() / "zoning_rules.yaml").read_text(encoding="utf-8"))
    assert f"правовая зона «{rules['zones'][zone['zone_code']]['names']['ru']}»" in msg
    assert zone["zone_code"] not in msg
