"""Phones offline: the XLSForm (checked by pyxform and ODK Validate) and the KoBo/ODK CSV, CoMapeo GeoJSON and
GPX importers, on GeoPackage and PostGIS. Coordinates are chosen in the workspace CRS (EPSG:7695, metres) and
written to the files as lon/lat, so the stored geometry is checked against hand-known metre coordinates."""
from __future__ import annotations

import io
import json
import shutil
import zipfile
import xml.etree.ElementTree as ET

import geopandas as gpd
import pytest
import shapely
from openpyxl import load_workbook
from PIL import Image
from shapely.geometry import Point

from gis_planner import GisPlannerError, Workspace
from gis_planner.community import categories, fieldforms, media, open_store

from .helpers import X0, Y0, gdf, square
from .test_community import store_url  # noqa: F401 - the GeoPackage / PostGIS store fixture


def ll(x: float, y: float) -> tuple[float, float]:
    """(lon, lat) of the point (X0 + x, Y0 + y) of EPSG:7695."""
    p = gpd.GeoSeries([Point(X0 + x, Y0 + y)], crs=7695).to_crs(4326).iloc[0]
    return p.x, p.y


def in_ws_crs(geom):
    return gpd.GeoSeries([geom], crs=4326).to_crs(7695).iloc[0]


def jpeg(w=2000, h=1500, gps: tuple | None = None, color=(30, 120, 200)) -> bytes:
    img = Image.new("RGB", (w, h), color)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    if gps is not None:
        lon, lat = gps
        exif[0x8825] = {1: "N", 2: (float(int(lat)), float(int((lat % 1) * 60)), (lat * 3600) % 60),
                        3: "E", 4: (float(int(lon)), float(int((lon % 1) * 60)), (lon * 3600) % 60)}
    b = io.BytesIO()
    img.save(b, "JPEG", exif=exif)
    return b.getvalue()


def png(w=300, h=200) -> bytes:
    b = io.BytesIO()
    Image.new("RGBA", (w, h), (0, 200, 0, 255)).save(b, "PNG")
    return b.getvalue()


@pytest.fixture
def ws_store(store_url, tmp_path):  # noqa: F811
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 5000)]), source="test")
    with open_store(ws, url=store_url) as s:
        yield ws, s


def _session(store):
    return store.create_session("Tört-Kül", "2026-05-12", "women", age_band="18-35", participants_female=12)


def _odk_point(x, y, alt=1650.0, acc=4.5):
    lon, lat = ll(x, y)
    return f"{lat:.9f} {lon:.9f} {alt} {acc}"


def _odk_list(pts):
    return ";".join(_odk_point(x, y) for x, y in pts)


def _assert_coords(geom, expected_xy, tol=0.01):
    got = list(shapely.get_coordinates(in_ws_crs(geom)))
    assert len(got) == len(expected_xy)
    for (gx, gy), (ex, ey) in zip(got, expected_xy):
        assert abs(gx - (X0 + ex)) < tol and abs(gy - (Y0 + ey)) < tol


# --------------------------------------------------------------------------- XLSForm
def test_xlsform_is_a_valid_odk_form_with_ky_ru_labels(tmp_path):
    from pyxform.xls2xform import convert

    path = fieldforms.write_xlsform(tmp_path / "form.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["survey", "choices", "settings"]
    head = [c.value for c in wb["survey"][1]]
    assert "label::Kyrgyz (ky)" in head and "label::Russian (ru)" in head
    rows = {r[1]: dict(zip(head, r)) for r in wb["survey"].iter_rows(min_row=2, values_only=True)}
    assert {n: rows[n]["type"] for n in ("point", "line", "polygon", "photo")} == {
        "point": "geopoint", "line": "geotrace", "polygon": "geoshape", "photo": "image"}
    assert rows["photo"]["parameters"] == "max-pixels=1600"  # the phone downscales as the store does
    assert rows["title"]["constraint"] == "string-length(.) <= 120"
    chead = [c.value for c in wb["choices"][1]]
    choices = [dict(zip(chead, r)) for r in wb["choices"].iter_rows(min_row=2, values_only=True)]
    spring = next(c for c in choices if c["list_name"] == "category" and c["name"] == "spring")
    assert (spring["label::Kyrgyz (ky)"], spring["label::Russian (ru)"], spring["group"]) == ("Булак", "Родник", "water")
    kinds = {c["name"]: c["cats"].split() for c in choices if c["list_name"] == "kind"}
    assert "spring" in kinds["point"] and "spring" not in kinds["line"] and "spring" not in kinds["polygon"]
    assert "pasture" in kinds["polygon"] and "pasture" not in kinds["point"]
    assert len([c for c in choices if c["list_name"] == "category"]) == len(categories().codes)
    assert {c["name"] for c in choices if c["list_name"] == "condition"} >= {"needs_repair", "collapsing"}

    warnings: list = []
    result = convert(str(path), warnings=warnings, validate=shutil.which("java") is not None)
    assert warnings == []
    root = ET.fromstring(result.xform)
    ns = {"x": "http://www.w3.org/2002/xforms", "h": "http://www.w3.org/1999/xhtml"}
    langs = {tr.get("lang") for tr in root.iter("{http://www.w3.org/2002/xforms}translation")}
    assert langs == {"Kyrgyz (ky)", "Russian (ru)", "English (en)"}
    binds = {b.get("nodeset").rsplit("/", 1)[-1]: b for b in root.iter("{http://www.w3.org/2002/xforms}bind")}
    assert (binds["point"].get("type"), binds["line"].get("type"), binds["polygon"].get("type"),
            binds["photo"].get("type")) == ("geopoint", "geotrace", "geoshape", "binary")
    assert binds["polygon"].get("relevant") == " /data/kind  = 'polygon'"
    assert root.find(".//h:head/h:title", ns).text == "Коомчулуктун картасы: талаа формасы"


# --------------------------------------------------------------------------- KoBo / ODK CSV
def test_kobo_csv_with_photos_imports_into_a_session(ws_store, tmp_path):
    ws, store = ws_store
    sid = _session(store)
    u1, u2, u3 = ("a1f0c7e2-0000-4000-8000-000000000001", "a1f0c7e2-0000-4000-8000-000000000002",
                  "a1f0c7e2-0000-4000-8000-000000000003")
    line = [(1000, 1000), (1300, 1000), (1300, 1400)]
    ring = [(2000, 2000), (2200, 2000), (2200, 2100), (2000, 2100), (2000, 2000)]
    head = ["start", "end", "cat_group", "category", "kind", "point", "_point_latitude", "_point_longitude", "line",
            "polygon", "grp/title", "grp/description", "condition", "sufficiency", "photo", "photo_URL", "photo_2",
            "author", "respondent_phone", "_id", "_uuid", "_submission_time", "_index"]
    lon1, lat1 = ll(500, 700)
    rows = [
        ["2026-05-12T08:00:00+06:00", "2026-05-12T08:10:00+06:00", "water", "spring", "point", _odk_point(500, 700),
         f"{lat1}", f"{lon1}", "", "", "Булак мектептин жанында", "Суу аз", "Требует ремонта", "жетишсиз",
         "1715500000001.jpg", "https://kc.example/media/1715500000001.jpg", "", "A.K.", "0555 123 456", "101", u1,
         "2026-05-12T02:11:00", "1"],
        ["", "", "infrastructure", "Жол", "line", "", "", "", _odk_list(line), "", "Жаңы жол", "", "", "", "", "",
         "", "", "", "102", u2, "2026-05-12T02:30:00", "2"],
        ["", "", "pasture", "Пастбище", "polygon", "", "", "", "", _odk_list(ring), "Жайыт", "", "", "unused",
         "pasture.png", "", "missing.jpg", "B.T.", "", "103", u3, "2026-05-12T03:00:00", "3"],
    ]
    csv = tmp_path / "community_form_-_latest_version.csv"
    csv.write_text("\n".join(";".join(f'"{v}"' for v in r) for r in [head, *rows]) + "\n", encoding="utf-8")
    mz = tmp_path / "attachments.zip"
    with zipfile.ZipFile(mz, "w") as z:  # KoBo's media zip layout: <user>/attachments/<form>/<uuid>/<file>
        z.writestr(f"kobo_user/attachments/aXyZ/{u1}/1715500000001.jpg", jpeg(gps=ll(400, 600)))
        z.writestr(f"kobo_user/attachments/aXyZ/{u3}/pasture.png", png())

    rep = fieldforms.import_odk(store, csv, sid, author="F.1", media_path=mz)
    assert len(rep.features) == 3 and rep.photos == 2
    assert rep.missing_photos == [{"row": 3, "file": "missing.jpg", "reason": "not in the media folder/zip"}]
    assert rep.unmapped_columns == ["respondent_phone"]  # reported, never stored
    assert {"_id", "_index", "photo_URL", "_point_latitude", "cat_group", "kind"} <= set(rep.ignored_columns)
    assert not rep.complete

    got = store.features(session_id=sid).set_index("uid")
    assert list(got.loc[[u1, u2, u3], "category"]) == ["spring", "road", "pasture"]
    assert list(got.loc[[u1, u2, u3], "kind"]) == ["point", "line", "polygon"]
    assert (got.loc[u1, "condition"], got.loc[u1, "sufficiency"], got.loc[u3, "sufficiency"]) == (
        "needs_repair", "insufficient", "unused")
    assert (got.loc[u1, "author"], got.loc[u2, "author"], got.loc[u3, "author"]) == ("A.K.", "F.1", "B.T.")
    # collected on the phone at 08:10 Bishkek time (the form's `end`); without it, the server's receipt time
    assert got.loc[u1, "created_at"].isoformat() == "2026-05-12T02:10:00+00:00"
    assert got.loc[u2, "created_at"].isoformat() == "2026-05-12T02:30:00+00:00"
    assert "0555" not in json.dumps(store.history(session_id=sid)["new"].tolist(), ensure_ascii=False)
    _assert_coords(got.loc[u1, "geometry"], [(500, 700)])
    _assert_coords(got.loc[u2, "geometry"], line)
    _assert_coords(got.loc[u3, "geometry"], ring)
    assert abs(in_ws_crs(got.loc[u3, "geometry"]).area - 200 * 100) < 0.5

    att = store.attachments([int(got.loc[u1, "id"]), int(got.loc[u3, "id"])])
    assert list(att["filename"]) == ["1715500000001.jpg", "pasture.png"]
    assert list(att["mime"]) == ["image/jpeg", "image/png"]
    photo = store.get_attachment(int(att["id"].iloc[0]))
    img = Image.open(io.BytesIO(photo.data))
    assert img.size == (1600, 1200) and not media.has_metadata(photo.data)  # downscaled, EXIF/GPS gone

    # the same export again: refused as a whole (uids are the submissions'), nothing doubled
    before = store.counts()
    with pytest.raises(GisPlannerError) as exc:
        fieldforms.import_odk(store, csv, sid, author="F.1", media_path=mz)
    assert exc.value.code == "duplicate_uid"
    assert store.counts() == before and len(store.attachments()) == 2


def test_odk_import_stops_on_a_bad_submission_unless_skipping(ws_store, tmp_path):
    ws, store = ws_store
    sid = _session(store)
    csv = tmp_path / "sub.csv"
    csv.write_text("category,point,title,_uuid\n"
                   f"well,{_odk_point(100, 100)},Кудук,u-1\n"
                   f"volcano,{_odk_point(200, 100)},Вулкан,u-2\n"
                   f"well,,Кудук 2,u-3\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as exc:
        fieldforms.import_odk(store, csv, sid, author="F.1")
    assert "volcano" in exc.value.problem and "1 more" in exc.value.problem
    assert store.counts()["features"] == 0  # nothing half-written
    rep = fieldforms.import_odk(store, csv, sid, author="F.1", skip_invalid=True)
    assert len(rep.features) == 1
    assert [(s["row"], s["reason"].split(" (")[0]) for s in rep.skipped] == [
        (2, "category 'volcano' is not in layers/community_categories.yaml"),
        (3, "no position")]
    assert any("Row 2 not imported" in line for line in rep.lines("en"))


# --------------------------------------------------------------------------- CoMapeo
def test_comapeo_export_with_photos_imports(ws_store, tmp_path):
    ws, store = ws_store
    sid = _session(store)
    lon, lat = ll(3000, 3000)
    track = [ll(3000, 3100), ll(3100, 3150), ll(3250, 3150)]
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[x, y, 1700.0] for x, y in track]},
         "properties": {"$id": "t1" * 16, "$createdAt": "2026-05-10T05:00:00.000Z", "$category": "Road",
                        "$author": "Aibek's phone", "$observations": "o1" * 16}, "$comapeo": {"docId": "t1"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat, 1650.5]},
         "properties": {"$id": "o1" * 16, "$createdAt": "2026-05-10T05:10:00.000Z", "$category": "Родник",
                        "$categoryId": "abc", "$author": "Aibek's phone", "notes": "Суу тунук",
                        "attachment_1": "4f2a_original.jpg", "attachment_2": None}},
        {"type": "Feature", "geometry": None,
         "properties": {"$id": "o2" * 16, "$category": "Well", "notes": "no GPS fix"}},
    ]}
    zp = tmp_path / "CoMapeo_Test_Obsvns_Tracks_2026_05_12.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("CoMapeo_Test_Obsvns_Tracks_2026_05_12.geojson", json.dumps(gj))
        z.writestr("CoMapeo_Test_Media_2026_05_12/4f2a_original.jpg", jpeg(1200, 900, gps=(lon, lat)))
    with pytest.raises(GisPlannerError) as exc:  # the observation without a position stops a strict import
        fieldforms.import_comapeo(store, zp, sid, author="F.2")
    assert "no position" in exc.value.problem and store.counts()["features"] == 0
    rep = fieldforms.import_comapeo(store, zp, sid, author="F.2", skip_invalid=True, lang="ky")
    assert len(rep.features) == 2 and rep.photos == 1 and rep.missing_photos == []
    assert [s["row"] for s in rep.skipped] == [3]
    assert "$author" in rep.ignored_columns  # device names are personal data: not stored
    got = store.features(session_id=sid).sort_values("id")
    assert list(got["category"]) == ["road", "spring"]
    assert list(got["title"]) == ["Жол", "Булак"]  # no name tag: the category's name in the session language
    assert list(got["author"]) == ["F.2", "F.2"]
    assert got["description"].iloc[1] == "Суу тунук"
    _assert_coords(got.geometry.iloc[0], [(3000, 3100), (3100, 3150), (3250, 3150)])
    _assert_coords(got.geometry.iloc[1], [(3000, 3000)])
    att = store.attachments(int(got["id"].iloc[1]))
    assert list(att["filename"]) == ["4f2a_original.jpg"] and bool(att["exif_stripped"].iloc[0])
    assert "Aibek" not in json.dumps(store.history(session_id=sid)["new"].tolist(), ensure_ascii=False)


# --------------------------------------------------------------------------- GPX
def _gpx(waypoints, tracks, routes=()) -> str:
    def pt(tag, x, y, extra=""):
        lon, lat = ll(x, y)
        return f'<{tag} lat="{lat:.9f}" lon="{lon:.9f}">{extra}</{tag}>'

    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">']
    for x, y, name, typ in waypoints:
        parts.append(pt("wpt", x, y, f"<name>{name}</name>" + (f"<type>{typ}</type>" if typ else "")))
    for name, typ, pts in routes:
        parts.append(f"<rte><name>{name}</name><type>{typ}</type>" + "".join(pt("rtept", x, y) for x, y in pts)
                     + "</rte>")
    for name, typ, pts in tracks:
        parts.append(f"<trk><name>{name}</name><type>{typ}</type><trkseg>"
                     + "".join(pt("trkpt", x, y) for x, y in pts) + "</trkseg></trk>")
    parts.append("</gpx>")
    return "\n".join(parts)


def test_gpx_waypoints_and_a_walked_boundary_become_features(ws_store, tmp_path):
    ws, store = ws_store
    sid = _session(store)
    walk = [(1000, 3000), (1300, 3000), (1300, 3200), (1000, 3200), (1004, 3003)]  # ends 5 m apart
    path = tmp_path / "walk.gpx"
    path.write_text(_gpx(waypoints=[(400, 400, "родник", ""), (450, 420, "Кудук у дороги", "well")],
                         tracks=[("Жайыт", "pasture", walk)],
                         routes=[("Арык", "canal", [(100, 100), (600, 100), (600, 500)])]), encoding="utf-8")
    rep = fieldforms.import_gpx(store, path, sid, author="F.3", as_polygon=True)
    assert len(rep.features) == 4 and not rep.skipped
    assert [n["note"] for n in rep.notes] == ["route not closed (ends 640 m apart, more than 50 m): kept as a line"]
    by_cat = store.features(session_id=sid).set_index("category")
    assert sorted(by_cat.index) == ["canal", "pasture", "spring", "well"]  # "родник" by its name, the rest by type
    assert list(by_cat.loc[["spring", "well", "canal", "pasture"], "kind"]) == ["point", "point", "line", "polygon"]
    _assert_coords(by_cat.loc["canal", "geometry"], [(100, 100), (600, 100), (600, 500)])
    _assert_coords(by_cat.loc["spring", "geometry"], [(400, 400)])
    _assert_coords(by_cat.loc["well", "geometry"], [(450, 420)])
    poly = by_cat.loc["pasture", "geometry"]
    assert poly.geom_type == "Polygon"
    _assert_coords(poly, [*walk, walk[0]])
    assert abs(in_ws_crs(poly).area - 300 * 200) < 300 * 200 * 0.01


# --------------------------------------------------------------------------- CLI
def test_cli_field_form_imports_photos_and_export(tmp_path, capsys):
    from pyxform.xls2xform import convert

    from gis_planner.cli import main

    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 5000)]), source="test")
    w = ["-w", str(ws.root)]
    assert main(["community", "field-form", *w, str(tmp_path / "form.xlsx"), "--lang", "en"]) == 0
    assert convert(str(tmp_path / "form.xlsx")).xform.startswith("<?xml")
    assert main(["community", "new-session", *w, "--village", "Tört-Kül", "--date", "2026-05-12",
                 "--group", "men"]) == 0
    gpx = tmp_path / "w.gpx"
    gpx.write_text(_gpx(waypoints=[(400, 400, "родник", ""), (500, 500, "?", "volcano")], tracks=[]),
                   encoding="utf-8")
    capsys.readouterr()
    # one waypoint has no known category: refused as a whole (exit 2, nothing written) …
    assert main(["community", "import-gpx", *w, str(gpx), "--session", "1", "--author", "F.1"]) == 2
    assert "volcano" in capsys.readouterr().err
    # … or imported without it, and the report says so with exit code 1
    assert main(["community", "import-gpx", *w, str(gpx), "--session", "1", "--author", "F.1", "--skip-invalid",
                 "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "1 features and 0 photos imported" in out and "Row 2 not imported: category 'volcano'" in out
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(jpeg(2400, 1800, gps=ll(400, 400)))
    assert main(["community", "attach", *w, "1", str(photo), "--author", "F.1", "--lang", "en"]) == 0
    assert "Photo saved: IMG_0001.jpg" in capsys.readouterr().out
    assert main(["community", "photos", *w, "1", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["feature_id"], p["filename"], p["mime"]) for p in listed] == [(1, "IMG_0001.jpg", "image/jpeg")]
    assert main(["community", "export", *w, str(tmp_path / "out.zip"), "--session", "1"]) == 0
    with zipfile.ZipFile(tmp_path / "out.zip") as z:
        assert sorted(z.namelist()) == ["out.geojson", "out_photos/1_1_IMG_0001.jpg"]
        assert not media.has_metadata(z.read("out_photos/1_1_IMG_0001.jpg"))


def test_kobo_geojson_export_with_media_folder(ws_store, tmp_path):
    """KoBo's GeoJSON export: question names (with group paths) as properties, the geometry of the geo
    question; photos in a media folder."""
    ws, store = ws_store
    sid = _session(store)
    ring = [(600, 600), (900, 600), (900, 800), (600, 600)]
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[*ll(x, y), 1600.0] for x, y in ring]]},
         "properties": {"grp/category": "arable_land", "grp/title": "Эгин талаа", "grp/sufficiency": "жетишсиз",
                        "photo": "field.jpg", "_uuid": "b2c3d4e5-0000-4000-8000-00000000000a",
                        "_submission_time": "2026-05-13T04:00:00", "meta/instanceName": "x"}}]}
    src = tmp_path / "kobo.geojson"
    src.write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "field.jpg").write_bytes(jpeg(640, 480))
    rep = fieldforms.import_odk(store, src, sid, author="F.4", media_path=tmp_path / "media")
    assert (len(rep.features), rep.photos, rep.unmapped_columns, rep.skipped) == (1, 1, [], [])
    f = rep.features[0]
    assert (f.category, f.kind, f.sufficiency, f.uid) == ("arable_land", "polygon", "insufficient",
                                                          "b2c3d4e5-0000-4000-8000-00000000000a")
    _assert_coords(f.geometry, ring)
    assert abs(in_ws_crs(f.geometry).area - 300 * 200 / 2) < 1


def test_mapeo_desktop_geojson_with_photos_list(ws_store, tmp_path):
    """Mapeo desktop's GeoJSON: tags as properties, ``_created``, and ``_photos`` (a list of file names)."""
    ws, store = ws_store
    sid = _session(store)
    lon, lat = ll(1500, 1500)
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "a1b2c3d4e5f67890", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"categoryId": "water", "notes": "Булак кургап калды", "_created": "2024-03-09T16:28:23.780Z",
                        "_version": "x@113", "_photos": ["b1c2d3e4f5a67890.jpg"]}}]}
    src = tmp_path / "mapeo-observations.geojson"
    src.write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "b1c2d3e4f5a67890.jpg").write_bytes(jpeg(800, 600))
    rep = fieldforms.import_comapeo(store, src, sid, author="F.5", media_path=tmp_path / "media", category="spring")
    assert (len(rep.features), rep.photos) == (1, 1)
    assert rep.notes == [{"row": 1, "note": "category 'water' unknown, imported as 'spring'"}]  # said, not hidden
    f = rep.features[0]
    assert (f.category, f.description, f.created_at.isoformat()) == ("spring", "Булак кургап калды",
                                                                      "2024-03-09T16:28:23.780000+00:00")
    _assert_coords(f.geometry, [(1500, 1500)])
