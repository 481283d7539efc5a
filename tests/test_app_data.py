"""The Data page (AppTest, real files written to tmp) and the library details it relies on.

Known answers: the uploaded polygons are 200 m squares (4 ha each); error messages must be the
catalogue's text in the user's language, name the user's file and never a server path or a CLI option.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from gis_planner import Workspace
from gis_planner.errors import GisPlannerError
from gis_planner.i18n import t
from gis_planner.io import import_layer, read_source
from gis_planner.ui.maps import layer_title

from .apptest import assert_ok, copy_demo, open_app, zip_bytes

SQUARE = 200.0  # m


pytestmark = pytest.mark.usefixtures("no_app_warm_up")   # (conftest.py)


@pytest.fixture()
def app_ws(tmp_path, demo_ws):
    """A private copy of the demo per test (the tests write into it)."""
    return copy_demo(demo_ws, tmp_path / "demo")


def _app(ws: Workspace, lang: str = "ky") -> AppTest:
    return open_app(ws, lang, "data")


def _squares(ws: Workspace) -> gpd.GeoDataFrame:
    """Two 200 m squares inside the demo municipality, in the workspace CRS (EPSG:7695)."""
    c = ws.read_layer("boundary").geometry.iloc[0].representative_point()
    x0, y0 = round(c.x), round(c.y)
    return gpd.GeoDataFrame({"name": ["Park A", "Park B"], "regime": ["core", "buffer"]},
                            geometry=[box(x0, y0, x0 + SQUARE, y0 + SQUARE),
                                      box(x0 + 300, y0, x0 + 300 + SQUARE, y0 + SQUARE)],
                            crs=ws.crs)


def _shapefile_zip_without_prj(ws: Workspace, tmp: Path) -> bytes:
    d = tmp / "shp"
    d.mkdir()
    _squares(ws).to_file(d / "parks.shp", driver="ESRI Shapefile")
    (d / "parks.prj").unlink()
    return zip_bytes({p.name: p.read_bytes() for p in sorted(d.iterdir())})


def _error_text(at) -> str:
    """The error messages as the user reads them (markdown escapes removed)."""
    return "\n".join(e.value for e in at.error).replace("\\", "")


def _ok(at) -> None:
    assert_ok(at, errors=False)   # (some steps show an error on purpose)


def _download_label(at) -> str | None:
    btns = [b for b in at.get("download_button") if b.proto.id.endswith("data_dl_gpkg") or "gpkg" in b.proto.label]
    return btns[0].proto.label if btns else None


# ------------------------------------------------------------------------------------------- app
def test_shapefile_without_prj_refused_in_kyrgyz_then_imported_with_chosen_crs(app_ws, tmp_path):
    at = _app(app_ws, "ky")
    at.file_uploader(key="data_upload").set_value(("parks_noprj.zip", _shapefile_zip_without_prj(app_ws, tmp_path),
                                                   "application/zip")).run()
    _ok(at)
    assert at.selectbox(key="data_target").value == "protected_areas"   # guessed from the fields name + regime
    assert any(w.value == t("app.data.no_crs", "ky") for w in at.warning)
    v0 = app_ws.version
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()
    at.button(key="data_import").click().run()
    _ok(at)
    text = _error_text(at)
    assert t("app.err.missing_crs", "ky") in text and t("app.fix.missing_crs", "ky") in text
    assert "parks_noprj.zip/parks.shp" in text
    assert "/tmp/" not in text and "--crs" not in text and "Fix:" not in text
    assert "EPSG:7695" in text                                            # the suggestion from the coordinates
    assert Workspace(app_ws.root).version == v0                           # nothing written
    assert at.selectbox(key="data_crs").value == "EPSG:7695"              # the refusal preselects the suggestion
    at.selectbox(key="data_crs").set_value("EPSG:7695").run()             # … which the user confirms
    assert not any(w.value == t("app.data.no_crs", "ky") for w in at.warning)   # chosen: no more warning
    at.button(key="data_import").click().run()
    _ok(at)
    assert not at.error
    pa = Workspace(app_ws.root).read_layer("protected_areas")
    assert sorted(pa["name"]) == ["Park A", "Park B"]
    assert abs(pa.geometry.area.sum() - 2 * SQUARE * SQUARE) < 0.01
    success = at.success[0].value
    assert layer_title("protected_areas", "ky") in success or "protected_areas" not in success
    assert '"protected_areas"' not in success and "«protected_areas»" not in success
    # the confirmation was for that one replace: shown unticked at once (with the report), Import disabled
    assert at.checkbox(key="data_confirm_replace_protected_areas").value is False
    assert at.button(key="data_import").disabled
    with pytest.raises(AppTestError):                  # a browser cannot click it either
        at.button(key="data_import").click()


def test_csv_with_wkt_column_chosen_in_picker_imports(app_ws, tmp_path):
    sq = _squares(app_ws)
    rows = ["name,regime,kontur"] + [f'{n},{r},"SRID=7695;{g.wkt}"' for n, r, g in
                                    zip(sq["name"], sq["regime"], sq.geometry)]
    at = _app(app_ws, "ru")
    at.file_uploader(key="data_upload").set_value(("parks.csv", "\n".join(rows).encode("utf-8"), "text/csv")).run()
    _ok(at)
    text = _error_text(at)
    assert t("app.err.no_geometry_column", "ru") in text and "--field-map" not in text and "kontur" in text
    assert _download_label(at) is not None                               # the error does not hide the download
    at.selectbox(key="data_geom_wkt").set_value("kontur").run()
    _ok(at)
    assert not at.error
    assert at.selectbox(key="data_target").value == "protected_areas"
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()
    at.button(key="data_import").click().run()
    _ok(at)
    pa = Workspace(app_ws.root).read_layer("protected_areas")
    assert sorted(pa["name"]) == ["Park A", "Park B"] and sorted(pa["regime"]) == ["buffer", "core"]
    assert abs(pa.geometry.area.sum() - 2 * SQUARE * SQUARE) < 0.01


def test_replacing_a_layer_needs_the_confirmation(app_ws, tmp_path):
    path = tmp_path / "parks.geojson"
    _squares(app_ws).to_crs(4326).to_file(path, driver="GeoJSON")
    n_before = len(app_ws.read_layer("protected_areas"))
    at = _app(app_ws, "en")
    at.file_uploader(key="data_upload").set_value(("parks.geojson", path.read_bytes(), "application/geo+json")).run()
    _ok(at)
    assert at.selectbox(key="data_target").value == "protected_areas"
    warn = [w.value for w in at.warning]
    assert t("app.data.replace_warning", "en", layer=layer_title("protected_areas", "en"), n=n_before) in warn \
        or any(f"all {n_before} features" in w for w in warn)
    assert at.button(key="data_import").disabled
    v0 = app_ws.version
    with pytest.raises(AppTestError):                                   # a browser cannot click it either
        at.button(key="data_import").click()
    at.button(key="data_check").click().run()                           # a check writes nothing
    _ok(at)
    assert at.info and t("io.summary_dry_run", "en", n=2, read=2, layer=layer_title("protected_areas", "en"),
                         area="8.00") == at.info[0].value.replace("\\", "")
    assert Workspace(app_ws.root).version == v0 and not at.success
    assert len(Workspace(app_ws.root).read_layer("protected_areas")) == n_before
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()
    assert not at.button(key="data_import").disabled
    at.button(key="data_import").click().run()
    _ok(at)
    assert Workspace(app_ws.root).version != v0
    assert len(Workspace(app_ws.root).read_layer("protected_areas")) == 2
    shown = "\n".join(m.value for m in at.markdown).replace("\\", "")
    assert "--date" not in shown and f"\n- {t('core.warning', 'en')}:" not in shown
    assert t("app.warn.no_source_date", "en") in shown
    assert "outside the municipality" not in shown                        # the squares lie inside it


def test_no_default_target_when_the_file_does_not_say(app_ws, tmp_path):
    path = tmp_path / "things.geojson"
    gpd.GeoDataFrame({"A": [1]}, geometry=[box(0, 0, 1, 1)], crs=app_ws.crs).to_crs(4326).to_file(path)
    at = _app(app_ws, "ky")
    at.file_uploader(key="data_upload").set_value(("things.geojson", path.read_bytes(), "application/geo+json")).run()
    _ok(at)
    assert at.selectbox(key="data_target").value == ""
    assert at.button(key="data_import").disabled and at.button(key="data_check").disabled


def test_errors_keep_the_download_and_hide_server_paths(app_ws):
    at = _app(app_ws, "ky")
    _ok(at)
    label = _download_label(at)
    assert label == t("app.data.download_file", "ky", name="demo.gpkg")   # the file is <folder>.gpkg
    at.file_uploader(key="data_upload").set_value(("broken.geojson", b"{not json", "application/geo+json")).run()
    _ok(at)
    text = _error_text(at)
    assert t("app.err.unreadable", "ky") in text and "broken.geojson" in text
    assert "/tmp/" not in text and "gp-upload" not in text
    assert _download_label(at) == label


def test_zip_without_geodata_says_so(app_ws):
    at = _app(app_ws, "ky")
    at.file_uploader(key="data_upload").set_value(("docs.zip", zip_bytes({"readme.txt": b"just some notes\nline 2\n"}),
                                                   "application/zip")).run()
    _ok(at)
    text = _error_text(at)
    assert t("app.err.zip_no_data", "ky") in text and "docs.zip" in text
    assert t("app.err.no_geometry_column", "ky") not in text
    assert _download_label(at) is not None


# --------------------------------------------------------------------------------------- library
def test_read_source_zip_with_only_a_text_file_is_no_data(tmp_path):
    p = tmp_path / "docs.zip"
    p.write_bytes(zip_bytes({"readme.txt": b"just some notes\n"}))
    with pytest.raises(GisPlannerError) as e:
        read_source(p)
    assert e.value.code == "zip_no_data" and e.value.file == "docs.zip"


def test_read_source_zip_with_a_csv_in_txt_still_reads(tmp_path):
    p = tmp_path / "pts.zip"
    p.write_bytes(zip_bytes({"pts.txt": b"id,lon,lat\n1,74.6,42.87\n2,74.61,42.88\n"}))
    raw = read_source(p)
    assert raw.driver == "CSV" and len(raw.gdf) == 2 and raw.geometry_columns == {"lon": "lon", "lat": "lat"}


def test_error_details_for_the_app(tmp_path, demo_ws):
    csv = tmp_path / "a.csv"
    csv.write_text("name;kontur\nA;POINT (1 2)\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as e:
        read_source(csv)
    assert e.value.code == "no_geometry_column" and e.value.details["columns"] == ["name", "kontur"]
    raw = read_source(csv, geometry_columns={"wkt": "kontur"})
    assert raw.geometry_columns == {"wkt": "kontur"} and list(raw.gdf.columns) == ["name", "geometry"]

    ws = Workspace.create(tmp_path / "ws", name="T", crs=7695)
    gdf = gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(4300000, 4720000, 4300100, 4720100)], crs=7695)
    d = tmp_path / "shp"
    d.mkdir()
    gdf.to_file(d / "p.shp")
    (d / "p.prj").unlink()
    with pytest.raises(GisPlannerError) as e:
        import_layer(ws, "protected_areas", d / "p.shp")
    assert e.value.code == "missing_crs" and e.value.details == {"suggested_crs": "EPSG:7695"}
    rep = import_layer(ws, "protected_areas", d / "p.shp", crs="EPSG:7695", dry_run=True)
    assert rep.features_imported == 1 and abs(rep.area_ha_total - 1.0) < 1e-6


def test_unreadable_file_message_names_the_file_not_its_path(tmp_path):
    p = tmp_path / "broken.geojson"
    p.write_bytes(b"{not json")
    with pytest.raises(GisPlannerError) as e:
        read_source(p)
    assert e.value.code == "unreadable" and str(tmp_path) not in str(e.value) and "broken.geojson" in str(e.value)


def test_clean_paths():
    import tempfile

    from gis_planner.ui.app import _clean_paths

    tmp = tempfile.gettempdir()
    staged = f"{tmp}/gp-upload-ab12/my_file.zip"
    msg = f"'{staged}' not recognized; also {tmp}/gp-import-x_9/dir/a.shp"
    assert _clean_paths(msg, {staged: "my file.zip"}) == "'my file.zip' not recognized; also dir/a.shp"


def test_geopackage_with_several_layers_asks_which_one(app_ws, tmp_path):
    path = tmp_path / "two.gpkg"
    sq = _squares(app_ws)
    sq.iloc[:1].to_file(path, layer="first", driver="GPKG")
    sq.to_file(path, layer="second", driver="GPKG")
    at = _app(app_ws, "ky")
    at.file_uploader(key="data_upload").set_value(("two.gpkg", path.read_bytes(), "application/geopackage+sqlite3")).run()
    _ok(at)
    text = _error_text(at)
    assert t("app.err.choose_layer", "ky") in text and "first, second" in text and "--src-layer" not in text
    at.selectbox(key="data_src_layer").set_value("second").run()
    _ok(at)
    assert not at.error and at.selectbox(key="data_target").value == "protected_areas"
    at.button(key="data_check").click().run()
    _ok(at)
    assert at.info[0].value.replace("\\", "").startswith(t("io.summary_dry_run", "ky", n=2, read=2,
                                                            layer=layer_title("protected_areas", "ky"),
                                                            area="8,00"))   # ky: decimal comma
