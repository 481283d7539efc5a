"""Formats and vocabularies of real public/field data (issue 16 item 3): FileGDB, GPX, DXF, OSM PBF/XML,
GeoJSONSeq, CSV encodings (KOI8-R, Latin-1, UTF-16), State Register land types, GADM/HDX/geoBoundaries
field names. Every file is written here; the answers (counts, areas, codes, warnings) are known by hand.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from gis_planner.catalog import catalogue
from gis_planner.errors import GisPlannerError
from gis_planner.io import import_layer, read_source
from gis_planner.io.formats import crosswalk, decode_text
from gis_planner.workspace import Workspace

X0, Y0 = 4_330_000.0, 4_720_000.0      # a spot in Kyrg-06 zone 4 (EPSG:7695), north shore of Issyk-Kul


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "ws", name="Test", crs=7695)


def _codes(report):
    return [w["code"] for w in report.warnings]


def _warning(report, code):
    return next(w for w in report.warnings if w["code"] == code)


# ------------------------------------------------------------------------------------------ FileGDB
def _write_gdb(path: Path) -> None:
    parcels = gpd.GeoDataFrame(
        {"CAD_NUM": ["4-02-01-0001-0001", "4-02-01-0001-0002", "4-02-01-0001-0003"],
         "CATEGORY": ["Земли населенных пунктов", "сельхоз", "сельхоз"],
         "UGODIE": ["приусадебный", "пашня", "прочие"]},
        geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 300, Y0 + 100),
                  box(X0, Y0 + 100, X0 + 50, Y0 + 200)], crs=7695)
    roads = gpd.GeoDataFrame({"NAME": ["Main"]}, geometry=[LineString([(X0, Y0), (X0 + 500, Y0)])], crs=7695)
    pyogrio.write_dataframe(parcels, path, layer="parcels", driver="OpenFileGDB")
    pyogrio.write_dataframe(roads, path, layer="roads", driver="OpenFileGDB")


def test_filegdb_folder_and_zip(ws, tmp_path):
    gdb = tmp_path / "cadastre.gdb"
    _write_gdb(gdb)
    rep = import_layer(ws, "parcels", gdb, field_map=["land_type=UGODIE"], source_date="2025-01-01")
    assert rep.driver == "OpenFileGDB" and rep.src_layers == ["parcels"]   # chosen like a GeoPackage layer
    assert rep.features_imported == 3 and rep.area_ha_total == pytest.approx(1 + 2 + 0.5)
    assert rep.fid_meaning == "objectid"
    got = ws.read_layer("parcels").set_index("cadastral_no")
    assert got["category"].tolist() == ["settlement", "agricultural", "agricultural"]
    assert got["land_type"].tolist() == ["household_plot", "arable", "other"]   # State Register terms
    # the same GDB zipped (as downloaded): the folder inside the archive is found
    zipped = tmp_path / "cadastre.gdb.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for f in gdb.iterdir():
            zf.write(f, f"cadastre.gdb/{f.name}")
    rep2 = import_layer(ws, "roads", zipped, dry_run=True)
    assert rep2.features_imported == 1 and rep2.src_layers == ["roads"]
    assert rep2.file == "cadastre.gdb.zip/cadastre.gdb"
    # no layer named like the target: the choice is asked for, with the options
    with pytest.raises(GisPlannerError) as exc:
        import_layer(ws, "settlements", gdb, dry_run=True)
    assert exc.value.code == "choose_layer" and set(exc.value.details["options"]) == {"parcels", "roads"}


# ------------------------------------------------------------------------------------------ GPX
def test_gpx_track_needs_no_src_layer(ws, tmp_path):
    # a track of two segments 0.001° of latitude apart (111.0 m each at 42.6° N) and two waypoints
    gpx = tmp_path / "walk.gpx"
    gpx.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
 <wpt lat="42.600" lon="77.200"><name>Булак</name></wpt>
 <wpt lat="42.601" lon="77.200"><name>Көпүрө</name></wpt>
 <rte><name>Жол</name><rtept lat="42.600" lon="77.210"/><rtept lat="42.600" lon="77.211"/></rte>
 <trk><name>Арык</name><trkseg><trkpt lat="42.600" lon="77.200"/><trkpt lat="42.601" lon="77.200"/></trkseg>
  <trkseg><trkpt lat="42.601" lon="77.200"/><trkpt lat="42.602" lon="77.200"/></trkseg></trk>
</gpx>""", encoding="utf-8")
    rep = import_layer(ws, "roads", gpx, source_date="2025-01-01")
    assert rep.src_layers == ["routes", "tracks"] and rep.features_imported == 2
    assert _warning(rep, "gpx_layers")["params"]["layers"] == "routes (1), tracks (1)"
    assert _warning(rep, "gpx_layers_skipped")["params"]["layers"] == "waypoints"
    roads = ws.read_layer("roads").set_index("name")
    # the track: 2 × 0.001° of latitude = 222.1 m; the route: 0.001° of longitude at 42.6° N = 81.8 m
    assert roads.loc["Арык"].geometry.length == pytest.approx(222.1, abs=1.0)
    assert roads.loc["Жол"].geometry.length == pytest.approx(81.8, abs=0.5)
    assert roads["gpx_layer"].to_dict() == {"Жол": "routes", "Арык": "tracks"}
    # a layer of any geometry takes every non-empty GPX layer and says which each feature came from
    rep = import_layer(ws, "waste_sites", gpx, field_map=["site_type=name"], source_date="2025-01-01")
    assert rep.src_layers == ["waypoints", "routes", "tracks"] and rep.features_imported == 4
    assert "gpx_layers_skipped" not in _codes(rep)
    assert ws.read_layer("waste_sites")["gpx_layer"].tolist() == ["waypoints", "waypoints", "routes", "tracks"]


# ------------------------------------------------------------------------------------------ DXF
def _write_dxf(path: Path) -> None:
    import ezdxf   # dev dependency (pyproject [dev])
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    doc.layers.add("сельхоз")
    doc.layers.add("Земли населенных пунктов")
    squares = [(X0, Y0, 100, "сельхоз"), (X0 + 100, Y0, 200, "сельхоз"), (X0, Y0 + 200, 50, "Земли населенных пунктов"),
               (X0 + 400, Y0, 100, "сельхоз")]
    for x, y, s, layer in squares:
        msp.add_lwpolyline([(x, y), (x + s, y), (x + s, y + s), (x, y + s)], close=True, dxfattribs={"layer": layer})
    # a hatch drawn on the first outline (the same parcel, must be taken once)
    hatch = msp.add_hatch(dxfattribs={"layer": "сельхоз"})
    hatch.paths.add_polyline_path([(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0, Y0 + 100)], is_closed=True)
    msp.add_text("4-02-01-0002-0001", dxfattribs={"layer": "labels", "height": 5}).set_placement((X0 + 20, Y0 + 50))
    msp.add_mtext("4-02-01-0002-0002", dxfattribs={"layer": "labels", "char_height": 5}).set_location((X0 + 150, Y0 + 50))
    msp.add_text("4-02-01-0002-0003", dxfattribs={"layer": "labels", "height": 5}).set_placement((X0 + 10, Y0 + 220))
    msp.add_text("4-02-01-0002-0099", dxfattribs={"layer": "labels", "height": 5}).set_placement((X0 + 900, Y0 + 900))
    msp.add_line((X0, Y0 - 50), (X0 + 300, Y0 - 50))       # an open line: not a parcel
    doc.saveas(path)


def test_dxf_polygons_with_cadastral_numbers_from_labels(ws, tmp_path):
    dxf = tmp_path / "plan.dxf"
    _write_dxf(dxf)
    rep = import_layer(ws, "parcels", dxf, crs="EPSG:7695", field_map=["category=dxf_layer"],
                       source_date="2025-01-01", allow_unknown=True)
    assert rep.driver == "DXF" and rep.fid_meaning == "dxf_handle"
    assert rep.features_imported == 4                   # 4 outlines; the hatch on outline 1 counted once
    assert rep.area_ha_total == pytest.approx(1 + 4 + 0.25 + 1)
    got = ws.read_layer("parcels")
    by_no = got.set_index("cadastral_no")
    assert by_no.loc["4-02-01-0002-0001", "category"] == "agricultural"
    assert by_no.loc["4-02-01-0002-0002"].geometry.area == pytest.approx(40_000)
    assert by_no.loc["4-02-01-0002-0003", "category"] == "settlement"
    codes = _codes(rep)
    assert _warning(rep, "dxf_polygons")["params"] == {"n": 4, "labels": 3, "column": "cadastral_no"}
    assert "dxf_duplicates" in codes
    assert _warning(rep, "dxf_unlabelled")["params"]["n"] == 1           # the square at X0+400
    assert _warning(rep, "dxf_labels_outside")["params"]["ids"] == ["4-02-01-0002-0099"]
    assert any(d["reason"] == "open_polyline" for d in rep.dropped)      # the open line, listed


# ------------------------------------------------------------------------------------------ OSM
def _osm_objects():
    """Nodes (id, lon, lat) and ways (id, node ids, tags) of a tiny extract near 77.2 E 42.6 N."""
    nodes = {}
    nid = 1

    def node(lon, lat):
        nonlocal nid
        nodes[nid] = (lon, lat)
        nid += 1
        return nid - 1

    river = [node(77.20, 42.60 + 0.001 * k) for k in range(3)]
    road = [node(77.19 + 0.001 * k, 42.605) for k in range(4)]
    lake = [node(77.21, 42.60), node(77.212, 42.60), node(77.212, 42.602), node(77.21, 42.602)]
    farm = [node(77.22, 42.60), node(77.223, 42.60), node(77.223, 42.603), node(77.22, 42.603)]
    pier = [node(77.23, 42.60), node(77.231, 42.60)]
    ways = [
        (101, river, {"waterway": "river", "name": "Ак-Суу"}),
        (102, road, {"highway": "primary", "name": "ЭМ-15"}),
        (103, lake + [lake[0]], {"natural": "water", "water": "pond", "name": "Көлчүк"}),
        (104, farm + [farm[0]], {"landuse": "farmland"}),
        (105, pier, {"man_made": "pier"}),
    ]
    return nodes, ways


def _write_osm_xml(path: Path) -> None:
    nodes, ways = _osm_objects()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i, (lon, lat) in nodes.items():
        lines.append(f' <node id="{i}" version="1" lat="{lat}" lon="{lon}"/>')
    for wid, refs, tags in ways:
        lines.append(f' <way id="{wid}" version="1">')
        lines += [f'  <nd ref="{r}"/>' for r in refs]
        lines += [f'  <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append(" </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def _write_osm_pbf(path: Path) -> None:
    import osmium  # dev dependency (pyproject [dev])
    nodes, ways = _osm_objects()
    with osmium.SimpleWriter(str(path)) as w:
        for i, (lon, lat) in nodes.items():
            w.add_node(osmium.osm.mutable.Node(id=i, version=1, location=(lon, lat), tags={}))
        for wid, refs, tags in ways:
            w.add_way(osmium.osm.mutable.Way(id=wid, version=1, nodes=refs, tags=tags))


@pytest.mark.parametrize("kind", ["pbf", "xml"])
def test_osm_water_and_roads_through_the_crosswalk(ws, tmp_path, kind):
    path = tmp_path / ("extract.osm.pbf" if kind == "pbf" else "extract.osm")
    (_write_osm_pbf if kind == "pbf" else _write_osm_xml)(path)
    rep = import_layer(ws, "water_bodies", path, source_date="2025-01-01")
    water = ws.read_layer("water_bodies").set_index("src_fid")
    # only what the crosswalk calls water: the river line and the pond polygon (road, farm, pier left out)
    assert sorted(water.index) == ["way/101", "way/103"]
    assert water.loc["way/101", "water_type"] == "river" and water.loc["way/103", "water_type"] == "lake"
    assert water.loc["way/103", "land_type"] == "under_water"                   # a land TYPE …
    assert "category" not in water.columns                                       # … never a legal category
    assert _warning(rep, "osm_filtered")["params"]["n"] == 3
    rep = import_layer(ws, "roads", path, source_date="2025-01-01")
    roads = ws.read_layer("roads")
    assert roads["road_class"].tolist() == ["main"] and roads["name"].tolist() == ["ЭМ-15"]
    assert rep.fid_meaning == "osm"


def test_crosswalk_never_gives_a_legal_category():
    from gis_planner.catalog import load_rules

    rules = load_rules("osm_crosswalk")
    assert "category" not in rules["crosswalk"] and rules["meta"]["source"]
    assert set(e["code"] for e in rules["crosswalk"]["land_type"]) <= set(catalogue("land_types").codes)
    assert set(e["code"] for e in rules["crosswalk"]["land_use"]) <= set(catalogue("land_uses").codes)
    assert crosswalk({"landuse": "orchard"}) == {"land_type": "perennial", "land_use": "orchard"}


# ------------------------------------------------------------------------------------------ GeoJSONSeq
@pytest.mark.parametrize("ext", [".geojsons", ".geojsonl"])
def test_geojsonseq(ws, tmp_path, ext):
    path = tmp_path / f"zones{ext}"
    feats = [{"type": "Feature", "properties": {"тип": "сель", "уровень": "высокий"},
              "geometry": shapely.geometry.mapping(box(77.20, 42.60, 77.201, 42.601))},
             {"type": "Feature", "properties": {"тип": "паводок", "уровень": "низкий"},
              "geometry": shapely.geometry.mapping(box(77.21, 42.60, 77.211, 42.601))}]
    path.write_text("\n".join(json.dumps(f, ensure_ascii=False) for f in feats) + "\n", encoding="utf-8")
    raw = read_source(path)
    assert raw.driver == "GeoJSONSeq" and list(raw.gdf.index) == [1, 2]
    rep = import_layer(ws, "hazard_zones", path, dry_run=True)
    assert rep.features_imported == 2 and rep.fid_meaning == "line1"
    # 0.001° × 0.001° at 42.6° N: 111.0 m × 81.8 m ≈ 0.908 ha each
    assert rep.area_ha_total == pytest.approx(2 * 0.908, rel=0.01)


# ------------------------------------------------------------------------------------------ encodings
ROWS_RU = [("4-02-01-0003-%04d" % i, cat, lt) for i, (cat, lt) in enumerate([
    ("Земли населенных пунктов", "приусадебный"), ("Земли сельскохозяйственного назначения", "пашня"),
    ("Земли сельскохозяйственного назначения", "многолетние насаждения"),
    ("Земли населенных пунктов", "под постройками"), ("Земли сельскохозяйственного назначения", "залежь"),
    ("Земли населенных пунктов", "под дорогами"), ("Земли водного фонда", "под водой"),
    ("Земли лесного фонда", "под лесом"), ("Земли запаса", "прочие"),
    ("Земли сельскохозяйственного назначения", "пастбища"), ("Земли сельскохозяйственного назначения", "сенокосы"),
    ("Земли населенных пунктов", "приусадебный")], start=1)]


def _csv_ru() -> str:
    lines = ["кадастровый_номер;категория;угодье;wkt"]
    for k, (no, cat, lt) in enumerate(ROWS_RU):
        x = X0 + 100 * k
        lines.append(f"{no};{cat};{lt};POLYGON(({x} {Y0},{x + 100} {Y0},{x + 100} {Y0 + 100},{x} {Y0 + 100},{x} {Y0}))")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("enc", ["koi8_r", "cp1251", "utf-16"])
def test_cyrillic_csv_is_never_garbled(ws, tmp_path, enc):
    path = tmp_path / f"parcels_{enc}.csv"
    path.write_bytes(_csv_ru().encode(enc))
    rep = import_layer(ws, "parcels", path, crs="EPSG:7695", source_date="2025-01-01")
    assert rep.encoding == enc and rep.encoding_source == ("bom" if enc == "utf-16" else "detected")
    assert rep.features_imported == 12 and rep.area_ha_total == pytest.approx(12.0)
    assert "unknown_values" not in _codes(rep)                       # every land type recognised
    got = ws.read_layer("parcels").set_index("cadastral_no")
    assert got.loc["4-02-01-0003-0001", "land_type"] == "household_plot"
    assert got.loc["4-02-01-0003-0004", "land_type"] == "built_up"
    assert got.loc["4-02-01-0003-0009", ["category", "land_type"]].tolist() == ["reserve", "other"]
    assert (got["category"] != "").all()


def test_latin1_csv_detected_not_read_as_cyrillic(ws, tmp_path):
    text = "name;site_type;lon;lat\n" + "".join(
        f"{n};landfill;77.{200 + k};42.600\n" for k, n in enumerate(
            ["Décharge Müller", "Dépôt à côté de l'école", "Ancien dépôt près de la forêt", "Déchets près du café",
             "Dépotoir près de la rivière", "Entrepôt Jürgen Größe", "Décharge sauvage à l'entrée du village",
             "Dépôt de gravats près du lycée", "Décharge fermée en été", "Dépôt communal, côté nord",
             "Déchetterie de la vallée", "Dépôt près de l'église"]))
    path = tmp_path / "dumps.csv"
    path.write_bytes(text.encode("latin-1"))
    rep = import_layer(ws, "waste_sites", path, source_date="2025-01-01")
    # cp1250/cp1252/cp1257 read it equally well: the tie goes to cp1252, the Windows Latin-1
    assert rep.encoding_source == "detected" and rep.encoding == "cp1252"
    names = ws.read_layer("waste_sites")["name"].tolist()
    assert names[0] == "Décharge Müller" and names[1] == "Dépôt à côté de l'école"
    # three rows: too little text to be sure, so the import asks (never guesses)
    short = tmp_path / "few.csv"
    short.write_bytes("\n".join(text.splitlines()[:4]).encode("latin-1"))
    with pytest.raises(GisPlannerError) as exc:
        import_layer(ws, "waste_sites", short, dry_run=True)
    assert exc.value.code == "encoding_unsure"
    assert exc.value.details["previews"]["cp1252"].startswith("Décharge Müller")


def test_unsure_encoding_asks_with_candidates(tmp_path):
    data = "id;name;wkt\n1;Пашня;POINT(1 2)\n".encode("koi8_r")
    with pytest.raises(GisPlannerError) as exc:
        decode_text(data, "short.csv")
    err = exc.value
    assert err.code == "encoding_unsure" and "--encoding" in err.fix
    assert "koi8_r" in err.details["candidates"] and "cp1251" in err.details["candidates"]
    assert "Пашня" in str(err)              # the preview shows which candidate reads right
    # … and --encoding settles it
    text, enc, how, _ = decode_text(data, "short.csv", encoding="koi8_r")
    assert "Пашня" in text and how == "user"


# ------------------------------------------------------------------------------------------ vocabularies
def test_state_register_land_types_ky_ru():
    lt = catalogue("land_types")
    for value, code in [("приусадебный", "household_plot"), ("Прочие", "other"), ("прочие земли", "other"),
                        ("под постройками", "built_up"), ("под дорогами", "under_roads"),
                        ("под водой", "under_water"), ("под лесом", "forest"),
                        ("многолетние насаждения", "perennial"), ("залежь", "fallow"),
                        ("короо-жай", "household_plot"), ("башка жерлер", "other"), ("саздар", "wetland")]:
        assert lt.lookup(value) == code, value
    src = lt.source
    assert "State Register" in src


# ------------------------------------------------------------------------------------------ precision
def test_accuracy_from_scale_option_metadata_or_estimate(ws, tmp_path):
    sq = gpd.GeoDataFrame({"CAD_NUM": ["1"], "CATEGORY": ["запас"]}, geometry=[box(X0, Y0, X0 + 100, Y0 + 100)],
                          crs=7695)
    plain = tmp_path / "plain.gpkg"
    sq.to_file(plain)
    tagged = tmp_path / "tagged.gpkg"
    pyogrio.write_dataframe(sq, tagged, layer="parcels", layer_metadata={"SCALE": "1:25 000"})
    rep = import_layer(ws, "parcels", tagged, dry_run=True)
    assert rep.precision == {"accuracy_m": 12.5, "how": "metadata", "scale": "1:25000", "spacing_m": 100.0}
    assert any(w["code"] == "precision_metadata" for w in rep.warnings)
    rep = import_layer(ws, "parcels", plain, dry_run=True, accuracy_m=0.5)
    assert rep.precision["accuracy_m"] == 0.5 and rep.precision["how"] == "user_accuracy"
    # right angles only: nothing to estimate from, nothing claimed
    rep = import_layer(ws, "parcels", plain, dry_run=True)
    assert rep.precision["how"] == "unknown" and rep.precision["accuracy_m"] is None
    with pytest.raises(GisPlannerError) as exc:
        import_layer(ws, "parcels", plain, dry_run=True, scale="ten thousand")
    assert exc.value.code == "bad_scale"


def test_cli_imports_a_gdb_folder(ws, tmp_path, capsys):
    from gis_planner.cli import main

    gdb = tmp_path / "c.gdb"
    _write_gdb(gdb)
    assert main(["import", "-w", str(ws.root), "-l", "roads", str(gdb), "--dry-run", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "OpenFileGDB; roads" in out and "OBJECTID" in out


def test_app_asks_for_the_encoding_and_imports_with_it(tmp_path, demo_ws, no_app_warm_up):
    from gis_planner.i18n import t

    from .apptest import copy_demo, open_app

    ws = copy_demo(demo_ws, tmp_path / "demo")
    c = ws.read_layer("boundary").geometry.iloc[0].representative_point()
    x, y = round(c.x), round(c.y)
    data = f'name,regime,wkt\nПарк,core,"SRID=7695;POLYGON(({x} {y},{x + 100} {y},{x + 100} {y + 100},{x} {y + 100},{x} {y}))"\n'
    at = open_app(ws, "ru", "data")
    at.file_uploader(key="data_upload").set_value(("park.csv", data.encode("koi8_r"), "text/csv")).run()
    text = "\n".join(e.value for e in at.error)
    assert t("app.err.encoding_unsure", "ru") in text and "--encoding" not in text
    picker = at.selectbox(key="data_encoding")
    assert "koi8_r" in picker.options[1:] or any(o.startswith("koi8_r") for o in picker.options)
    picker.set_value("koi8_r").run()
    assert not at.error, "\n".join(e.value for e in at.error)
    at.selectbox(key="data_target").set_value("protected_areas").run()
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()
    at.button(key="data_import").click().run()
    assert not at.error, "\n".join(e.value for e in at.error)
    pa = Workspace(ws.root).read_layer("protected_areas")
    assert pa["name"].tolist() == ["Парк"]


def test_messages_of_this_area_in_three_languages():
    import yaml

    from gis_planner.i18n import messages

    path = Path(__file__).resolve().parents[1] / "gis_planner" / "i18n" / "import-formats.yaml"
    keys = list(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert all(all(messages()[k].get(lang) for lang in ("ky", "ru", "en")) for k in keys)
    emitted = ["encoding_detected", "gpx_layers", "gpx_layers_skipped", "dxf_polygons", "dxf_duplicates",
               "dxf_unlabelled", "dxf_several_labels", "dxf_labels_outside", "osm_read", "osm_unmatched",
               "osm_filtered", "clipped_area", "clipped_length", "clipped_count", "clipped_outside",
               "precision_estimated", "precision_metadata", "derived_rivers"]
    assert all(f"io.warn.{c}" in messages() for c in emitted)
    assert all(f"io.fid.{v}" in messages() for v in ("objectid", "feature1", "dxf_handle", "osm", "line1"))
