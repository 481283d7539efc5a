"""Import of layers (gis_planner.io, `gis-planner import`): hand-computable answers.

Fixtures are generated here: squares of known size in Kyrg-06 zone 4 (EPSG:7695, tests/helpers.py),
written as the formats people actually send (cp1251 Shapefile zipped without .cpg, KML from Google
Earth, CSV from Excel with ';' and decimal commas).
"""
from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from gis_planner import GisPlannerError, Workspace
from gis_planner.cli import main
from gis_planner.io import import_layer, read_source, safe_extract, warning_text

from .helpers import CRS, X0, Y0, gdf, square

TO_LONLAT = Transformer.from_crs(CRS, 4326, always_xy=True)


def lonlat_ring(poly):
    """Exterior ring of a Kyrg-06 polygon as lon/lat tuples (9 decimals, as GPS/GE exports)."""
    xs, ys = poly.exterior.coords.xy
    lon, lat = TO_LONLAT.transform(np.asarray(xs), np.asarray(ys))
    return [(round(a, 9), round(b, 9)) for a, b in zip(lon, lat)]


def ws_bytes(ws):
    return Path(ws.gpkg).read_bytes()


# ------------------------------------------------------------------------------------------ Shapefile
def make_cp1251_zip(tmp_path, with_cpg=False):
    """A zipped Shapefile in cp1251 with Russian field names, no .cpg, DBF code-page mark 0."""
    d = tmp_path / "shp"
    d.mkdir()
    frame = gdf({
        "Кадастровый номер": ["1-02-03-0004-0001", "1-02-03-0004-0002", "1-02-03-0004-0003"],
        "Категория": ["Земли с/х назначения", "ЗЕМЛИ ЗАПАСА", "Лесной фонд"],
        "Угодье": ["пашня", "пастбище", None],
        "Площадь": ["1,00", "2.5", "0,75"],
        "Примечание": ["Участок у реки Чон-Аксуу", "Сад (урюк)", "Лесхоз"],
    }, [square(0, 0, 100), square(200, 0, 100), square(400, 0, 50)])
    shp = d / "участки.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL notes that it cuts the long field name to 10 characters
        pyogrio.write_dataframe(frame, shp, encoding="cp1251")
    cpg = d / "участки.cpg"
    if not with_cpg:
        cpg.unlink()
    dbf = d / "участки.dbf"
    assert dbf.read_bytes()[29] == 0  # no code-page mark: the legacy case
    z = tmp_path / "uchastki.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(d.iterdir()):
            zf.write(p, f"data/{p.name}")
    return z


def test_zipped_cp1251_shapefile_without_cpg(tmp_ws, tmp_path):
    z = make_cp1251_zip(tmp_path)
    rep = import_layer(tmp_ws, "parcels", z, source="Gosregister extract", source_date="2025-03-01")
    assert rep.encoding == "cp1251" and rep.encoding_source == "guessed"
    assert any(w["code"] == "encoding_guessed" for w in rep.warnings)
    # 'Кадастровый номер' is cut to 10 characters by the DBF format and still recognised
    assert rep.field_mapping["cadastral_no"] == "Кадастровы"
    assert rep.field_match["cadastral_no"] == "prefix"
    assert rep.field_mapping["category"] == "Категория"
    assert rep.field_mapping["land_type"] == "Угодье"
    assert rep.field_mapping["area_doc_ha"] == "Площадь"
    out = tmp_ws.read_layer("parcels")
    assert list(out["cadastral_no"]) == ["1-02-03-0004-0001", "1-02-03-0004-0002", "1-02-03-0004-0003"]
    assert list(out["category"]) == ["agricultural", "reserve", "forest_fund"]
    assert list(out["land_type"][:2]) == ["arable", "pasture"] and out["land_type"].isna()[2]
    # decimal commas read as numbers
    assert list(out["area_doc_ha"]) == [1.0, 2.5, 0.75]
    # unmapped Russian field kept with correct Cyrillic text
    assert list(out["Примечание"]) == ["Участок у реки Чон-Аксуу", "Сад (урюк)", "Лесхоз"]
    # areas in Kyrg-06: 1, 1 and 0.25 ha
    assert np.allclose(out.geometry.area / 10_000, [1.0, 1.0, 0.25])
    assert rep.area_ha_total == pytest.approx(2.25, abs=1e-9)
    # documented 2.5 ha vs 1 ha geometry is flagged; 1.00 vs 1 and 0.75 vs 0.25? -> 0.75 flagged too
    assert [a["fid"] for a in rep.area_mismatch] == [1, 2]
    prov = tmp_ws.provenance("parcels")
    assert prov["source"] == "Gosregister extract" and prov["source_date"] == "2025-03-01"
    assert prov["original_crs"] == "EPSG:7695"
    assert prov["notes"]["encoding"] == "cp1251"
    assert prov["notes"]["counts"]["imported"] == 3
    assert list(out["src_fid"]) == [0, 1, 2]


def test_shapefile_with_cpg_is_honoured(tmp_ws, tmp_path):
    z = make_cp1251_zip(tmp_path, with_cpg=True)
    rep = import_layer(tmp_ws, "parcels", z, dry_run=True)
    assert rep.encoding_source == "cpg"
    assert not any(w["code"] == "encoding_guessed" for w in rep.warnings)
    assert rep.features_imported == 3 and not tmp_ws.has_layer("parcels")


# ------------------------------------------------------------------------------------------ KML / KMZ
def kml_text(placemarks):
    body = []
    for folder, items in placemarks.items():
        body.append(f"<Folder><name>{folder}</name>")
        for name, cat, ring in items:
            coords = " ".join(f"{lon},{lat},0" for lon, lat in ring)
            body.append(f"<Placemark><name>{name}</name><ExtendedData><Data name=\"Категория\"><value>{cat}"
                        f"</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>"
                        f"{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>")
        body.append("</Folder>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
            f"<Document><name>Участки</name>{''.join(body)}</Document></kml>")


@pytest.fixture
def kml_file(tmp_path):
    text = kml_text({"Айыл": [("1-02-03-0004-0101", "Айыл чарба", lonlat_ring(square(0, 0, 100)))],
                     "Талаа": [("1-02-03-0004-0102", "запастагы жер", lonlat_ring(square(200, 0, 200)))]})
    p = tmp_path / "участки.kml"
    p.write_text(text, encoding="utf-8")
    return p


def test_kml_all_folders_field_map_and_area(tmp_ws, kml_file):
    rep = import_layer(tmp_ws, "parcels", kml_file, field_map=["cadastral_no=Name"], source_date="2025-05-01")
    assert rep.src_layers == ["Айыл", "Талаа"]
    assert rep.field_mapping["cadastral_no"] == "Name" and rep.field_mapping["category"] == "Категория"
    assert rep.original_crs == "EPSG:4326" and rep.workspace_crs == "EPSG:7695"
    out = tmp_ws.read_layer("parcels")
    assert list(out["cadastral_no"]) == ["1-02-03-0004-0101", "1-02-03-0004-0102"]
    assert list(out["category"]) == ["agricultural", "reserve"]
    assert list(out["kml_folder"]) == ["Айыл", "Талаа"]
    # 100 m and 200 m squares, corners through lon/lat at 1e-9 degrees: 1 and 4 ha
    assert np.allclose(out.geometry.area / 10_000, [1.0, 4.0], atol=1e-4)
    assert out.geometry.has_z.sum() == 0


def test_kmz_is_a_zipped_kml(tmp_ws, kml_file, tmp_path):
    kmz = tmp_path / "parcels.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.write(kml_file, "doc.kml")
    rep = import_layer(tmp_ws, "parcels", kmz, field_map={"cadastral_no": "Name"}, src_layer="Талаа")
    assert rep.features_imported == 1 and rep.file == "parcels.kmz/doc.kml"
    assert f"{rep.area_ha_total:.4f}" == "4.0000"


# ------------------------------------------------------------------------------------------ geometry
def test_bowtie_is_repaired_and_reported(tmp_ws, tmp_path):
    bow = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    frame = gdf({"cadastral_no": ["A", "B"], "category": ["reserve", "reserve"]}, [square(300, 0, 100), bow])
    p = tmp_path / "parcels.gpkg"
    pyogrio.write_dataframe(frame, p, layer="uchastki")
    pyogrio.write_dataframe(frame.iloc[:1], p, layer="other", append=False)
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", p)
    assert e.value.code == "choose_layer" and "uchastki" in str(e.value)
    rep = import_layer(tmp_ws, "parcels", p, src_layer="uchastki", source_date="2025-01-01")
    # the GeoPackage fid of the bow-tie is 2
    assert [r["fid"] for r in rep.repaired] == [2]
    assert rep.repaired[0]["reason"].startswith("Self-intersection")
    # two triangles of 100×50/2 m² each: 5 000 m² = 0.5 ha
    assert rep.repaired[0]["area_ha_after"] == pytest.approx(0.5, abs=1e-9)
    out = tmp_ws.read_layer("parcels")
    assert out.geometry.is_valid.all()
    assert out.loc[out["cadastral_no"] == "B"].geometry.area.iloc[0] == pytest.approx(5000.0, abs=1e-6)
    assert rep.area_ha_total == pytest.approx(1.5, abs=1e-9)
    notes = tmp_ws.provenance("parcels")["notes"]
    assert notes["repaired"][0]["fid"] == 2
    assert any(w["code"] == "repaired" for w in notes["warnings"])


def test_empty_and_wrong_type_geometries_dropped(tmp_ws, tmp_path):
    from shapely.geometry import LineString, Point
    frame = gdf({"cadastral_no": ["A", "B", "C", "D"], "category": ["reserve"] * 4},
                [square(0, 0, 100), None, Point(X0, Y0), LineString([(X0, Y0), (X0 + 5, Y0)])])
    p = tmp_path / "mixed.gpkg"
    pyogrio.write_dataframe(frame, p, geometry_type="Unknown")
    rep = import_layer(tmp_ws, "parcels", p)
    assert rep.features_read == 4 and rep.features_imported == 1
    assert rep.dropped == [{"fid": 2, "reason": "empty_geometry"}, {"fid": 3, "reason": "wrong_geometry_type"},
                           {"fid": 4, "reason": "wrong_geometry_type"}]


def test_square_100m_in_lonlat_is_one_hectare(tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="No CRS yet")
    ring = lonlat_ring(square(0, 0, 100))
    f = tmp_path / "square.geojson"
    gpd.GeoDataFrame({"cadastral_no": ["X"], "category": ["settlement"]}, geometry=[Polygon(ring)],
                     crs=4326).to_file(f)
    rep = import_layer(ws, "parcels", f)
    # the workspace CRS is chosen from the data: Kyrg-06 zone 4
    assert ws.crs.to_epsg() == 7695 and rep.workspace_crs == "EPSG:7695"
    assert f"{rep.area_ha_total:.4f}" == "1.0000"
    out = ws.read_layer("parcels")
    assert out.geometry.area.iloc[0] / 10_000 == pytest.approx(1.0, abs=1e-6)


def test_swapped_latlon_detected_and_fixed(tmp_ws, tmp_path):
    ring = [(lat, lon) for lon, lat in lonlat_ring(square(0, 0, 100))]
    f = tmp_path / "swapped.geojson"
    gpd.GeoDataFrame({"cadastral_no": ["S"], "category": ["reserve"]}, geometry=[Polygon(ring)],
                     crs=4326).to_file(f)
    rep = import_layer(tmp_ws, "parcels", f)
    assert rep.swapped_axes and any(w["code"] == "swapped_axes" for w in rep.warnings)
    out = tmp_ws.read_layer("parcels")
    minx, miny, _, _ = out.total_bounds
    assert minx == pytest.approx(X0, abs=1e-3) and miny == pytest.approx(Y0, abs=1e-3)
    # GeoJSON stores 7 decimals of a degree (~1 cm): 1 ha to within 0.05 m²
    assert out.geometry.area.iloc[0] == pytest.approx(10_000.0, abs=0.05)


def test_missing_crs_is_a_clear_error_and_workspace_unchanged(tmp_ws, tmp_path):
    # a workspace with data already in it
    import_layer(tmp_ws, "boundary", _geojson(tmp_path, "b.geojson", {"name": ["B"]}, [square(0, 0, 1000)]))
    before = ws_bytes(tmp_ws)
    frame = gdf({"cadastral_no": ["A"], "category": ["reserve"]}, [square(0, 0, 100)])
    shp = tmp_path / "noprj.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'cadastral_no' is cut to 'cadastral_' (DBF limit), matched anyway
        pyogrio.write_dataframe(frame, shp)
    (tmp_path / "noprj.prj").unlink()
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", shp)
    err = e.value
    assert err.code == "missing_crs" and err.file == "noprj.shp"
    assert "--crs" in str(err) and "EPSG:7695" in str(err)  # suggested from the coordinates
    assert ws_bytes(tmp_ws) == before and not tmp_ws.has_layer("parcels")
    # with --crs it imports
    rep = import_layer(tmp_ws, "parcels", shp, crs="7695")
    assert rep.crs_source == "option" and rep.area_ha_total == pytest.approx(1.0)


def _geojson(tmp_path, name, cols, geoms, crs=CRS):
    p = tmp_path / name
    gdf(cols, geoms, crs=crs).to_file(p)
    return p


def test_duplicates_and_overlaps_reported(tmp_ws, tmp_path):
    f = _geojson(tmp_path, "p.geojson",
                 {"cadastral_no": ["N-1", "N-2", "N-3", "N-1"], "category": ["agricultural"] * 4},
                 [square(0, 0, 100), square(50, 0, 100), square(150, 0, 100), square(400, 0, 100)])
    rep = import_layer(tmp_ws, "parcels", f)
    assert rep.duplicates == {"N-1": [0, 3]}
    # N-1 and N-2 overlap on 50 m × 100 m = 0.5 ha; N-2 and N-3 only touch
    assert rep.overlaps == [{"fid_a": 0, "fid_b": 1, "key_a": "N-1", "key_b": "N-2", "overlap_ha": 0.5}]
    codes = {w["code"] for w in rep.warnings}
    assert {"duplicates", "overlaps", "no_source_date"} <= codes
    text = warning_text(next(w for w in rep.warnings if w["code"] == "overlaps"), "ru")
    assert "0.5000" in text and "Наложения участков — 1 пар" in text
    assert tmp_ws.provenance("parcels")["notes"]["duplicates"] == {"N-1": [0, 3]}


def test_unknown_category_error_or_allowed(tmp_ws, tmp_path):
    f = _geojson(tmp_path, "p.geojson",
                 {"cadastral_no": ["A", "B", "C"], "category": ["Лесной фонд", "Прочие", "прочие"],
                  "owner_type": ["гос", "Колхоз", None]},
                 [square(0, 0, 100), square(200, 0, 100), square(400, 0, 100)])
    before = ws_bytes(tmp_ws)
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", f)
    assert e.value.code == "unknown_category"
    assert "'Прочие' (1)" in str(e.value) and "'прочие' (2)" in str(e.value) and "--allow-unknown" in str(e.value)
    assert ws_bytes(tmp_ws) == before
    rep = import_layer(tmp_ws, "parcels", f, allow_unknown=True)
    assert rep.unknown_values["category"] == {"Прочие": [1], "прочие": [2]}
    assert rep.unknown_values["owner_type"] == {"Колхоз": [1]}
    out = tmp_ws.read_layer("parcels")
    assert out["category"].iloc[0] == "forest_fund" and out["category"].iloc[1:].isna().all()
    assert out["owner_type"].iloc[0] == "state"


# ------------------------------------------------------------------------------------------ CSV
def test_csv_with_wkt(tmp_ws, tmp_path):
    sq = square(0, 0, 100)
    f = tmp_path / "p.csv"
    f.write_text("cadastral_no,category,WKT\n"
                 f"C-1,reserve,\"{sq.wkt}\"\n"
                 "C-2,reserve,POLYGON((broken\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", f)
    assert e.value.code == "missing_crs" and "EPSG:7695" in str(e.value)
    rep = import_layer(tmp_ws, "parcels", f, crs="EPSG:7695")
    assert rep.features_imported == 1 and rep.area_ha_total == pytest.approx(1.0)
    # spreadsheet row numbers: header is row 1
    assert rep.dropped == [{"fid": 3, "reason": "bad_wkt"}]


def test_csv_lonlat_excel_cp1251_semicolon(tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="CSV")
    lon, lat = TO_LONLAT.transform(X0 + 50, Y0 + 50)
    text = ("Название;Тип;Долгота;Широта\n"
            f"Свалка у моста;полигон;{lon:.7f};{lat:.7f}\n".replace(".", ",")
            + "Пункт сбора;точка;;\n")
    f = tmp_path / "свалки.csv"
    f.write_bytes(text.encode("cp1251"))
    rep = import_layer(ws, "waste_sites", f)
    assert rep.encoding == "cp1251" and rep.crs_source == "assumed"
    assert rep.field_mapping == {"name": "Название", "site_type": "Тип"}
    assert rep.features_imported == 1 and rep.dropped == [{"fid": 3, "reason": "empty_geometry"}]
    out = ws.read_layer("waste_sites")
    assert out["name"].iloc[0] == "Свалка у моста"
    pt = out.geometry.iloc[0]
    assert (pt.x, pt.y) == (pytest.approx(X0 + 50, abs=0.02), pytest.approx(Y0 + 50, abs=0.02))


def test_csv_swapped_lonlat_columns(tmp_ws, tmp_path):
    lon, lat = TO_LONLAT.transform(X0, Y0)
    f = tmp_path / "pts.csv"
    f.write_text(f"name,site_type,lon,lat\nA,dump,{lat:.8f},{lon:.8f}\n", encoding="utf-8")
    rep = import_layer(tmp_ws, "waste_sites", f)
    assert rep.swapped_axes
    pt = tmp_ws.read_layer("waste_sites").geometry.iloc[0]
    assert pt.x == pytest.approx(X0, abs=0.01) and pt.y == pytest.approx(Y0, abs=0.01)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_import_json_and_error_lines(tmp_ws, tmp_path, capsys):
    f = _geojson(tmp_path, "p.geojson", {"КН": ["1"], "Категория": ["запас"]}, [square(0, 0, 100)])
    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f), "--date", "2025-01-01",
                 "--format", "json"])
    out = capsys.readouterr()
    assert code == 0
    data = json.loads(out.out)
    assert data["features_imported"] == 1 and data["field_mapping"] == {"cadastral_no": "КН", "category": "Категория"}

    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(f), "--lang", "ru", "--replace"])
    assert code == 0 and "импортировано объектов: 1" in capsys.readouterr().out

    before = ws_bytes(tmp_ws)
    frame = gdf({"cadastral_no": ["A"], "category": ["Марс"]}, [square(0, 0, 100)])
    bad = tmp_path / "bad.gpkg"
    pyogrio.write_dataframe(frame, bad)
    for args in (["--layer", "parcels", str(bad)],                       # unknown category
                 ["--layer", "parcels", str(tmp_path / "missing.shp")],  # no such file
                 ["--layer", "nonsense", str(bad)],                      # unknown layer
                 ["--layer", "parcels", str(bad), "--date", "31.01.2025"],
                 ["--layer", "parcels", str(bad), "--crs", "EPSG:99999999"]):
        code = main(["import", "-w", str(tmp_ws.root), *args])
        err = capsys.readouterr().err
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Fix:" in lines[0]
        assert "Traceback" not in err
    assert ws_bytes(tmp_ws) == before
    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(bad)])
    assert "bad.gpkg [feature 1]" in capsys.readouterr().err


def test_cli_table_output_in_russian(tmp_ws, tmp_path, capsys):
    f = _geojson(tmp_path, "p.geojson", {"КН": ["1", "1"], "Категория": ["запас", "запас"]},
                 [square(0, 0, 100), square(200, 0, 100)])
    assert main(["import", "-w", str(tmp_ws.root), "-l", "parcels", str(f), "--lang", "ru", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Пробный прогон" in out and "2.0000 га" in out and "Повторяющиеся кадастровые номера — 1" in out
    assert not tmp_ws.has_layer("parcels")


# ------------------------------------------------------------------------------------------ zip safety
def test_zip_traversal_rejected(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../evil.txt", "gotcha")
    dest = tmp_path / "out"
    with pytest.raises(GisPlannerError) as e:
        safe_extract(z, dest)
    assert e.value.code == "zip_unsafe" and "../../evil.txt" in str(e.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    assert not dest.exists() or not any(dest.rglob("*"))
    # the importer refuses it too, as one clear error
    with pytest.raises(GisPlannerError):
        read_source(z)


def test_zip_absolute_path_and_bomb_rejected(tmp_path):
    z = tmp_path / "abs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("/etc/passwd_copy", "x")
    with pytest.raises(GisPlannerError, match="absolute"):
        safe_extract(z, tmp_path / "o1")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dbf", b"\0" * (4 * 1024 * 1024))  # 4 MiB -> ~4 KiB, ratio ~1000
    with pytest.raises(GisPlannerError) as e:
        safe_extract(bomb, tmp_path / "o2")
    assert e.value.code == "zip_too_large"
    with pytest.raises(GisPlannerError) as e:
        safe_extract(bomb, tmp_path / "o3", max_total_bytes=1024 * 1024)
    assert e.value.code == "zip_too_large"
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
    # a normal archive extracts, Windows cp866 names decoded
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w") as zf:
        zf.writestr("a/b.txt", "hi")
    files = safe_extract(ok, tmp_path / "o4")
    assert [p.relative_to(tmp_path / "o4").as_posix() for p in files] == ["a/b.txt"]
    assert files[0].read_text() == "hi"


def test_wrong_kyrg06_zone_and_outside_boundary(tmp_ws, tmp_path):
    import_layer(tmp_ws, "boundary", _geojson(tmp_path, "b.geojson", {"name": ["B"]}, [square(0, 0, 1000)]))
    # eastings 4 3xx xxx are zone 4, the file claims zone 3 (EPSG:7694)
    f = _geojson(tmp_path, "z.geojson", {"cadastral_no": ["A"], "category": ["reserve"]}, [square(0, 0, 100)],
                 crs=7694)
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", f)
    assert e.value.code == "crs_mismatch" and "--crs EPSG:7695" in str(e.value)
    rep = import_layer(tmp_ws, "parcels", f, crs="EPSG:7695")
    assert any(w["code"] == "crs_overridden" for w in rep.warnings) and rep.outside_boundary == []
    # a parcel 5 km east of a 1 km boundary square is reported as outside
    f2 = _geojson(tmp_path, "far.geojson", {"cadastral_no": ["A", "B"], "category": ["reserve"] * 2},
                  [square(0, 0, 100), square(5000, 0, 100)])
    rep = import_layer(tmp_ws, "parcels", f2, dry_run=True)
    assert rep.outside_boundary == [1]


def test_attribute_only_file_is_a_clear_error(tmp_ws, tmp_path):
    f = tmp_path / "table.csv"
    f.write_text("cadastral_no,category,wkt\nA,reserve,\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", f, crs=7695)
    assert e.value.code == "no_geometry"
    g = tmp_path / "nogeom.csv"
    g.write_text("cadastral_no,category\nA,reserve\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as e:
        import_layer(tmp_ws, "parcels", g)
    assert e.value.code == "no_geometry_column" and "--field-map wkt=COLUMN" in str(e.value)


def test_lookalike_letters_types_and_extra_fields(tmp_ws, tmp_path):
    # 'Kатегория' starts with a Latin K; values mix Latin a/c/o into Cyrillic words and use ѳ for ө
    f = _geojson(tmp_path, "p.geojson",
                 {"Кад номер": ["A", "B", "C"], "Kатегория": ["Зaпac", "ѳкжа", "OOПТ"],
                  "Строение": ["да", "жок", "может быть"], "Домохозяйства": ["3", "2,5", ""],
                  "fid_old": [10, 11, 12]},
                 [square(0, 0, 100), square(200, 0, 100), square(400, 0, 100)])
    rep = import_layer(tmp_ws, "parcels", f, source_date="2025-01-01")
    assert rep.field_mapping == {"cadastral_no": "Кад номер", "category": "Kатегория",
                                 "households": "Домохозяйства", "has_building": "Строение"}
    out = tmp_ws.read_layer("parcels")
    assert list(out["category"]) == ["reserve", "protected", "protected"]
    assert out["has_building"].tolist()[:2] == [True, False] and out["has_building"].isna()[2]
    assert out["households"].iloc[0] == 3 and out["households"].isna()[1:].all()
    assert rep.bad_values == {"has_building": {"может быть": [2]}, "households": {"2,5": [1]}}
    assert rep.extra_fields == ["fid_old"] and list(out["fid_old"]) == [10, 11, 12]
    # every standard field exists in the layer, empty when the file had none
    assert {"use_status", "owner_type", "land_use", "settlement"} <= set(out.columns)
