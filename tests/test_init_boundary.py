"""A workspace for a real municipality in one command (issue 16 items 4 and 5): `init --boundary FILE
--where …` on files shaped like GADM (ADM2), HDX COD-AB (ADM3) and geoBoundaries; clipping of later imports
with the share reported; the Kyrg-06 zone; the DEM from GEBCO or a file; rivers derived from the DEM
(marked derived); each layer's accuracy and the rounding it allows.

The units are rectangles drawn in Kyrg-06 zone 4 (EPSG:7695) on the north shore of Issyk-Kul, densified
and written in lon/lat as the public files are, so their areas are known by hand.
"""
from __future__ import annotations

import numpy as np
import geopandas as gpd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, box

from gis_planner.cli import main
from gis_planner.errors import GisPlannerError
from gis_planner.io import import_layer
from gis_planner.io.boundary import admin_field_map, derive_rivers, init_from_boundary
from gis_planner.io.precision import workspace_precision
from gis_planner.workspace import Workspace

TO_M = Transformer.from_crs(4326, 7695, always_xy=True)
BACK = Transformer.from_crs(7695, 4326, always_xy=True)
X0, Y0 = TO_M.transform(77.08, 42.68)
X0, Y0 = round(X0, -3), round(Y0, -3)


def _unit(dx, dy, w, h):
    """A w × h km rectangle (dx, dy km from the origin), densified every 100 m, in lon/lat."""
    g = shapely.segmentize(box(X0 + dx * 1000, Y0 + dy * 1000, X0 + (dx + w) * 1000, Y0 + (dy + h) * 1000), 100)
    return shapely.transform(g, lambda c: np.column_stack(BACK.transform(c[:, 0], c[:, 1])))




# three ayil aimaks in two rayons; two of them share the Russian name «Ак-Суу»
AA = [  # (dx, dy, w, h, EN, RU, KY, PCODE, rayon)
    (0, 0, 8, 5, "Ak-Suu", "Ак-Суу", "Ак-Суу", "KG04020001", "Ton"),
    (8, 0, 6, 5, "Chong-Sai", "Чон-Сай", "Чоң-Сай", "KG04020002", "Ton"),
    (0, 5, 8, 6, "Ak-Suu", "Ак-Суу", "Ак-Суу", "KG04030001", "Tyup"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("public")
    hdx = gpd.GeoDataFrame({"ADM3_EN": [a[4] for a in AA], "ADM3_RU": [a[5] for a in AA],
                            "ADM3_KY": [a[6] for a in AA], "ADM3_PCODE": [a[7] for a in AA],
                            "ADM2_EN": [a[8] for a in AA], "ADM2_PCODE": ["KG0402", "KG0402", "KG0403"],
                            "ADM1_EN": ["Issyk-Kul"] * 3, "ADM0_EN": ["Kyrgyzstan"] * 3},
                           geometry=[_unit(*a[:4]) for a in AA], crs=4326)
    hdx.to_file(d / "kgz_admbnda_adm3.shp", encoding="utf-8")
    gadm = gpd.GeoDataFrame({"GID_0": ["KGZ", "KGZ"], "NAME_0": ["Kyrgyzstan"] * 2,
                             "GID_1": ["KGZ.4_1"] * 2, "NAME_1": ["Ysyk-Köl"] * 2,
                             "GID_2": ["KGZ.4.1_1", "KGZ.4.2_1"], "NAME_2": ["Ton", "Tüp"],
                             "TYPE_2": ["District"] * 2},
                            geometry=[_unit(0, 0, 14, 5), _unit(0, 5, 8, 6)], crs=4326)
    gadm.to_file(d / "gadm41_KGZ_2.gpkg", layer="ADM_ADM_2")
    geob = gpd.GeoDataFrame({"shapeName": ["Ton"], "shapeISO": [None], "shapeID": ["KGZ-ADM2-1"],
                             "shapeGroup": ["KGZ"], "shapeType": ["ADM2"]}, geometry=[_unit(0, 0, 14, 5)], crs=4326)
    geob.to_file(d / "geoBoundaries-KGZ-ADM2.geojson")
    return d


def test_field_names_of_public_boundary_sets_are_recognised():
    assert admin_field_map(["GID_0", "NAME_0", "GID_1", "NAME_1", "GID_2", "NAME_2"]) == \
        {"name": "NAME_2", "code": "GID_2", "oblast": "NAME_1"}
    assert admin_field_map(["ADM3_EN", "ADM3_RU", "ADM3_KY", "ADM3_PCODE", "ADM2_EN", "ADM1_EN"]) == \
        {"name": "ADM3_KY", "name_ru": "ADM3_RU", "code": "ADM3_PCODE", "district": "ADM2_EN", "oblast": "ADM1_EN"}


def test_init_from_hdx_adm3_picks_one_ayil_aimak(files, tmp_path):
    res = init_from_boundary(tmp_path / "ws", files / "kgz_admbnda_adm3.shp",
                             where=["ADM3_PCODE=KG04020002"], use_gebco=False)
    ws = res.workspace
    meta = ws.meta()
    assert meta["name"] == "Чоң-Сай" and meta["name_ru"] == "Чон-Сай" and meta["code"] == "KG04020002"
    assert meta["district"] == "Ton" and meta["oblast"] == "Issyk-Kul" and meta["clip_to_boundary"] is True
    assert res.crs == "EPSG:7695"                                  # Kyrg-06 zone 4 (77°31′ E)
    b = ws.read_layer("boundary")
    assert len(b) == 1 and b.geometry.area.sum() / 1e4 == pytest.approx(6 * 5 * 100, rel=1e-4)   # 3000 ha
    assert res.boundary_report.field_mapping["name"] == "ADM3_KY"
    assert ws.provenance("boundary")["source"] == "kgz_admbnda_adm3.shp (ADM3_PCODE=KG04020002)"


def test_where_matching_none_or_several_is_refused_with_candidates(files, tmp_path):
    with pytest.raises(GisPlannerError) as exc:
        init_from_boundary(tmp_path / "a", files / "kgz_admbnda_adm3.shp", where=["name=Ак-Суу"], use_gebco=False)
    err = exc.value
    assert err.code == "choose_unit" and err.details["matched"] == 2
    assert "KG04020001" in str(err) and "KG04030001" in str(err) and "Tyup" in str(err)
    assert not (tmp_path / "a").exists()                            # nothing created
    with pytest.raises(GisPlannerError) as exc:
        init_from_boundary(tmp_path / "b", files / "kgz_admbnda_adm3.shp", where=["ADM3_EN=Tong"], use_gebco=False)
    assert exc.value.details["matched"] == 0 and len(exc.value.details["candidates"]) == 3
    assert not (tmp_path / "b").exists()
    # two conditions settle it; the Russian name matches as well as the Kyrgyz one
    res = init_from_boundary(tmp_path / "c", files / "kgz_admbnda_adm3.shp",
                             where=["name=Ак-Суу", "district=Tyup"], use_gebco=False)
    assert res.workspace.meta()["code"] == "KG04030001" and res.area_ha == pytest.approx(4800, rel=1e-4)


def test_gadm_and_geoboundaries_rayons(files, tmp_path):
    res = init_from_boundary(tmp_path / "ton", files / "gadm41_KGZ_2.gpkg", where=["NAME_2=ton"], use_gebco=False)
    assert res.workspace.meta()["code"] == "KGZ.4.1_1" and res.area_ha == pytest.approx(7000, rel=1e-4)
    res = init_from_boundary(tmp_path / "geob", files / "geoBoundaries-KGZ-ADM2.geojson", use_gebco=False)
    assert res.workspace.name == "Ton" and res.workspace.meta()["code"] == "KGZ-ADM2-1"


def test_later_imports_are_clipped_with_the_share_reported(files, tmp_path):
    ws = init_from_boundary(tmp_path / "ws", files / "kgz_admbnda_adm3.shp", where=["ADM3_PCODE=KG04020001"],
                            use_gebco=False).workspace
    # parcels in Kyrg-06: one inside (1 ha), one half outside the eastern edge (2 ha, 1 ha kept),
    # one wholly outside (1 ha)
    e = X0 + 8000
    p = gpd.GeoDataFrame({"CAD_NUM": ["1", "2", "3"], "CATEGORY": ["запас"] * 3},
                         geometry=[box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200), box(e - 100, Y0 + 100, e + 100, Y0 + 200),
                                   box(e + 500, Y0 + 100, e + 600, Y0 + 200)], crs=7695)
    f = tmp_path / "p.gpkg"
    p.to_file(f)
    rep = import_layer(ws, "parcels", f, source_date="2025-01-01", scale="1:2000")
    assert rep.features_imported == 2 and rep.area_ha_total == pytest.approx(2.0, abs=1e-6)
    w = next(x for x in rep.warnings if x["code"] == "clipped_area")
    assert w["params"]["share"] == "50.00"                                  # 2 of 4 ha cut away
    assert next(x for x in rep.warnings if x["code"] == "clipped_outside")["params"]["ids"] == [3]
    assert rep.clipped["outside"] == [3]
    # a lake just outside keeps a 1 km margin (its protection zone reaches in), a far one is cut away
    lake = gpd.GeoDataFrame({"name": ["near", "far"], "water_type": ["lake", "lake"]},
                            geometry=[box(e + 200, Y0, e + 700, Y0 + 500), box(e + 5000, Y0, e + 5500, Y0 + 500)],
                            crs=7695)
    f2 = tmp_path / "lakes.gpkg"
    lake.to_file(f2)
    rep = import_layer(ws, "water_bodies", f2, source_date="2025-01-01")
    assert rep.features_imported == 1 and rep.clipped["margin_m"] == 1000
    assert ws.read_layer("water_bodies").geometry.area.sum() == pytest.approx(25 * 1e4)


def test_dem_from_gebco_and_derived_rivers(files, tmp_path):
    code = main(["init", str(tmp_path / "ws"), "--boundary", str(files / "gadm41_KGZ_2.gpkg"),
                 "--where", "NAME_2=Ton", "--lang", "en"])
    assert code == 0
    ws = Workspace(tmp_path / "ws")
    with rasterio.open(ws.dem_path) as ds:
        assert ds.crs.to_epsg() == 7695 and ds.res == (50.0, 50.0)
        z = ds.read(1)
        # the window covers the 14 × 5 km rayon plus 2 km on every side
        assert ds.width == pytest.approx((14_000 + 4_000) / 50, abs=2)
        assert 1590 < float(z.min()) < float(z.max()) < 4500    # Issyk-Kul shore (cubic dips 2 m) up to the ridge
    prov = ws.provenance("water_bodies")
    assert prov["notes"]["derived"] is True and "derived" in prov["source"]
    # placed no better than GEBCO's 15″ cell (463 m N–S): the coarsest input, whole hectares in tables
    assert prov["notes"]["precision"] == {"accuracy_m": 463.8, "how": "dem_cell", "spacing_m": None}
    assert workspace_precision(ws)["area_decimals"] == 0
    lay = {x["name"]: x for x in ws.info()["layers"]}
    assert lay["water_bodies"]["precision"]["accuracy_m"] == 463.8
    rivers = ws.read_layer("water_bodies")
    assert len(rivers) == prov["notes"]["lines"] >= 1
    assert set(rivers["water_type"]) <= {"river", "stream"} and rivers["derived"].all()
    # the rivers drain to the lake: each ends lower than it starts
    with rasterio.open(ws.dem_path) as ds:
        for g in rivers.geometry:
            line = max(shapely.get_parts(g), key=lambda p: p.length)
            (zs,), (ze,) = ds.sample([line.coords[0]]), ds.sample([line.coords[-1]])
            assert zs > ze
    # an imported river layer is not overwritten by derived rivers without --replace
    imported = gpd.GeoDataFrame({"name": ["Ак-Суу"], "water_type": ["river"]},
                                geometry=[LineString([(X0 + 1000, Y0 + 4000), (X0 + 1000, Y0 + 100)])], crs=7695)
    f = tmp_path / "river.gpkg"
    imported.to_file(f)
    with pytest.raises(GisPlannerError) as exc:   # the derived rivers are a layer too: replaced only when asked
        import_layer(ws, "water_bodies", f, source_date="2025-01-01")
    assert exc.value.code == "layer_exists"
    import_layer(ws, "water_bodies", f, source_date="2025-01-01", mode="replace")
    with pytest.raises(GisPlannerError) as exc:
        derive_rivers(ws)
    assert exc.value.code == "layer_exists"
    assert ws.read_layer("water_bodies")["name"].tolist() == ["Ак-Суу"]
    assert main(["derive", "rivers", "-w", str(ws.root), "--replace"]) == 0
    assert ws.provenance("water_bodies")["notes"]["derived"] is True


def test_dem_from_a_file(files, tmp_path):
    # a 0.001° lon/lat GeoTIFF, a plane rising 1 m per column, covering the unit with room to spare
    lon0, lat1, step = 76.9, 42.95, 0.001
    z = np.tile(np.arange(500, dtype="float32"), (400, 1)) + 2000
    src = tmp_path / "dem.tif"
    with rasterio.open(src, "w", driver="GTiff", width=500, height=400, count=1, dtype="float32", crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(lon0, lat1, step, step)) as ds:
        ds.write(z, 1)
    # a surveyed river, 3 km inside the unit and 2 km beyond its southern edge (cut 1 km past it)
    river = gpd.GeoDataFrame({"name": ["Ак-Суу"], "water_type": ["river"]},
                             geometry=[LineString([(X0 + 4000, Y0 + 3000), (X0 + 4000, Y0 - 2000)])], crs=7695)
    rfile = tmp_path / "river.gpkg"
    river.to_file(rfile)
    res = init_from_boundary(tmp_path / "ws", files / "kgz_admbnda_adm3.shp", where=["ADM3_PCODE=KG04020001"],
                             dem=src, rivers=rfile, source_date="2024-01-01")
    assert res.dem["source"] == "dem.tif" and res.dem["resolution_m"] == pytest.approx(81.8, abs=0.5)
    with rasterio.open(res.workspace.dem_path) as ds:
        z = ds.read(1)
        assert float(z.min()) > 2000 and float(z.max()) < 2500
    # the given rivers are imported (not derived), clipped to the boundary + 1 km: 4 of 5 km kept
    assert res.rivers["imported"] == 1 and not res.rivers.get("derived")
    wb = res.workspace.read_layer("water_bodies")
    assert wb.geometry.length.sum() == pytest.approx(4000, abs=1)
    assert res.rivers["report"].clipped["share_pct"] == pytest.approx(20.0, abs=0.01)


def test_precision_recorded_and_used_for_rounding(files, tmp_path, capsys):
    ws = init_from_boundary(tmp_path / "ws", files / "kgz_admbnda_adm3.shp", where=["ADM3_PCODE=KG04020001"],
                            use_gebco=False, scale="1:10000").workspace
    assert ws.provenance("boundary")["notes"]["precision"] == {"accuracy_m": 5.0, "how": "user_scale",
                                                               "scale": "1:10000", "spacing_m": 100.0}
    # a lake shore drawn with one vertex per ~1.4 km: the accuracy is estimated (sagitta) and said so
    lake = shapely.Point(X0 + 4000, Y0 - 3000).buffer(9000, quad_segs=10)          # 40 vertices, 1.41 km apart
    f = tmp_path / "lake.gpkg"
    gpd.GeoDataFrame({"name": ["Ысык-Көл"], "water_type": ["lake"]}, geometry=[lake], crs=7695).to_file(f)
    rep = import_layer(ws, "water_bodies", f, source_date="2025-01-01")
    prec = rep.precision
    # s = 2·9000·sin(π/40) = 1412 m, θ = 2π/40 = 0.157 rad: sagitta s·θ/8 = 27.7 m → 28 m
    assert prec["how"] == "estimated" and prec["accuracy_m"] == 28.0 and prec["spacing_m"] == pytest.approx(1412.3, abs=0.1)
    assert any(w["code"] == "precision_estimated" for w in rep.warnings)
    wp = workspace_precision(ws)
    # coarsest input: the lake (±28 m): 28² m² = 0.078 ha → one decimal of a hectare, whole metres
    assert wp["layer"] == "water_bodies" and wp["area_decimals"] == 1 and wp["length_decimals"] == 0
    # a park outline given at ±250 m: 6.25 ha per accuracy cell → whole hectares in the import report
    park = gpd.GeoDataFrame({"name": ["Park"]}, geometry=[box(X0 + 1234.5, Y0 + 1000, X0 + 4000, Y0 + 3000)], crs=7695)
    f2 = tmp_path / "park.gpkg"
    park.to_file(f2)
    assert main(["import", "-w", str(ws.root), "-l", "protected_areas", str(f2), "--dry-run", "--lang", "en",
                 "--accuracy-m", "250"]) == 0
    out = capsys.readouterr().out
    assert "area 553 ha" in out                       # 2765.5 m × 2000 m = 553.1 ha


def test_balance_and_report_round_to_the_coarsest_input(files, tmp_path, capsys):
    ws = init_from_boundary(tmp_path / "ws", files / "kgz_admbnda_adm3.shp", where=["ADM3_PCODE=KG04020001"],
                            use_gebco=False, scale="1:10000").workspace
    p = gpd.GeoDataFrame({"CAD_NUM": ["1", "2"], "CATEGORY": ["запас", "сельхоз"], "LT": ["прочие", "пашня"]},
                         geometry=[box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200),
                                   box(X0 + 300, Y0 + 100, X0 + 550, Y0 + 200.1234)], crs=7695)
    f = tmp_path / "p.gpkg"
    p.to_file(f)
    rep = import_layer(ws, "parcels", f, source_date="2025-01-01", scale="1:10000", field_map=["land_type=LT"])
    assert rep.precision["accuracy_m"] == 5.0
    capsys.readouterr()
    assert main(["balance", "-w", str(ws.root), "--table", "by_category", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    # ±5 m (1:10 000): 25 m² = 0.0025 ha → two decimals; parcel 2 is 250 m × 100.1234 m = 2.503085 ha
    assert "2.50 " in out and "2.5031" not in out and "1.00 " in out
    assert "Areas rounded to 0.01 ha and distances to 1 m" in out and "±5 m" in out
    assert main(["restrictions", "-w", str(ws.root), "--lang", "en"]) == 0
    assert "Areas rounded to 0.01 ha" in capsys.readouterr().out
    # the report's tables print areas with the same two decimals and carry the note
    from gis_planner.report import build_report

    res = build_report(ws, tmp_path / "rep", lang="en", formats=("html",))
    tables = [tb for d in res["documents"] for tb in d.tables()]
    assert tables and all(tb.ha_decimals == 2 for tb in tables)
    html = (tmp_path / "rep" / "sedp_sections_en.html").read_text(encoding="utf-8")
    assert "Areas rounded to 0.01 ha" in html and "2.50" in html and "2.5031" not in html


def test_one_workspace_from_public_shaped_files(files, tmp_path, monkeypatch, capsys):
    """The whole chain on one ayil aimak: HDX boundary + GEBCO + derived rivers, then a FileGDB cadastre,
    a KOI8-R CSV, a DXF plan, a GPX track and an OSM extract, each clipped to the boundary."""
    import tests.test_import_formats as TF

    res = init_from_boundary(tmp_path / "ws", files / "kgz_admbnda_adm3.shp", where=["ADM3_PCODE=KG04020001"],
                             source_date="2024-01-01")
    ws = res.workspace
    assert res.rivers["derived"] and ws.has_layer("water_bodies") and ws.dem_path is not None
    # the cadastre files of the other tests, drawn 1 km inside the south-west corner of the unit
    monkeypatch.setattr(TF, "X0", X0 + 1000)
    monkeypatch.setattr(TF, "Y0", Y0 + 1000)
    gdb = tmp_path / "cad.gdb"
    TF._write_gdb(gdb)
    rep = import_layer(ws, "parcels", gdb, field_map=["land_type=UGODIE"], source_date="2025-01-01", scale="1:2000")
    assert rep.features_imported == 3 and rep.area_ha_total == pytest.approx(3.5) and not rep.clipped["outside"]
    csv = tmp_path / "koi8.csv"
    csv.write_bytes(TF._csv_ru().encode("koi8_r"))
    rep = import_layer(ws, "parcels", csv, crs="EPSG:7695", source_date="2025-01-01", dry_run=True)
    assert rep.encoding == "koi8_r" and rep.features_imported == 12 and rep.area_ha_total == pytest.approx(12.0)
    dxf = tmp_path / "plan.dxf"
    TF._write_dxf(dxf)
    rep = import_layer(ws, "parcels", dxf, crs="EPSG:7695", field_map=["category=dxf_layer"], dry_run=True,
                       allow_unknown=True)
    assert rep.features_imported == 4 and rep.area_ha_total == pytest.approx(6.25)
    # the OSM extract lies outside this unit (south of it, by the lake): refused, nothing stored
    pbf = tmp_path / "x.osm.pbf"
    TF._write_osm_pbf(pbf)
    with pytest.raises(GisPlannerError) as exc:
        import_layer(ws, "roads", pbf, source_date="2025-01-01")
    assert exc.value.code == "outside_boundary" and not ws.has_layer("roads")
    lay = {x["name"]: x for x in ws.info()["layers"]}
    assert lay["parcels"]["features"] == 3 and lay["parcels"]["precision"]["accuracy_m"] == 1.0
    assert lay["water_bodies"]["source"].startswith("derived")
    assert main(["info", "-w", str(ws.root), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("parcels"))
    assert "±1 " in row                                       # 1:2000 → ±1 m
    assert "±463.8" in next(line for line in out.splitlines() if line.startswith("water_bodies"))


def test_failed_init_leaves_nothing_behind(files, tmp_path):
    # the unit is chosen, then the DEM fails (a file that is not a raster): the workspace is removed, and
    # a folder the user had made (with their own file in it) is kept as it was
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    bad = tmp_path / "dem.tif"
    bad.write_text("not a raster")
    with pytest.raises(GisPlannerError) as exc:
        init_from_boundary(tmp_path / "mine", files / "kgz_admbnda_adm3.shp", where=["ADM3_PCODE=KG04020001"],
                           dem=bad)
    assert exc.value.code == "bad_dem"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
